"""The model manager: the models installed in the local cache, pulled from a catalog with
verified resumable downloads, and `pack` (an artifact -> a tarball in a catalog).

Layout under the cache root (edge_veda.paths.cache_root(): platformdirs' user data dir, or
$EDGE_VEDA_HOME):

    models/NAME/          installed artifacts (complete and verified, or absent)
    downloads/FILE.tmp    partial downloads, resumed by the next pull
    locks/NAME.lock       one puller per model across processes
    local/                artifacts compiled on this machine (edge_veda.paths.local_build_dir)
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import re
from typing import AsyncIterator, Callable

from .. import _locking, _workdir, artifact, paths
from .._ffi import lib
from .._hashing import read_regular, sha256_file
from ..artifact import INSTALL_RECORD
from ..errors import InvalidArgumentError, ModelInvalidError, ModelNotFoundError
from . import archive, catalog
from .catalog import CatalogEntry, CatalogError, check_name
from .download import Progress, RetryPolicy, download

# Work directories of a pull or a remove: `.staging-NAME-XXXXXXXX` / `.trash-NAME-XXXXXXXX`
# (the suffix is tempfile.mkdtemp's 8 characters, which tells `toy` from `toy-extra`).
_WORK_DIR = re.compile(r"\.(staging|trash)-(.+)-[a-z0-9_]{8}")


@dataclasses.dataclass(frozen=True)
class InstalledModel:
    name: str
    version: str
    path: str
    source: str          # URL it was pulled from ("" for a local build)
    local: bool = False  # compiled on this machine (paths.local_build_dir), not pulled
    problem: str = ""    # why the install record could not be read, if it could not


def _compile_hint(name: str) -> str:
    """What gets model `name` (one `edge-veda compile` builds) in this install: with the
    compiler, the first use or `compile`; without it (the runtime-only default), the extra first:
    never a command that fails the same way."""
    from ..errors import compiler_installed, pip_extra

    first_use = "`edge-veda say TEXT -o out.wav`" if name == "kokoro" else "`edge-veda g2p WORD`"
    extra = "kokoro" if name == "kokoro" else "compile"
    if compiler_installed():
        return (f"{name} needs no download: it is compiled on this machine on first use ({first_use}), "
                f"or build it now with `edge-veda compile {name} -o DIR`")
    return (f"{name} is compiled on this machine, which needs the TVM compiler this install lacks: "
            f"{pip_extra(extra)}, then {first_use} compiles it on first use; or pass an artifact "
            f"directory built elsewhere (--model DIR), or a catalog that offers a download (--catalog URL)")


class ModelManager:
    def __init__(self, cache_dir: str | None = None, catalog_location: str | None = None,
                 retry: RetryPolicy | None = None, catalog_sha256: str | None = None):
        self.cache_dir = os.path.abspath(cache_dir or paths.cache_root())
        self.catalog_location = catalog_location
        self.catalog_sha256 = catalog_sha256
        self.retry = retry or RetryPolicy()
        self._entries: list[CatalogEntry] | None = None

    # -- paths --------------------------------------------------------------------------
    def _dir(self, *parts: str) -> str:
        path = os.path.join(self.cache_dir, *parts)
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise InvalidArgumentError(f"cannot create the cache directory {path}: {e.strerror or e}",
                                       "set EDGE_VEDA_HOME to a directory you can write to") from None
        return path

    def path(self, name: str) -> str:
        """Where model `name` is (or would be) installed."""
        check_name(name)
        return os.path.join(self.cache_dir, "models", name)

    def local_path(self, name: str) -> str | None:
        """The local build of `name` (compiled on this machine), if there is one."""
        from ..compile import MODELS

        if name not in MODELS:
            return None
        built = paths.local_build_dir(name, self.cache_dir)
        return built if paths.is_built(built) else None

    def locate(self, name: str) -> tuple[str, bool]:
        """(directory, is_local) of the installed model or, failing that, its local build."""
        from ..compile import MODELS

        if self.is_installed(name):
            return self.path(name), False
        built = self.local_path(name)
        if built:
            return built, True
        if name in MODELS:
            hint = _compile_hint(name)
        else:
            hint = (f"pull it: `edge-veda models pull {name}` (from a catalog that lists it: "
                    f"--catalog URL_OR_PATH or $EDGE_VEDA_CATALOG)")
        raise ModelNotFoundError(f"{name} is neither installed nor built on this machine", hint)

    # -- catalog ------------------------------------------------------------------------
    def catalog(self) -> list[CatalogEntry]:
        if self._entries is None:
            _, self._entries = catalog.load(self.catalog_location, self.catalog_sha256)
        return self._entries

    def entry(self, name: str) -> CatalogEntry | None:
        return catalog.select(self.catalog(), name, int(lib.EV_ABI_VERSION))

    # -- queries ------------------------------------------------------------------------
    def is_installed(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self.path(name), INSTALL_RECORD))

    def _record(self, name: str) -> dict:
        path = os.path.join(self.path(name), INSTALL_RECORD)
        try:
            record = json.loads(read_regular(path, 1 << 20).decode("utf-8"))
        except (OSError, ValueError, RecursionError) as e:  # UnicodeDecodeError, JSONDecodeError: ValueErrors
            raise ModelInvalidError(f"the install record of {name} ({path}) is unreadable: {e}",
                                    f"reinstall: `edge-veda models rm {name}`, then pull it again") from None
        if not isinstance(record, dict):
            raise ModelInvalidError(f"the install record of {name} ({path}) is not a JSON object",
                                    f"reinstall: `edge-veda models rm {name}`, then pull it again")
        return record

    def list(self, include_local: bool = True) -> list[InstalledModel]:
        """Installed models (never partial downloads or staging directories), then the models
        compiled on this machine (local=True). A model whose install record is unreadable is
        listed with `problem` set."""
        root = os.path.join(self.cache_dir, "models")
        out = []
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            if name.startswith(".") or not os.path.isfile(os.path.join(root, name, INSTALL_RECORD)):
                continue
            try:
                check_name(name)
            except InvalidArgumentError:
                continue
            try:
                r = self._record(name)
            except ModelInvalidError as e:
                out.append(InstalledModel(name, "?", os.path.join(root, name), "", problem=e.message))
                continue
            version, url = r.get("version", ""), r.get("url", "")
            out.append(InstalledModel(name, version if isinstance(version, str) else str(version),
                                      os.path.join(root, name), url if isinstance(url, str) else ""))
        if include_local:
            from ..compile import MODELS

            for name in MODELS:
                built = self.local_path(name)
                if built:
                    try:
                        version = artifact.read_manifest(built, check_seal=False,
                                                         check_version=False).get("version", "")
                    except (ModelInvalidError, ModelNotFoundError):
                        version = ""
                    out.append(InstalledModel(name, version if isinstance(version, str) else "", built, "",
                                              local=True))
        return out

    def verify_report(self, name: str) -> tuple[str, list[str]]:
        """(directory, problems) of the installed model or local build `name`: the manifest
        against manifest.json.sha256, every listed file against its SHA-256 (empty: intact)."""
        path, local = self.locate(name)
        problems = []
        if not local:
            try:
                self._record(name)
            except ModelInvalidError as e:
                problems.append(e.message)
        return path, problems + artifact.verify(path)

    def verify(self, name: str) -> bool:
        """Re-hashes the manifest and every file it lists (see verify_report)."""
        return not self.verify_report(name)[1]

    def remove(self, name: str, include_local: bool = True) -> bool:
        """Removes the installed model `name` and (include_local) its build on this machine;
        False if there was neither."""
        path = self.path(name)
        removed = False
        if os.path.lexists(path):
            with self._lock(name), _workdir.locked_work_dir(self._dir("models"), f".trash-{name}-") as trash:
                os.rename(path, os.path.join(trash, name))  # disappears atomically, then is deleted
            removed = True
        return (self.remove_local(name) if include_local else False) or removed

    def remove_local(self, name: str) -> bool:
        """Removes the build of `name` compiled on this machine (the next use compiles it again).
        Only our own cache entry is touched: the directory paths.local_build_dir names under this
        cache's local/, a real directory (never a symlink's target) holding an artifact."""
        from ..compile import MODELS

        if name not in MODELS:
            return False
        local = os.path.join(self.cache_dir, "local")
        built = paths.local_build_dir(name, self.cache_dir)
        if os.path.dirname(built) != local or os.path.islink(local) or os.path.islink(built) \
                or not os.path.isdir(built) or not paths.is_built(built):
            return False
        # The lock a first-use compile holds (edge_veda.resolve): never removed while it writes.
        lock = os.path.join(self._dir("locks"), f"local-{os.path.basename(built)}.lock")
        with _locking.lock_file(lock), _workdir.locked_work_dir(local, f".trash-{name}-") as trash:
            if not os.path.isdir(built) or os.path.islink(built):
                return False
            os.rename(built, os.path.join(trash, name))
        return True

    # -- pull -----------------------------------------------------------------------------
    def _lock(self, name: str, blocking: bool = True):
        """One puller (or remover) of `name` across processes; yields whether it is held
        (False only when not `blocking` and another process holds it)."""
        return _locking.lock_file(os.path.join(self._dir("locks"), f"{name}.lock"), blocking)

    def sweep_stale(self) -> list[str]:
        """Deletes `.staging-*` and `.trash-*` directories left by pulls and removes that died
        (kill -9, power loss). One is stale when nobody holds its model's lock (a live pull or
        remove holds it for as long as its work directory exists) nor the directory's own lock
        (edge_veda._workdir, shared with the compiler's staging directories). Returns what was deleted."""
        root = os.path.join(self.cache_dir, "models")
        removed = []
        for entry in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            m = _WORK_DIR.fullmatch(entry)
            if not m:
                continue
            try:
                check_name(m.group(2))
            except InvalidArgumentError:
                continue
            with self._lock(m.group(2), blocking=False) as held:
                if held and _workdir.remove_if_abandoned(os.path.join(root, entry)):
                    removed.append(entry)
        return removed

    def pull(self, name: str, progress: Callable[[Progress], None] | None = None) -> str:
        """Downloads, verifies and installs `name` from the catalog; returns its directory.

        Another process pulling the same model holds a lock: this call waits, then finds the
        model installed and returns without downloading.
        """
        from ..compile import MODELS

        check_name(name)
        where = self.catalog_location or os.environ.get(catalog.ENV_VAR) or "the built-in catalog"
        entry = self.entry(name)
        if entry is None:
            raise CatalogError(
                f"{where} lists no model {name!r} for ABI {int(lib.EV_ABI_VERSION)} on {platform.machine()}",
                _compile_hint(name) if name in MODELS else
                "choose a catalog that lists it (--catalog URL_OR_PATH or $EDGE_VEDA_CATALOG); "
                "`edge-veda models list` shows what is here")
        if not entry.downloadable:
            built = self.local_path(name)
            raise CatalogError(
                f"{where} has no download for {name!r}" + (f"; it is built on this machine: {built}" if built else ""),
                _compile_hint(name) if name in MODELS else
                "choose a catalog that offers a download (--catalog URL_OR_PATH)")
        self.sweep_stale()
        with self._lock(name):
            final = self.path(name)
            if self.is_installed(name):
                return final
            f = entry.file
            tar_path = os.path.join(self._dir("downloads"), f"{name}-{f.sha256[:16]}.tar")
            download(f.url, tar_path, sha256=f.sha256, size=f.size, name=name, progress=progress,
                     retry=self.retry)
            try:
                with _workdir.locked_work_dir(self._dir("models"), f".staging-{name}-") as staging:
                    archive.extract(tar_path, staging)
                    problems = artifact.verify(staging)
                    if problems:
                        raise ModelInvalidError(
                            f"{f.url} is not an intact Edge Veda artifact: {'; '.join(problems[:5])}",
                            "nothing was installed; the tarball matches the catalog's hash, so the catalog's "
                            "author packed a broken artifact: re-pack it with `edge-veda models pack`")
                    packed = artifact.read_manifest(staging, check_version=False).get("name")
                    if packed != name:  # else models/NAME would hold another model
                        raise ModelInvalidError(
                            f"{f.url} holds the artifact of {packed!r:.80}, not of {name!r}, which the "
                            "catalog entry names",
                            "nothing was installed; the catalog's entry points at another model's tarball: "
                            "fix the catalog (re-pack the model with `edge-veda models pack`)")
                    with open(os.path.join(staging, INSTALL_RECORD), "w", encoding="utf-8") as rec:
                        json.dump({"name": name, "version": entry.version, "url": f.url, "sha256": f.sha256}, rec)
                    os.chmod(staging, 0o755)  # mkdtemp makes it private
                    if os.path.lexists(final):  # a leftover without install record: our own, under the lock
                        with _workdir.locked_work_dir(self._dir("models"), f".trash-{name}-") as trash:
                            os.rename(final, os.path.join(trash, name))
                    os.rename(staging, final)  # else deleted when the block ends
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tar_path)
            return final

    async def pull_async(self, name: str) -> AsyncIterator[Progress]:
        """Pulls on a worker thread, yielding progress events on the event loop (through the one
        callback -> async iterator bridge, edge_veda._bridge). Leaving early (break, the task
        cancelled) stops the pull at its next progress event; what was downloaded stays in the
        cache's partial file, so a later pull resumes it. A failed pull's error is raised here."""
        import asyncio  # lazily: loading a model by name must not pay ~40 ms for it

        from .. import _bridge

        loop = asyncio.get_running_loop()
        async for event in _bridge.aiterate(lambda emit: self.pull(name, emit),
                                            submit=lambda run: loop.run_in_executor(None, run),
                                            cancel=lambda: None):  # the next event stops it
            yield event


