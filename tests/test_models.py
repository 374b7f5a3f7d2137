"""Model management against a real HTTP server on 127.0.0.1 with injected faults."""
import asyncio
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from edge_veda.models import (ChecksumError, DiskSpaceError, DownloadError, ModelManager, RetryPolicy,
                              archive)
from edge_veda.compile import write_manifest_digest
from fault_server import FaultServer

FAST_RETRY = RetryPolicy(attempts=4, backoff=0.01)
TAR = "/m.tar"


def make_artifact_tar(tmp_path, payload_size=1_000_000, name="toy"):
    src = tmp_path / f"src-{name}"
    src.mkdir()
    blob = os.urandom(payload_size)
    (src / "blob.bin").write_bytes(blob)
    (src / "manifest.json").write_text(json.dumps({
        "name": name, "format_version": 1, "ev_abi_version": 1,
        "files": {"blob.bin": {"size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}}}))
    write_manifest_digest(str(src))
    out = tmp_path / f"{name}.tar"
    archive.pack(str(src), str(out))
    return out.read_bytes()


def write_catalog(tmp_path, server, data, name="toy", size=None):
    cat = tmp_path / "catalog.json"
    cat.write_text(json.dumps({"catalog_version": 1, "models": [{
        "name": name, "version": "1", "kind": "test", "abi_version": 1, "arch": None,
        "file": {"url": server.base + TAR, "size": size if size is not None else len(data),
                 "sha256": hashlib.sha256(data).hexdigest()}}]}))
    return str(cat)


@pytest.fixture()
def server():
    with FaultServer() as s:
        yield s


@pytest.fixture()
def toy(tmp_path, server):
    data = make_artifact_tar(tmp_path)
    server.files[TAR] = data
    manager = ModelManager(str(tmp_path / "cache"), write_catalog(tmp_path, server, data), retry=FAST_RETRY)
    return data, manager


def installed_blob_ok(manager):
    return manager.is_installed("toy") and manager.verify("toy")


def test_resume_after_connection_drop_sends_only_missing_bytes(toy, server):
    data, mm = toy
    server.plans[TAR] = ["drop:300000"]
    mm.pull("toy")
    assert installed_blob_ok(mm)
    reqs = server.requests(TAR)
    assert [(r["status"], r["range"], r["sent"]) for r in reqs] == [
        (200, None, 300000), (206, "bytes=300000-", len(data) - 300000)]
    assert sum(r["sent"] for r in reqs) == len(data)


def test_server_ignoring_range_restarts_from_zero(toy, server):
    data, mm = toy
    server.plans[TAR] = ["drop:200000", "ignore_range"]
    mm.pull("toy")
    assert installed_blob_ok(mm)
    reqs = server.requests(TAR)
    assert [(r["status"], r["range"]) for r in reqs] == [(200, None), (200, "bytes=200000-")]
    assert reqs[1]["sent"] == len(data)


def test_416_on_a_complete_tmp_is_verified_and_used(toy, server):
    data, mm = toy
    downloads = os.path.join(mm.cache_dir, "downloads")
    os.makedirs(downloads)
    sha = hashlib.sha256(data).hexdigest()
    with open(os.path.join(downloads, f"toy-{sha[:16]}.tar.tmp"), "wb") as f:
        f.write(data)
    mm.pull("toy")
    assert installed_blob_ok(mm)
    assert [(r["status"], r["sent"]) for r in server.requests(TAR)] == [(416, 0)]


def test_corrupted_body_is_rejected_and_nothing_kept(toy, server):
    data, mm = toy
    server.plans[TAR] = ["corrupt"]
    with pytest.raises(ChecksumError) as e:
        mm.pull("toy")
    assert e.value.expected == hashlib.sha256(data).hexdigest()
    assert e.value.actual != e.value.expected and e.value.actual in str(e.value)
    assert e.value.expected in str(e.value)
    assert not mm.is_installed("toy") and mm.list() == []
    assert os.listdir(os.path.join(mm.cache_dir, "downloads")) == []  # .tmp removed


def test_404_is_not_retried(toy, server):
    _, mm = toy
    server.plans[TAR] = ["status:404"]
    with pytest.raises(DownloadError) as e:
        mm.pull("toy")
    assert "HTTP 404" in str(e.value) and "not retried" in str(e.value)
    assert len(server.requests(TAR)) == 1


def test_500_500_200_succeeds_after_retries(toy, server):
    _, mm = toy
    server.plans[TAR] = ["status:500", "status:503", None]
    mm.pull("toy")
    assert installed_blob_ok(mm)
    assert [r["status"] for r in server.requests(TAR)] == [500, 503, 200]


def test_persistent_5xx_gives_up(toy, server):
    _, mm = toy
    server.plans[TAR] = ["status:500"] * 10
    with pytest.raises(DownloadError, match="after 4 attempts"):
        mm.pull("toy")
    assert len(server.requests(TAR)) == 4 and mm.list() == []


def test_no_content_length_reports_total_none(toy, server):
    data, mm = toy
    server.plans[TAR] = ["no_length"]
    events = []
    mm.pull("toy", progress=events.append)
    assert installed_blob_ok(mm)
    assert events and all(e.total is None for e in events)
    assert events[-1].done and events[-1].bytes_done == len(data)
    assert [e.bytes_done for e in events] == sorted(e.bytes_done for e in events)


def test_progress_with_length_and_async_pull(toy, server):
    data, mm = toy

    async def main():
        return [p async for p in mm.pull_async("toy")]
    events = asyncio.run(main())
    assert events[-1].done and events[-1].bytes_done == events[-1].total == len(data)
    assert all(e.rate >= 0 for e in events)
    assert installed_blob_ok(mm)


def test_leaving_async_pull_early_stops_it_and_a_later_pull_resumes(toy, server):
    data, mm = toy
    server.chunk_delay = 0.01  # ~0.6 s for the file

    async def first_event():
        async for p in mm.pull_async("toy"):
            return p
    first = asyncio.run(first_event())  # asyncio.run waits for the worker thread
    assert not first.done and first.bytes_done < len(data)
    assert mm.list() == []  # stopped: nothing installed
    server.chunk_delay = 0
    mm.pull("toy")
    assert installed_blob_ok(mm)
    ranges = [r["range"] for r in server.requests(TAR)]
    assert ranges[0] is None and ranges[-1] is not None and ranges[-1].startswith("bytes="), ranges


def test_free_disk_check_happens_before_any_request(tmp_path, server):
    data = make_artifact_tar(tmp_path, 1000)
    server.files[TAR] = data
    mm = ModelManager(str(tmp_path / "cache"), write_catalog(tmp_path, server, data, size=10**18), retry=FAST_RETRY)
    with pytest.raises(DiskSpaceError, match="not enough free disk space"):
        mm.pull("toy")
    assert server.requests(TAR) == []


PULL_SCRIPT = """
import sys
from edge_veda.models import ModelManager, RetryPolicy
print(ModelManager(sys.argv[1], sys.argv[2], retry=RetryPolicy(attempts=4, backoff=0.01)).pull("toy"))
"""


def test_two_processes_pull_once(toy, server, tmp_path):
    data, mm = toy
    server.chunk_delay = 0.01  # ~0.6 s for the file: the two pulls overlap
    procs = [subprocess.Popen([sys.executable, "-c", PULL_SCRIPT, mm.cache_dir, mm.catalog_location],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0] == mm.path("toy") + "\n"
    assert len(server.requests(TAR)) == 1
    assert installed_blob_ok(mm)


def test_kill_9_mid_pull_then_pull_resumes(toy, server):
    data, mm = toy
    server.chunk_delay = 0.02
    p = subprocess.Popen([sys.executable, "-c", PULL_SCRIPT, mm.cache_dir, mm.catalog_location])
    downloads = os.path.join(mm.cache_dir, "downloads")
    deadline = time.time() + 60
    while time.time() < deadline:
        tmps = [f for f in os.listdir(downloads)] if os.path.isdir(downloads) else []
        if tmps and os.path.getsize(os.path.join(downloads, tmps[0])) > 100_000:
            break
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert mm.list() == [] and not mm.is_installed("toy")
    server.chunk_delay = 0
    mm.pull("toy")
    assert installed_blob_ok(mm)
    second = server.requests(TAR)[-1]
    assert second["range"] is not None and second["status"] == 206


def evil_tar(kind):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ok = tarfile.TarInfo("manifest.json")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"{}"))
        if kind == "dotdot":
            t = tarfile.TarInfo("../evil")
            t.size = 4
            tar.addfile(t, io.BytesIO(b"evil"))
        elif kind == "absolute":
            t = tarfile.TarInfo("/tmp/edge-veda-evil-absolute")
            t.size = 4
            tar.addfile(t, io.BytesIO(b"evil"))
        elif kind == "symlink":
            t = tarfile.TarInfo("escape")
            t.type = tarfile.SYMTYPE
            t.linkname = "../../../../etc"
            tar.addfile(t)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_malicious_tarballs_are_rejected(tmp_path, server, kind):
    data = evil_tar(kind)
    server.files[TAR] = data
    cache = tmp_path / "cache"
    mm = ModelManager(str(cache), write_catalog(tmp_path, server, data), retry=FAST_RETRY)
    with pytest.raises(archive.UnsafeArchiveError):
        mm.pull("toy")
    assert mm.list() == [] and not os.path.exists(mm.path("toy"))
    written = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    assert not [w for w in written if "evil" in w or w.endswith("escape")]
    assert not os.path.exists("/tmp/edge-veda-evil-absolute")
    assert [n for n in os.listdir(cache / "models") if n.startswith(".staging")] == []


def test_verify_detects_corruption_and_rm_removes(toy):
    _, mm = toy
    mm.pull("toy")
    assert mm.verify("toy")
    with open(os.path.join(mm.path("toy"), "blob.bin"), "r+b") as f:
        f.write(b"\0\0\0\0")
    assert not mm.verify("toy")
    assert mm.remove("toy") and mm.list() == [] and not mm.remove("toy")


def test_pack_serve_pull_roundtrip_of_g2p(tmp_path, artifact_dir, reference):
    packed = tmp_path / "packed"
    cli = [sys.executable, "-m", "edge_veda"]
    subprocess.run(cli + ["models", "pack", artifact_dir, "-o", str(packed)], check=True, capture_output=True)
    serve = subprocess.Popen(cli + ["models", "serve", str(packed), "--port", "0"],
                             stderr=subprocess.PIPE, text=True)
    try:
        line = serve.stderr.readline()  # "serving DIR at http://127.0.0.1:PORT/catalog.json"
        url = line.strip().split(" at ")[1]
        env = dict(os.environ, EDGE_VEDA_HOME=str(tmp_path / "phone"), EDGE_VEDA_CATALOG=url)
        pulled = subprocess.run(cli + ["models", "pull", "g2p-en"], env=env, capture_output=True, text=True)
        assert pulled.returncode == 0, pulled.stderr
        listed = subprocess.run(cli + ["models", "list"], env=env, capture_output=True, text=True)
        assert listed.stdout.startswith("g2p-en\t")
        verified = subprocess.run(cli + ["models", "verify", "g2p-en"], env=env, capture_output=True, text=True)
        assert verified.stdout.strip() == "g2p-en: ok"
        words = ["hello", "catalog", "laptop"]
        out = subprocess.run(cli + ["g2p", *words], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.splitlines() == [f"{w}\t{reference.predict(w)}" for w in words]
        assert "compiling" not in out.stderr  # the pulled artifact was used
    finally:
        serve.terminate()
        serve.wait(timeout=10)
