"""CompreFace-compatible API: the pure parts (hub/compat/compreface): query parameters, the
detector's probability, the five landmarks and image ids."""

from __future__ import annotations

import numpy as np
import pytest

from hub.compat.compreface import errors, params
from hub.compat.compreface.collection import check_subject, face_id_of, image_id
from hub.compat.compreface.errors import CompreFaceError
from hub.compat.compreface.inference import detection_probability, five_landmarks


def test_face_query_defaults_and_values() -> None:
    assert params.face_query({}) == params.FaceQuery()
    query = params.face_query(
        {
            "limit": "2",
            "det_prob_threshold": "0.8",
            "prediction_count": "3",
            "face_plugins": "landmarks, calculator",
            "status": "true",
        }
    )
    assert query == params.FaceQuery(2, 0.8, 3, frozenset({"landmarks", "calculator"}), True)
    for unset in ("", "undefined", "null"):  # Double Take sends "undefined" when unset
        assert params.plugins({"face_plugins": unset}) == frozenset()
    assert params.page({"page": "3", "size": "5"}) == (3, 5)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"face_plugins": "age"}, ["'age'", "CompreFace plugin", "landmarks, calculator"]),
        ({"face_plugins": "landmarks,nope"}, ["'nope'"]),
        ({"det_prob_threshold": "1.5"}, ["det_prob_threshold", "between"]),
        ({"det_prob_threshold": "x"}, ["det_prob_threshold"]),
        ({"limit": "-1"}, ["limit"]),
        ({"prediction_count": "0"}, ["prediction_count"]),
        ({"status": "maybe"}, ["status"]),
    ],
)
def test_bad_parameters_are_named(query: dict[str, str], words: list[str]) -> None:
    with pytest.raises(CompreFaceError) as raised:
        params.face_query(query)
    assert (raised.value.status, raised.value.code) == (400, errors.VALIDATION_CONSTRAINT_VIOLATION)
    for word in words:
        assert word in raised.value.message


def test_probability_landmarks_and_ids() -> None:
    assert detection_probability("dlib-resnet-v1", 0.0) == pytest.approx(0.5)
    assert detection_probability("dlib-resnet-v1", 1.0) == pytest.approx(0.9526, abs=1e-3)
    assert detection_probability("scrfd-10g", 0.7) == pytest.approx(0.7)
    points = np.zeros((68, 2), dtype=np.float32)
    points[36:42] = (10, 20)
    points[42:48] = (30, 20)
    points[30], points[48], points[54] = (20, 30), (12, 40), (28, 40)
    assert five_landmarks(points) == [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]]
    assert five_landmarks(None) is None
    assert face_id_of(image_id(42)) == 42
    assert image_id(42) == "00000000-0000-0000-0000-00000000002a"
    with pytest.raises(CompreFaceError, match="UUID"):
        face_id_of("nope")
    with pytest.raises(CompreFaceError) as missing:
        check_subject(None)
    assert missing.value.code == errors.MISSING_REQUEST_PARAMETER
    with pytest.raises(CompreFaceError, match="employee id"):
        check_subject("../etc")
    assert errors.service_not_found("detection", "ik_" + "a" * 43).message == (
        "Detection service with API Key ik_aaaaaaaa... not found"
    )
