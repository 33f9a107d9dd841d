"""/api/v1/cv: hazard detection on an uploaded image (issue 5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])
