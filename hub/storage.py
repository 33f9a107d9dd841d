"""Object storage for snapshots, gallery artefacts and indexed images: a Protocol and two
adapters, a local folder (the embedded default) and any S3 endpoint through the ``minio`` client
(MinIO in production; ``rclone serve s3`` in the tests).

The calls are synchronous (as the ``minio`` client is); async callers run them in a thread
(``asyncio.to_thread``).
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from hub.settings import HubSettings

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 512
# Segments start with a letter or digit, so '.', '..' and hidden names are impossible.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_KEY_RE = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})*$")


class StorageError(RuntimeError):
    """The object store failed (I/O, permissions, backend unreachable)."""


class InvalidObjectKeyError(StorageError, ValueError):
    """A key that could escape the store or is not portable."""


class ObjectNotFoundError(StorageError, LookupError):
    """No object under that key."""


def validate_key(key: str) -> str:
    """Return ``key`` when it is a safe relative key (``a/b.jpg``), else raise."""
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY_RE.match(key):
        raise InvalidObjectKeyError(
            f"invalid object key {key[:80]!r}: use relative segments of letters, digits, "
            "'.', '_' or '-' separated by '/', each starting with a letter or digit"
        )
    return key


class ObjectStore(Protocol):
    """Where bytes live: snapshots, gallery artefacts, uploaded images."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def url_for(self, key: str) -> str: ...

    def delete(self, key: str) -> None:
        """Removes the object; a missing object is not an error (deletion is idempotent)."""
        ...


class LocalFolderStore:
    """Objects as files under ``root``; writes are atomic (temp file, fsync, rename).

    ``base_url``, when given, makes :meth:`url_for` return ``{base_url}/{key}``; otherwise it
    returns a ``file://`` URI.
    """

    def __init__(self, root: Path, *, base_url: str | None = None) -> None:
        self._root = Path(root).resolve()
        self._base_url = base_url.rstrip("/") if base_url else None

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        path = (self._root / validate_key(key)).resolve()
        if not path.is_relative_to(self._root):  # defence in depth (symlinks)
            raise InvalidObjectKeyError(f"object key {key!r} escapes the store")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            _fsync_dir(path.parent)
        except OSError as err:
            raise StorageError(f"could not write object {key!r}: {err.strerror}") from err
        logger.debug("stored %s (%d bytes, %s)", key, len(data), content_type)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as err:
            raise ObjectNotFoundError(f"no object {key!r}") from err
        except IsADirectoryError as err:
            raise ObjectNotFoundError(f"no object {key!r}") from err
        except OSError as err:
            raise StorageError(f"could not read object {key!r}: {err.strerror}") from err

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            raise StorageError(f"could not delete object {key!r}: {err.strerror}") from err
        if path.parent.is_dir():
            _fsync_dir(path.parent)

    def url_for(self, key: str) -> str:
        path = self._path(key)
        if self._base_url is not None:
            return f"{self._base_url}/{key}"
        return path.as_uri()


# S3 error codes that mean "no such object" (HEAD answers carry no body: minio names them too)
_S3_MISSING = frozenset(
    {"NoSuchKey", "NoSuchObject", "NoSuchBucket", "NotFound", "ResourceNotFound"}
)
DEFAULT_URL_EXPIRY = timedelta(hours=1)


