"""CompreFace-compatible Face Collection (docs/compreface.md): ``/api/v1/recognition/faces``
and ``/api/v1/recognition/subjects``, with a recognition-service ``x-api-key``. Mounted only
with ``compat_compreface``; the logic is hub/compat/compreface/collection.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hub.api.deps import Runtime
from hub.api.routes.compreface_common import (
    CompreFaceRoute,
    analyzer_of,
    authorize,
    collection,
    query_of,
    upload_bytes,
)
from hub.auth.api_keys import KeyService
from hub.auth.scopes import Scope
from hub.compat.compreface import errors, params
from hub.compat.compreface.collection import check_subject, face_id_of

router = APIRouter(prefix="/api/v1/recognition", tags=["compreface"], route_class=CompreFaceRoute)
RECOGNITION = KeyService.RECOGNITION


async def _subject_body(request: Request) -> str:
    try:
        body = await request.json()
    except ValueError:
        raise errors.invalid('the body must be JSON: {"subject": "<subject>"}') from None
    subject = body.get("subject") if isinstance(body, dict) else None
    if not isinstance(subject, str):
        raise errors.invalid('subject: give {"subject": "<employee id>"}')
    return check_subject(subject)


# -- examples ------------------------------------------------------------------------------


@router.post("/faces", status_code=201)
async def add_face(request: Request, runtime: Runtime) -> JSONResponse:
    """Enrol one photo for ``subject`` (an employee with a recorded consent)."""
    principal = await authorize(request, runtime, RECOGNITION, Scope.CV_WRITE)
    query = query_of(request)
    subject = check_subject(query.get("subject"))
    params.det_prob_threshold(query)  # checked; the hub's quality gate decides
    (image,) = await upload_bytes(request, ("file",), runtime.settings.max_upload_bytes)
    analyzer = await analyzer_of(runtime)
    example = await collection(runtime).add_example(analyzer, subject, image, actor=principal.actor)
    return JSONResponse({"image_id": example.image_id, "subject": example.subject}, 201)


@router.get("/faces")
async def list_faces(request: Request, runtime: Runtime) -> dict[str, Any]:
    await authorize(request, runtime, RECOGNITION, Scope.CV_READ)
    query = query_of(request)
    page, size = params.page(query)
    subject = query.get("subject") or None
    found = await collection(runtime).examples(subject, page, size)
    return {
        "faces": [{"image_id": f.image_id, "subject": f.subject} for f in found.faces],
        "page_number": found.page_number,
        "page_size": found.page_size,
        "total_pages": found.total_pages,
        "total_elements": found.total_elements,
    }


@router.delete("/faces")
async def delete_faces(request: Request, runtime: Runtime) -> dict[str, int]:
    """Every example of ``subject``; without ``subject``, of every subject (CompreFace)."""
    principal = await authorize(request, runtime, RECOGNITION, Scope.CV_WRITE)
    subject = query_of(request).get("subject")
    faces = collection(runtime)
    if subject is None:
        _, deleted = await faces.delete_all(actor=principal.actor)
        return {"deleted": deleted}
    return {
        "deleted": await faces.delete_subject_examples(
            check_subject(subject), actor=principal.actor
        )
    }


@router.post("/faces/delete")
async def delete_faces_by_id(request: Request, runtime: Runtime) -> list[dict[str, str]]:
    """The examples of the listed image ids; unknown ids are ignored (CompreFace)."""
    principal = await authorize(request, runtime, RECOGNITION, Scope.CV_WRITE)
    try:
        body = await request.json()
    except ValueError:
        raise errors.invalid("the body must be a JSON list of image ids") from None
    if not isinstance(body, list) or not all(isinstance(i, str) for i in body):
        raise errors.invalid("the body must be a JSON list of image ids")
    if len(body) > params.MAX_PAGE_SIZE:
        raise errors.invalid(f"at most {params.MAX_PAGE_SIZE} image ids per request")
    ids = [face_id_of(text) for text in body]
    deleted = await collection(runtime).delete_examples(ids, actor=principal.actor)
    return [{"image_id": e.image_id, "subject": e.subject} for e in deleted]


@router.delete("/faces/{image_id}")
async def delete_face(image_id: str, request: Request, runtime: Runtime) -> dict[str, str]:
    principal = await authorize(request, runtime, RECOGNITION, Scope.CV_WRITE)
    deleted = await collection(runtime).delete_examples(
        [face_id_of(image_id)], actor=principal.actor
    )
    if not deleted:
        raise errors.image_not_found(image_id)
    return {"image_id": deleted[0].image_id, "subject": deleted[0].subject}


@router.get("/faces/{image_id}/img", response_class=Response)
async def face_image(image_id: str, request: Request, runtime: Runtime) -> Response:
    """The stored face crop (JPEG); empty bytes when there is none (CompreFace)."""
    await authorize(request, runtime, RECOGNITION, Scope.CV_READ)
    data = await collection(runtime).image(face_id_of(image_id))
    return Response(
        content=data,
        media_type="image/jpeg" if data else "application/octet-stream",
        headers={"Cache-Control": "no-store"},
    )


# -- subjects ------------------------------------------------------------------------------


@router.get("/subjects")
@router.get("/subjects/", include_in_schema=False)
async def list_subjects(request: Request, runtime: Runtime) -> dict[str, list[str]]:
    await authorize(request, runtime, RECOGNITION, Scope.CV_READ)
    return {"subjects": await collection(runtime).subjects()}


@router.post("/subjects", status_code=201)
async def add_subject(request: Request, runtime: Runtime) -> JSONResponse:
    await authorize(request, runtime, RECOGNITION, Scope.CV_WRITE)
    subject = await collection(runtime).add_subject(await _subject_body(request))
    return JSONResponse({"subject": subject}, 201)


@router.put("/subjects/{subject}")
async def rename_subject(subject: str, request: Request, runtime: Runtime) -> dict[str, bool]:
    principal = await authorize(request, runtime, RECOGNITION, Scope.CV_WRITE)
    new = await _subject_body(request)
    updated = await collection(runtime).rename_subject(
        check_subject(subject), new, actor=principal.actor
    )
    return {"updated": updated}


@router.delete("/subjects/{subject}")
async def delete_subject(subject: str, request: Request, runtime: Runtime) -> dict[str, str]:
    principal = await authorize(request, runtime, RECOGNITION, Scope.CV_WRITE)
    deleted = await collection(runtime).delete_subject(
        check_subject(subject), actor=principal.actor
    )
    return {"subject": deleted}


@router.delete("/subjects")
async def delete_all_subjects(request: Request, runtime: Runtime) -> dict[str, int]:
    principal = await authorize(request, runtime, RECOGNITION, Scope.CV_WRITE)
    subjects, _ = await collection(runtime).delete_all(actor=principal.actor)
    return {"deleted": subjects}
