"""/api/v1/cv: OCR of invoices and identity documents (issue 5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])
