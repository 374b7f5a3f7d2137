"""A real HTTP server on 127.0.0.1 with scripted faults, and a log of what it sent."""
from __future__ import annotations

import collections
import http.server
import re
import socket
import threading
import time


class FaultServer:
    """Serves in-memory files. plans[path] is a list of faults, one consumed per request:
    None (behave), "status:N", "drop:N" (send N body bytes then cut the connection),
    "ignore_range", "corrupt", "no_length"."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.plans: dict[str, list] = collections.defaultdict(list)
        self.log: list[dict] = []
        self.chunk_delay = 0.0  # seconds between 16 KiB chunks (to make pulls overlap)
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                owner._handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests(self, path: str) -> list[dict]:
        with self._lock:
            return [e for e in self.log if e["path"] == path]

    def _handle(self, h):
        path = h.path
        data = self.files.get(path)
        with self._lock:
            fault = self.plans[path].pop(0) if self.plans[path] else None
            entry = {"path": path, "range": h.headers.get("Range"), "status": None, "sent": 0, "fault": fault}
            self.log.append(entry)
        if data is None:
            return self._reply(h, entry, 404, b"not found")
        if fault and fault.startswith("status:"):
            return self._reply(h, entry, int(fault.split(":")[1]), b"injected")
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", (h.headers.get("Range") or "").strip())
        if m and fault != "ignore_range":
            start = int(m.group(1))
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                entry["status"] = 416
                return
        body = data[start:]
        if fault == "corrupt":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        status = 206 if start else 200
        h.send_response(status)
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if fault == "no_length":
            h.send_header("Connection", "close")
            h.close_connection = True
        else:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        entry["status"] = status
        limit = len(body)
        if fault and fault.startswith("drop:"):
            limit = int(fault.split(":")[1])
        sent = 0
        try:
            while sent < limit:
                chunk = body[sent:min(limit, sent + 16384)]
                h.wfile.write(chunk)
                h.wfile.flush()
                sent += len(chunk)
                entry["sent"] = sent
                if self.chunk_delay:
                    time.sleep(self.chunk_delay)
        except (BrokenPipeError, ConnectionResetError):
            return
        if limit < len(body):  # cut the connection mid-body
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def _reply(h, entry, status, body):
        h.send_response(status)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        entry["status"], entry["sent"] = status, len(body)