def pack(artifact_dir: str, out_dir: str) -> str:
    """Writes ARTIFACT as a tarball into `out_dir` and adds it to `out_dir`/catalog.json.

    Only an intact artifact is packed (its seal and every listed file verified), and only the
    files its manifest lists go into the tarball. Entries for the same model and architecture
    are replaced; URLs are relative to the catalog, so the directory can be served from any
    host (edge-veda models serve). Returns the catalog's path.
    """
    problems = artifact.verify(artifact_dir)
    if problems:
        raise ModelInvalidError(f"{artifact_dir} is not an intact artifact: {'; '.join(problems[:5])}",
                                "pack a directory written by `edge-veda compile`, unmodified")
    manifest = artifact.read_manifest(artifact_dir, check_version=False)  # intact: verified above
    name, abi = manifest.get("name"), manifest.get("ev_abi_version")
    try:
        check_name(name)
    except InvalidArgumentError as e:
        raise ModelInvalidError(f"{artifact_dir}: manifest name: {e.message}", e.hint) from None
    if not isinstance(abi, int) or isinstance(abi, bool):
        raise ModelInvalidError(f"{artifact_dir}: manifest ev_abi_version {abi!r:.40} is not an integer",
                                "pack a directory written by `edge-veda compile`")
    version = manifest.get("version", "0")
    version = version if isinstance(version, str) and re.fullmatch(r"[A-Za-z0-9._+-]{1,64}", version) else "0"
    kind = manifest.get("kind", "")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise InvalidArgumentError(f"cannot create {out_dir}: {e.strerror or e}",
                                   "-o must name a directory you can write to") from None
    arch = platform.machine()
    tar_name = f"{name}-{version}-{arch}.tar"
    tar_path = os.path.join(out_dir, tar_name)
    cat_path = os.path.join(out_dir, "catalog.json")
    doc = {"catalog_version": catalog.CATALOG_VERSION, "models": []}
    if os.path.lexists(cat_path):
        data = catalog.fetch(cat_path)
        catalog.loads(data, cat_path)  # refuse to extend (and so overwrite) a catalog we cannot read
        doc = json.loads(data)
    listed = [n for n in manifest["files"]] + [artifact.MANIFEST, artifact.MANIFEST_DIGEST]
    archive.pack(artifact_dir, tar_path, listed)
    entry = {
        "name": name, "version": version, "kind": kind if isinstance(kind, str) else "",
        "abi_version": abi, "arch": arch, "target": manifest.get("target") if isinstance(manifest.get("target"), dict) else None,
        "file": {"url": tar_name, "size": os.path.getsize(tar_path), "sha256": sha256_file(tar_path)},
    }
    doc["models"] = [m for m in doc["models"] if (m["name"], m.get("arch")) != (name, arch)] + [entry]
    tmp = cat_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, cat_path)
    return cat_path
