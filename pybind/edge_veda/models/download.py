"""Resumable, verified HTTP download into NAME.tmp, renamed into place only once verified."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
from typing import Callable


class DownloadError(Exception):
    """A download failed for good (after retries, or on a status that retrying cannot fix)."""


class ChecksumError(DownloadError):
    def __init__(self, url: str, expected: str, actual: str):
        self.expected, self.actual = expected, actual
        super().__init__(f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; "
                         "the partial file was removed, pull again")


class DiskSpaceError(DownloadError):
    pass


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


def download(url: str, dest: str, *, sha256: str, size: int | None = None, name: str = "",
             progress: Callable[[Progress], None] | None = None,
             retry: RetryPolicy | None = None, client: httpx.Client | None = None) -> str:
    """Downloads `url` to `dest`, verified against `sha256`, resuming DEST.tmp if present.

    Nothing appears under `dest` unless its hash matched. Connection errors and 5xx answers are
    retried with backoff (resuming with Range); 4xx answers are not.
    """
    import httpx  # here, not at import: loading a model by name must not pay for it

    retry = retry or RetryPolicy()
    tmp = dest + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    have = os.path.getsize(tmp) if os.path.exists(tmp) else 0
    if size is not None:
        check_free_space(os.path.dirname(os.path.abspath(dest)), max(0, size - have))
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
