"""Resumable, verified HTTP download into NAME.tmp, renamed into place only once verified.

A local path or file:// URL (a catalog on disk naming its tarballs relative to itself) is copied
the same way, hashed as it is read, and fails at once when missing: there is nothing to retry.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
from typing import Callable

from .._ffi import lib as _lib
from .._hashing import open_regular
from ..errors import EdgeVedaError

_HINT = "run the pull again (an interrupted download resumes); check the catalog URL and the network"


class DownloadError(EdgeVedaError):
    """A download failed for good (after retries, or on a status that retrying cannot fix)."""

    code = _lib.EV_ERR_MODEL_NOT_FOUND

    def __init__(self, message: str, hint: str = _HINT, code: int | None = None):
        super().__init__(message, hint, code)


class ChecksumError(DownloadError):
    code = _lib.EV_ERR_MODEL_INVALID

    def __init__(self, url: str, expected: str, actual: str):
        self.expected, self.actual = expected, actual
        super().__init__(f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; "
                         "the partial file was removed",
                         "pull again; if it fails again, the file on the server is not the one the "
                         "catalog describes (re-pack it with `edge-veda models pack`)")


class DiskSpaceError(DownloadError):
    def __init__(self, message: str, hint: str = "free space, or set EDGE_VEDA_HOME to a larger disk"):
        super().__init__(message, hint)


@dataclasses.dataclass(frozen=True)
class Progress:
    name: str
    bytes_done: int
    total: int | None       # None when the server sends no length
    rate: float             # bytes/second over this transfer
    done: bool = False


@dataclasses.dataclass
class RetryPolicy:
    attempts: int = 6
    backoff: float = 0.5    # seconds, doubled per retry
    max_backoff: float = 8.0




def _hash_existing(path: str) -> tuple["hashlib._Hash", int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    return h, n


def check_free_space(directory: str, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise DiskSpaceError(f"not enough free disk space in {directory}: need {needed:,} bytes, "
                             f"{free:,} free; free space or set EDGE_VEDA_HOME to a larger disk")


def is_local(url: str) -> bool:
    from .catalog import _split

    scheme = _split(url).scheme.lower()
    return scheme == "file" or scheme not in ("http", "https")


def _copy_local(url, dest, sha256, size, name, progress) -> str:
    """Copies the local file `url` (a path or file:// URL) to `dest` through DEST.tmp, verified."""
    from .catalog import local_path

    path = local_path(url)
    tmp = dest + ".tmp"
    started = time.monotonic()
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        raise DownloadError(f"{path} does not exist (named by the catalog)",
                            "the catalog's directory lacks the tarball: re-pack it with "
                            "`edge-veda models pack ARTIFACT -o DIR`") from None
    except (OSError, ValueError) as e:
        raise DownloadError(f"cannot read {path}: {e}", "the catalog must name a regular file") from None

    def too_large(actual: str) -> DownloadError:
        return DownloadError(f"{path} is larger than the {size:,} bytes the catalog lists ({actual}); "
                             "it cannot be the file the catalog describes",
                             "the catalog and its tarball disagree: re-pack with `edge-veda models pack`, "
                             "or use a catalog that matches its files")

    h, done = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as src:
        actual = os.fstat(src.fileno()).st_size
        if size is not None and actual > size:
            raise too_large(f"{actual:,} bytes")
        with open(tmp, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                done += len(chunk)
                if size is not None and done > size:  # it grew while we read it
                    out.close()
                    os.unlink(tmp)
                    raise too_large("it grew while it was read")
                out.write(chunk)
                h.update(chunk)
                if progress:
                    progress(Progress(name, done, size, done / max(time.monotonic() - started, 1e-9)))
            out.flush()
            os.fsync(out.fileno())
    _verify_or_discard(tmp, url, sha256, h.hexdigest())
    os.replace(tmp, dest)
    if progress:
        progress(Progress(name, done, size, done / max(time.monotonic() - started, 1e-9), done=True))
    return dest


def download(url: str, dest: str, *, sha256: str, size: int | None = None, name: str = "",
             progress: Callable[[Progress], None] | None = None,
             retry: RetryPolicy | None = None, client: httpx.Client | None = None) -> str:
    """Downloads `url` to `dest`, verified against `sha256`, resuming DEST.tmp if present.

    Nothing appears under `dest` unless its hash matched. Connection errors and 5xx answers are
    retried with backoff (resuming with Range); 4xx answers are not.
    """
    retry = retry or RetryPolicy()
    tmp = dest + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    have = os.path.getsize(tmp) if os.path.exists(tmp) else 0
    if size is not None:
        check_free_space(os.path.dirname(os.path.abspath(dest)), max(0, size - have))
    if is_local(url):
        return _copy_local(url, dest, sha256, size, name, progress)
    import httpx  # here, not at import: loading a model by name must not pay for it

    own_client = client is None
    client = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True)
    started = time.monotonic()
    last_error: Exception | None = None
    try:
        for attempt in range(retry.attempts):
            if attempt:
                time.sleep(min(retry.max_backoff, retry.backoff * 2 ** (attempt - 1)))
            try:
                _attempt(client, url, tmp, sha256, size, name, progress, started)
            except (httpx.TransportError, _RetryableStatus) as e:
                last_error = e
                continue
            except (httpx.HTTPError, httpx.InvalidURL) as e:  # redirect loops, bad URLs: retrying cannot help
                raise DownloadError(f"download of {url} failed: {str(e) or type(e).__name__}") from None
            except OSError as e:  # writing the .tmp: disk full, permissions
                raise DownloadError(f"download of {url} failed writing {tmp}: {e}",
                                    "free disk space or fix the cache's permissions (EDGE_VEDA_HOME)") from None
            os.replace(tmp, dest)
            _fsync_dir(os.path.dirname(os.path.abspath(dest)))
            return dest
        raise DownloadError(f"download of {url} failed after {retry.attempts} attempts: {last_error}")
    finally:
        if own_client:
            client.close()


class _RetryableStatus(Exception):
    pass


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _verify_or_discard(tmp: str, url: str, expected: str, digest: str) -> None:
    if digest != expected:
        os.unlink(tmp)
        raise ChecksumError(url, expected, digest)


def _attempt(client, url, tmp, sha256, size, name, progress, started) -> None:
    have = os.path.getsize(tmp) if os.path.exists(tmp) else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as r:
        if r.status_code == 416 and have:
            # The server says nothing lies past what we have: the .tmp may be complete.
            h, n = _hash_existing(tmp)
            _verify_or_discard(tmp, url, sha256, h.hexdigest())
            if progress:
                progress(Progress(name, n, n, 0.0, done=True))
            return
        if r.status_code >= 500:
            raise _RetryableStatus(f"HTTP {r.status_code} from {url}")
        if r.status_code >= 400:
            raise DownloadError(f"HTTP {r.status_code} from {url} (not retried: the request itself "
                                f"was refused; check the catalog URL)")
        if r.status_code == 206 and have:
            h, done = _hash_existing(tmp)
            mode = "ab"
        else:  # 200: the server ignored Range (or we had nothing): start over
            h, done, mode = hashlib.sha256(), 0, "wb"
        length = r.headers.get("content-length")
        total = done + int(length) if length is not None else None
        transferred = 0
        with open(tmp, mode) as f:
            for chunk in r.iter_bytes():  # as received: a dropped connection loses nothing read
                if size is not None and done + len(chunk) > size:
                    # More bytes than the catalog promised (an endless body would fill the disk).
                    f.close()
                    os.unlink(tmp)
                    raise DownloadError(f"{url} sent more than the {size:,} bytes the catalog lists; "
                                        "the partial file was removed",
                                        "the server's file is not the one the catalog describes")
                f.write(chunk)
                h.update(chunk)
                done += len(chunk)
                transferred += len(chunk)
                if progress:
                    elapsed = max(time.monotonic() - started, 1e-9)
                    progress(Progress(name, done, total, transferred / elapsed))
            f.flush()
            os.fsync(f.fileno())
    _verify_or_discard(tmp, url, sha256, h.hexdigest())
    if progress:
        progress(Progress(name, done, total, transferred / max(time.monotonic() - started, 1e-9), done=True))