class S3ObjectStore:
    """Objects in one bucket of an S3 endpoint, through a ``minio.Minio`` client.

    The bucket is created on the first write when it does not exist. :meth:`url_for` returns a
    presigned GET URL valid for ``url_expiry`` (signing is local: no request is made). Every
    backend failure is raised as :class:`StorageError` (or :class:`ObjectNotFoundError`), with
    the cause chained; credentials never appear in messages or logs.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        url_expiry: timedelta = DEFAULT_URL_EXPIRY,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._url_expiry = url_expiry
        self._bucket_ready = False
        self._lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (idempotent; called before the first write)."""
        if self._bucket_ready:
            return
        with self._lock:
            if self._bucket_ready:
                return
            try:
                if not self._client.bucket_exists(self._bucket):
                    self._client.make_bucket(self._bucket)
                    logger.info("created bucket %s", self._bucket)
            except Exception as err:
                if _s3_code(err) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise _storage_error(f"could not create bucket {self._bucket!r}", err) from err
            self._bucket_ready = True

    def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        self.ensure_bucket()
        try:
            self._client.put_object(
                self._bucket, key, io.BytesIO(data), len(data), content_type=content_type
            )
        except Exception as err:
            raise _storage_error(f"could not write object {key!r}", err) from err
        logger.debug("stored s3 %s (%d bytes, %s)", key, len(data), content_type)

    def get(self, key: str) -> bytes:
        validate_key(key)
        try:
            response = self._client.get_object(self._bucket, key)
        except Exception as err:
            if _s3_code(err) in _S3_MISSING:
                raise ObjectNotFoundError(f"no object {key!r}") from err
            raise _storage_error(f"could not read object {key!r}", err) from err
        try:
            data: bytes = response.read()
        except Exception as err:
            raise _storage_error(f"could not read object {key!r}", err) from err
        finally:
            response.close()
            response.release_conn()
        return data

    def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            self._client.stat_object(self._bucket, key)
        except Exception as err:
            if _s3_code(err) in _S3_MISSING:
                return False
            raise _storage_error(f"could not look up object {key!r}", err) from err
        return True

    def delete(self, key: str) -> None:
        validate_key(key)
        try:
            self._client.remove_object(self._bucket, key)
        except Exception as err:
            if _s3_code(err) in _S3_MISSING:
                return
            raise _storage_error(f"could not delete object {key!r}", err) from err

    def url_for(self, key: str) -> str:
        validate_key(key)
        try:
            url: str = self._client.presigned_get_object(
                self._bucket, key, expires=self._url_expiry
            )
        except Exception as err:
            raise _storage_error(f"could not sign a URL for {key!r}", err) from err
        return url


_XML_CODE = re.compile(r"<Code>\s*([A-Za-z]+)\s*</Code>")


def _s3_code(err: BaseException) -> str | None:
    """The S3 error code of a ``minio`` error. Servers that send their XML error bodies as
    ``text/xml`` (rclone does) reach us as ``InvalidResponseError``: the code is read from the
    body then."""
    code = getattr(err, "code", None)
    if isinstance(code, str):
        return code
    body = getattr(err, "_body", None)
    if isinstance(body, str):
        found = _XML_CODE.search(body)
        if found:
            return found.group(1)
    return None


def _storage_error(what: str, err: BaseException) -> StorageError:
    code = _s3_code(err)
    reason = code or type(err).__name__
    return StorageError(f"{what}: {reason}")


def parse_s3_endpoint(endpoint: str, *, secure: bool) -> tuple[str, bool]:
    """``host:port`` or ``http(s)://host:port`` -> (``host:port``, secure); a scheme wins."""
    text = endpoint.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(
                f"S3 endpoint {endpoint!r} must be host[:port] or http(s)://host[:port]"
            )
        return parts.netloc, parts.scheme == "https"
    if not text or "/" in text:
        raise ValueError(f"S3 endpoint {endpoint!r} must be host[:port] or http(s)://host[:port]")
    return text, secure


def object_store_for(settings: HubSettings) -> ObjectStore:
    """S3 (MinIO) when ``s3_endpoint`` is set, else the local objects folder. Nothing is sent
    here: the hub starts while the endpoint is down, and /health says so."""
    if settings.s3_endpoint:
        secret = settings.s3_secret_key
        return create_s3_store(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=secret.get_secret_value() if secret is not None else None,
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            secure=settings.s3_secure,
            url_expiry=timedelta(seconds=settings.s3_url_expiry_s),
        )
    return LocalFolderStore(settings.objects_dir)


def create_s3_store(
    endpoint: str,
    *,
    access_key: str | None,
    secret_key: str | None,
    bucket: str,
    region: str = "us-east-1",
    secure: bool = False,
    url_expiry: timedelta = DEFAULT_URL_EXPIRY,
    connect_timeout_s: float = 3.0,
    read_timeout_s: float = 30.0,
) -> S3ObjectStore:
    """An :class:`S3ObjectStore` with a ``minio`` client that fails fast: short connect timeout,
    two retries (the default client retries for a long time when the server is down)."""
    import urllib3
    from minio import Minio

    netloc, use_tls = parse_s3_endpoint(endpoint, secure=secure)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        maxsize=10,
    )
    client = Minio(
        netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=use_tls,
        region=region,
        http_client=http,
    )
    return S3ObjectStore(client, bucket, url_expiry=url_expiry)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems refuse opening directories; the rename stands
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
