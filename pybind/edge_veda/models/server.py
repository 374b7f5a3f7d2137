"""`edge-veda models serve`: an HTTP server with byte-range support, so devices on the LAN can
pull (and resume) artifacts from a directory written by `edge-veda models pack`. It serves
catalog.json and the files that catalog lists, nothing else of the directory."""
from __future__ import annotations

import hashlib
import http.server
import os
import re
import urllib.parse

from .._hashing import open_regular
from ..errors import InvalidArgumentError
from . import catalog


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the catalog snapshot and the files it lists, nothing else: no directory listings,
    no other file of the directory, no symlink leading out of it (404). Single `Range:
    bytes=a-b` requests are answered 206 / 416, so pulls resume."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quieter than the default: one line per request
        if getattr(self.server, "verbose", True):
            super().log_message(fmt, *args)

    def list_directory(self, path):  # never reached through send_head; refuse anyway
        self.send_error(404, "File not found")
        return None

    def _served_file(self) -> tuple[int, str] | None:
        """(fd, path) of the listed file the request names, opened; None: not one we serve."""
        rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        if rel not in getattr(self.server, "served_files", ()):
            return None
        root = self.server.served_root
        path = os.path.join(root, *rel.split("/"))
        if os.path.commonpath([root, os.path.realpath(path)]) != root:
            return None  # became a symlink leading out after start
        try:
            return open_regular(path), path  # no FIFO, device or directory
        except (OSError, ValueError):
            return None

    def send_head(self):
        snapshot = getattr(self.server, "catalog_bytes", None)
        if snapshot is not None and urllib.parse.urlsplit(self.path).path == "/catalog.json":
            # The catalog is served as hashed at start, so the printed SHA-256 stays true.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(snapshot)))
            self.end_headers()
            return _Limited(_Bytes(snapshot), len(snapshot))
        opened = self._served_file()
        if opened is None:
            self.send_error(404, "File not found")
            return None
        fd, path = opened
        f = os.fdopen(fd, "rb")
        size = os.fstat(fd).st_size
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        if not m:
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(path))
            self.send_header("Content-Length", str(size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return _Limited(f, size)
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if start >= size or end < start:
            f.close()
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        end = min(end, size - 1)
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return _Limited(f, end - start + 1)


def served_files(directory: str, entries) -> set[str]:
    """The paths (relative to `directory`, '/'-separated) of the files the catalog's entries
    name inside `directory`; URLs elsewhere are not ours to serve."""
    root = os.path.realpath(directory)
    names = set()
    for e in entries:
        if e.file is None or catalog.is_remote(e.file.url):
            continue
        path = os.path.abspath(catalog.local_path(e.file.url))
        rel = os.path.relpath(path, os.path.abspath(directory))
        if rel.startswith("..") or os.path.isabs(rel):
            continue
        if os.path.commonpath([root, os.path.realpath(path)]) != root:
            continue  # a symlink leading out of the directory
        names.add(rel.replace(os.sep, "/"))
    return names


class _Limited:
    """A file object that reads at most `n` bytes (copyfile stops at EOF)."""

    def __init__(self, f, n):
        self._f, self._n = f, n

    def read(self, size=-1):
        if self._n <= 0:
            return b""
        size = self._n if size < 0 else min(size, self._n)
        data = self._f.read(size)
        self._n -= len(data)
        return data

    def close(self):
        self._f.close()


class _Bytes:
    def __init__(self, data: bytes):
        self._data, self._pos = data, 0

    def read(self, size=-1):
        end = len(self._data) if size < 0 else self._pos + size
        chunk = self._data[self._pos:end]
        self._pos += len(chunk)
        return chunk

    def close(self):
        pass


def make_server(directory: str, host: str = "127.0.0.1", port: int = 8000,
                verbose: bool = True) -> http.server.ThreadingHTTPServer:
    """A server for `directory`, which must hold a valid catalog.json (edge-veda models pack).

    The server has `catalog_sha256` (of the catalog bytes it serves, a snapshot taken now) and
    `catalog_names` (the models it lists). Raises CatalogError for a missing directory or
    catalog, InvalidArgumentError when it cannot listen (port in use, bad address).
    """
    directory = os.path.abspath(directory)
    hint = "serve a directory written by `edge-veda models pack ARTIFACT -o DIR`"
    if not os.path.isdir(directory):
        raise catalog.CatalogError(f"{directory} does not exist or is not a directory", hint)
    cat_path = os.path.join(directory, "catalog.json")
    if not os.path.lexists(cat_path):
        raise catalog.CatalogError(f"{directory} holds no catalog.json: there is nothing to serve", hint)
    data = catalog.fetch(cat_path)
    entries = catalog.loads(data, cat_path)

    class Handler(RangeRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=directory, **kw)

    if not 0 <= port <= 65535:
        raise InvalidArgumentError(f"port {port} is out of range", "use a port from 1 to 65535 (0: any free one)")
    try:
        server = http.server.ThreadingHTTPServer((host, port), Handler)
    except OSError as e:  # EADDRINUSE, EACCES (ports < 1024), an unknown host name
        raise InvalidArgumentError(f"cannot listen on {host}:{port}: {e.strerror or e}",
                                   "choose another --port (0 picks a free one), or stop the program "
                                   "that uses it; --host must be an address of this machine") from None
    server.daemon_threads = True
    server.verbose = verbose
    server.catalog_bytes = data
    server.catalog_sha256 = hashlib.sha256(data).hexdigest()
    server.catalog_names = sorted({e.name for e in entries})
    server.served_root = os.path.realpath(directory)
    server.served_files = served_files(directory, entries)
    return server
