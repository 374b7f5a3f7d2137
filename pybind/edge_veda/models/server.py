"""`edge-veda models serve`: a static HTTP server with byte-range support, so devices on the
LAN can pull (and resume) artifacts from a directory written by `edge-veda models pack`."""
from __future__ import annotations

import http.server
import os
import re


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus single `Range: bytes=a-b` requests (206 / 416)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quieter than the default: one line per request
        if getattr(self.server, "verbose", True):
            super().log_message(fmt, *args)

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path) or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        if not m:
            return super().send_head()
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if start >= size or end < start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        end = min(end, size - 1)
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return _Limited(f, end - start + 1)


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


def make_server(directory: str, host: str = "127.0.0.1", port: int = 8000,
                verbose: bool = True) -> http.server.ThreadingHTTPServer:
    directory = os.path.abspath(directory)

    class Handler(RangeRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=directory, **kw)

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    server.verbose = verbose
    return server
