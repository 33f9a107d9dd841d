"""CompreFace-compatible recognition, detection and verification (docs/compreface.md):
``POST /api/v1/recognition/recognize``, ``/api/v1/detection/detect`` and
``/api/v1/verification/verify``, each with a key of its own service. Mounted only with
``compat_compreface``; the logic is hub/compat/compreface/inference.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from hub.api.deps import Cv, HubRuntime, Runtime
from hub.api.routes.compreface_common import (
    CompreFaceRoute,
    analyzer_of,
    authorize,
    inference,
    query_of,
    rate_limit,
    upload_images,
)
from hub.auth.api_keys import KeyService
from hub.auth.scopes import Scope
from hub.compat.compreface import params
from models.faces import FaceAnalyzer, Image

router = APIRouter(prefix="/api/v1", tags=["compreface"], route_class=CompreFaceRoute)


async def _inputs(
    request: Request, runtime: HubRuntime, service: KeyService, fields: tuple[str, ...]
) -> tuple[FaceAnalyzer, list[Image], params.FaceQuery]:
    """The key of ``service`` checked and counted, the parameters, the images, the analyzer."""
    principal = await authorize(request, runtime, service, Scope.CV_READ)
    query = params.face_query(query_of(request))
    rate_limit(request, principal)
    images = await upload_images(request, runtime, fields)
    return await analyzer_of(runtime), images, query


@router.post("/recognition/recognize")
async def recognize(request: Request, runtime: Runtime, cv: Cv) -> dict[str, Any]:
    """Every face of the photo, biggest first, with the enrolled employees it matches."""
    analyzer, (image,), query = await _inputs(request, runtime, KeyService.RECOGNITION, ("file",))
    return await inference(runtime, cv).recognize(analyzer, image, query)


@router.post("/detection/detect")
async def detect(request: Request, runtime: Runtime, cv: Cv) -> dict[str, Any]:
    analyzer, (image,), query = await _inputs(request, runtime, KeyService.DETECTION, ("file",))
    return await inference(runtime, cv).detect(analyzer, image, query)


@router.post("/verification/verify")
async def verify(request: Request, runtime: Runtime, cv: Cv) -> dict[str, Any]:
    """The face of ``source_image`` against every face of ``target_image``."""
    analyzer, (source, target), query = await _inputs(
        request, runtime, KeyService.VERIFICATION, ("source_image", "target_image")
    )
    return await inference(runtime, cv).verify(analyzer, source, target, query)
