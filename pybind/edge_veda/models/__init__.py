"""Model management: catalogs, verified resumable downloads, the local model cache.

Layout under the cache root (platformdirs' user data dir, or $EDGE_VEDA_HOME):

    models/NAME/          installed artifacts (complete and verified, or absent)
    downloads/FILE.tmp    partial downloads, resumed by the next pull
    locks/NAME.lock       one puller per model across processes
    local/                artifacts compiled on this machine (edge_veda.artifacts)
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import tempfile
from typing import AsyncIterator, Callable

from .. import artifacts
from .._hashing import sha256_file
from .._ffi import lib
from . import archive, catalog
from .catalog import CatalogEntry, CatalogError
from .download import ChecksumError, DiskSpaceError, DownloadError, Progress, RetryPolicy, download

__all__ = ["CatalogEntry", "CatalogError", "ChecksumError", "DiskSpaceError", "DownloadError",
           "InstalledModel", "ModelManager", "Progress", "RetryPolicy"]

INSTALL_RECORD = ".edge-veda-install.json"


@dataclasses.dataclass(frozen=True)
class InstalledModel:
    name: str
    version: str
    path: str
    source: str  # URL it was pulled from


class ModelManager:
    def __init__(self, cache_dir: str | None = None, catalog_location: str | None = None,
                 retry: RetryPolicy | None = None):
        self.cache_dir = os.path.abspath(cache_dir or artifacts.cache_root())
        self.catalog_location = catalog_location
        self.retry = retry or RetryPolicy()
        self._entries: list[CatalogEntry] | None = None

    # -- paths --------------------------------------------------------------------------
    def _dir(self, *parts: str) -> str:
        path = os.path.join(self.cache_dir, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    def path(self, name: str) -> str:
        """Where model `name` is (or would be) installed."""
        _check_name(name)
        return os.path.join(self.cache_dir, "models", name)

    # -- catalog ------------------------------------------------------------------------
    def catalog(self) -> list[CatalogEntry]:
        if self._entries is None:
            _, self._entries = catalog.load(self.catalog_location)
        return self._entries

    def entry(self, name: str) -> CatalogEntry | None:
        return catalog.select(self.catalog(), name, int(lib.EV_ABI_VERSION))

    # -- queries ------------------------------------------------------------------------
    def is_installed(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self.path(name), INSTALL_RECORD))

    def list(self) -> list[InstalledModel]:
        """Installed models only: never partial downloads or staging directories."""
        root = os.path.join(self.cache_dir, "models")
        out = []
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            record = os.path.join(root, name, INSTALL_RECORD)
            if name.startswith(".") or not os.path.isfile(record):
                continue
            with open(record, encoding="utf-8") as f:
                r = json.load(f)
            out.append(InstalledModel(name, r.get("version", ""), os.path.join(root, name), r.get("url", "")))
        return out

    def verify(self, name: str) -> bool:
        """Re-hashes every file the installed artifact's manifest lists."""
        path = self.path(name)
        if not self.is_installed(name):
            raise DownloadError(f"{name} is not installed (edge-veda models pull {name})")
        with open(os.path.join(path, "manifest.json"), encoding="utf-8") as f:
            files = json.load(f).get("files", {})
        if not files:
            return False
        for fname, meta in files.items():
            fpath = os.path.join(path, fname)
            if not os.path.isfile(fpath) or sha256_file(fpath) != meta["sha256"]:
                return False
        return True

    def remove(self, name: str) -> bool:
        path = self.path(name)
        if not os.path.exists(path):
            return False
        with self._lock(name):
            trash = tempfile.mkdtemp(prefix=f".trash-{name}-", dir=self._dir("models"))
            os.rename(path, os.path.join(trash, name))  # disappears atomically, then is deleted
            shutil.rmtree(trash, ignore_errors=True)
        return True

    # -- pull -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self, name: str):
        with open(os.path.join(self._dir("locks"), f"{name}.lock"), "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released by the kernel if this process dies
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def pull(self, name: str, progress: Callable[[Progress], None] | None = None) -> str:
        """Downloads, verifies and installs `name` from the catalog; returns its directory.

        Another process pulling the same model holds a lock: this call waits, then finds the
        model installed and returns without downloading.
        """
        entry = self.entry(name)
        if entry is None:
            raise CatalogError(f"no model {name!r} for ABI {int(lib.EV_ABI_VERSION)} on this machine in "
                               f"the catalog ({self.catalog_location or 'default'})")
        if not entry.downloadable:
            raise CatalogError(f"the catalog has no download for {name!r}; it is built locally "
                               f"(edge-veda compile {name} -o DIR, or Model.load({name!r}))")
        with self._lock(name):
            final = self.path(name)
            if self.is_installed(name):
                return final
            f = entry.file
            tar_path = os.path.join(self._dir("downloads"), f"{name}-{f.sha256[:16]}.tar")
            download(f.url, tar_path, sha256=f.sha256, size=f.size, name=name, progress=progress,
                     retry=self.retry)
            staging = tempfile.mkdtemp(prefix=f".staging-{name}-", dir=self._dir("models"))
            try:
                archive.extract(tar_path, staging)
                if not os.path.isfile(os.path.join(staging, "manifest.json")):
                    raise DownloadError(f"{f.url} holds no manifest.json: not an Edge Veda artifact")
                with open(os.path.join(staging, INSTALL_RECORD), "w", encoding="utf-8") as rec:
                    json.dump({"name": name, "version": entry.version, "url": f.url, "sha256": f.sha256}, rec)
                os.chmod(staging, 0o755)  # mkdtemp makes it private
                if os.path.exists(final):  # a leftover without install record
                    shutil.rmtree(final)
                os.rename(staging, final)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            finally:
                os.unlink(tar_path)
            return final

    async def pull_async(self, name: str) -> AsyncIterator[Progress]:
        """Pulls on a worker thread, yielding progress events on the event loop."""
        import asyncio  # lazily: loading a model by name must not pay ~40 ms for it

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        done = object()

        def report(p: Progress) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, p)

        job = loop.run_in_executor(None, self.pull, name, report)
        job.add_done_callback(lambda _f: queue.put_nowait(done))
        while True:
            item = await queue.get()
            if item is done:
                await job  # raises the pull's error, if any
                return
            yield item


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or "\\" in name:
        raise ValueError(f"invalid model name {name!r}")


