"""CompreFace's error bodies: ``{"message": ..., "code": ...}`` with its HTTP statuses.

The codes and messages are CompreFace's (``CommonExceptionCode`` and the exception messages of
its Java API); where the hub refuses something CompreFace would not (consent, an unsupported
plugin), the closest CompreFace code is used and the message says why.
"""

from __future__ import annotations

from typing import Any


class CompreFaceError(Exception):
    """An error answered in CompreFace's shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code}


# CompreFace's codes (CommonExceptionCode / CrudExceptionCode)
UNDEFINED = 0
ACCESS_DENIED = 1
MODEL_NOT_FOUND = 10
IMAGE_NOT_FOUND = 11
MISSING_REQUEST_HEADER = 20
VALIDATION_CONSTRAINT_VIOLATION = 26
NO_FACES_FOUND = 28
TOO_MANY_FACES = 31
MISSING_REQUEST_PARAMETER = 33
MISSING_REQUEST_PART = 34
INCORRECT_ARGUMENT = 36
FACES_SERVICE_EXCEPTION = 41
SUBJECT_NOT_FOUND = 42
SUBJECT_ALREADY_EXISTS = 43
EMBEDDING_NOT_FOUND = 44

SERVICE_TITLES = {
    "recognition": "Recognition",
    "detection": "Detection",
    "verification": "Verification",
}


def missing_header(name: str) -> CompreFaceError:
    return CompreFaceError(400, MISSING_REQUEST_HEADER, f"Missing header: {name}")


def service_not_found(service: str, key: str) -> CompreFaceError:
    """An unknown, revoked or other-service key (CompreFace's ModelNotFoundException)."""
    shown = key[:11] + "..." if len(key) > 11 else key  # the key's public prefix, never all of it
    return CompreFaceError(
        404, MODEL_NOT_FOUND, f"{SERVICE_TITLES[service]} service with API Key {shown} not found"
    )


def bad_key_format() -> CompreFaceError:
    return CompreFaceError(
        400, VALIDATION_CONSTRAINT_VIOLATION, "Service API key should be an innsight key (ik_...)"
    )


def no_face() -> CompreFaceError:
    return CompreFaceError(400, NO_FACES_FOUND, "No face is found in the given image")


def too_many_faces() -> CompreFaceError:
    return CompreFaceError(400, TOO_MANY_FACES, "More than one face in the source image")


def invalid(message: str) -> CompreFaceError:
    return CompreFaceError(400, VALIDATION_CONSTRAINT_VIOLATION, message)


def missing_parameter(name: str) -> CompreFaceError:
    return CompreFaceError(400, MISSING_REQUEST_PARAMETER, f"Required parameter {name} is missing")


def missing_part(name: str) -> CompreFaceError:
    return CompreFaceError(400, MISSING_REQUEST_PART, f"Required part {name} is missing")


def subject_not_found(subject: str) -> CompreFaceError:
    return CompreFaceError(404, SUBJECT_NOT_FOUND, f"Subject {subject} not found")


def subject_exists() -> CompreFaceError:
    return CompreFaceError(400, SUBJECT_ALREADY_EXISTS, "Subject already exists")


def image_not_found(image_id: str) -> CompreFaceError:
    return CompreFaceError(404, EMBEDDING_NOT_FOUND, f"Image {image_id} not found")


def consent_missing(reason: str) -> CompreFaceError:
    """No recorded face consent: enrolment refused (the hub's rule, not CompreFace's)."""
    return CompreFaceError(403, ACCESS_DENIED, reason)


def scope_missing(scope: str) -> CompreFaceError:
    return CompreFaceError(403, ACCESS_DENIED, f"this API key lacks the {scope!r} scope")


def unavailable(reason: str) -> CompreFaceError:
    return CompreFaceError(503, FACES_SERVICE_EXCEPTION, reason)


def too_many_requests(wait_s: float) -> CompreFaceError:
    return CompreFaceError(429, UNDEFINED, f"too many requests: retry in {wait_s:.0f} s")
