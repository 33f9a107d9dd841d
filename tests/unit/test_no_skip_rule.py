"""The CI rule of tests/conftest.py: with INNSIGHT_TESTS_NO_SKIP=1 a skipped test fails, unless
it is marked ``gpu`` (hardware) or ``llm_server`` (an opt-in model server) — a ``skipif``
elsewhere is a failure too, so a missing install step cannot hide behind it."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SAMPLE = """
import pytest

@pytest.mark.skipif(True, reason="a tool is missing")
def test_plain_skipif():
    pass

def test_runtime_skip():
    pytest.skip("a service is missing")

@pytest.mark.gpu
@pytest.mark.skipif(True, reason="no GPU")
def test_gpu_may_skip():
    pass

@pytest.mark.llm_server
def test_opt_in_server_may_skip():
    pytest.skip("no model server configured")
"""


def _run(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401")
    pytester.makeini("[pytest]\nmarkers =\n    gpu: hardware\n    llm_server: opt-in server\n")
    pytester.makepyfile(SAMPLE)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers")


def test_in_ci_only_gpu_and_llm_server_tests_may_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INNSIGHT_TESTS_NO_SKIP", "1")
    result = _run(pytester)
    # a skipif fires in setup (reported as an error), pytest.skip in the call (a failure)
    result.assert_outcomes(failed=1, errors=1, skipped=2)
    result.stdout.fnmatch_lines(["*test_plain_skipif*", "*test_runtime_skip*"])


def test_outside_ci_skips_stay_skips(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INNSIGHT_TESTS_NO_SKIP", raising=False)
    _run(pytester).assert_outcomes(skipped=4)