def pack(artifact_dir: str, out_dir: str) -> str:
    """Writes ARTIFACT as a tarball into `out_dir` and adds it to `out_dir`/catalog.json.

    Entries for the same model and architecture are replaced; URLs are relative to the catalog,
    so the directory can be served from any host (edge-veda models serve).
    Returns the catalog's path.
    """
    import platform

    with open(os.path.join(artifact_dir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    arch = platform.machine()
    tar_name = f"{manifest['name']}-{manifest.get('version', '0')}-{arch}.tar"
    tar_path = os.path.join(out_dir, tar_name)
    archive.pack(artifact_dir, tar_path)
    entry = {
        "name": manifest["name"], "version": manifest.get("version", ""), "kind": manifest.get("kind", ""),
        "abi_version": manifest["ev_abi_version"], "arch": arch, "target": manifest.get("target"),
        "file": {"url": tar_name, "size": os.path.getsize(tar_path), "sha256": sha256_file(tar_path)},
    }
    cat_path = os.path.join(out_dir, "catalog.json")
    doc = {"catalog_version": catalog.CATALOG_VERSION, "models": []}
    if os.path.isfile(cat_path):
        with open(cat_path, encoding="utf-8") as f:
            doc = json.load(f)
    doc["models"] = [m for m in doc["models"] if (m["name"], m.get("arch")) != (entry["name"], arch)] + [entry]
    tmp = cat_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, cat_path)
    return cat_path
