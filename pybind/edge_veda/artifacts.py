"""Where model artifacts live, checking an artifact directory, and turning a `source` (name or
directory) into a directory.

The cache root is platformdirs' user data dir for "edge-veda" (on Linux
~/.local/share/edge-veda), or $EDGE_VEDA_HOME when set.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import sys

import platformdirs

from ._hashing import NotRegularFileError, open_regular, read_regular

MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.json.sha256"  # `<hex>  manifest.json\n`, as sha256sum writes it
MAX_MANIFEST_BYTES = 16 << 20
_DIGEST_LINE = re.compile(rb"([0-9a-fA-F]{64}) [ *]manifest\.json\r?\n?")


def cache_root() -> str:
    return os.environ.get("EDGE_VEDA_HOME") or platformdirs.user_data_dir("edge-veda", appauthor=False)


def _cpu_key() -> str:
    # An artifact compiled for one CPU may use instructions another lacks (SIGILL), so local
    # builds are keyed by the CPU's feature flags, not only by the architecture.
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return hashlib.sha256(f"{platform.machine()}|{flags}".encode()).hexdigest()[:12]


def _compiler_key() -> str:
    # A new compiler (kernels, layout, manifest) must not reuse artifacts built by an old one.
    import glob

    h = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(os.path.dirname(__file__), "compile", "*.py"))):
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:8]


def local_build_dir(name: str, root: str | None = None) -> str:
    """Where model `name` compiled on this machine lives under the cache `root` (default: cache_root())."""
    from . import runtime_version  # the TVM libedge_veda was built against; no metadata scan

    key = f"{name}-tvm{runtime_version()}-{platform.machine()}-{_cpu_key()}-{_compiler_key()}"
    return os.path.join(root or cache_root(), "local", key)


def is_built(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, MANIFEST))


# -- checking an artifact directory ---------------------------------------------------------

def member_path(directory: str, name) -> str:
    """The path of the file `name` an artifact's manifest lists, if it is a plain relative name
    that stays inside `directory` (no '..', not absolute, no symlink leading out); else ValueError."""
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        raise ValueError(f"file name {name!r:.80} is not a plain relative name")
    if name.startswith("/") or os.path.isabs(name):
        raise ValueError(f"file name {name!r:.80} is absolute")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"file name {name!r:.80} has an empty, '.' or '..' component")
    path = os.path.join(directory, name)
    root = os.path.realpath(directory)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise ValueError(f"{name!r:.80} is a symlink leading out of the artifact directory")
    return path


def _hash_listed(path: str, size: int) -> str:
    fd = open_regular(path)  # refuses FIFOs, devices, directories
    with os.fdopen(fd, "rb") as f:
        actual = os.fstat(f.fileno()).st_size
        if actual != size:
            raise ValueError(f"has {actual:,} bytes, the manifest says {size:,}")
        h = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(directory: str) -> tuple[dict | None, list[str]]:
    """The manifest of `directory` if it is sealed and well-formed JSON, and the problems found."""
    problems: list[str] = []
    try:
        data = read_regular(member_path(directory, MANIFEST), MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        return None, [f"{MANIFEST} is missing"]
    except (OSError, ValueError) as e:
        return None, [f"{MANIFEST}: {e}"]
    try:
        digest = read_regular(member_path(directory, MANIFEST_DIGEST), 4096)
    except FileNotFoundError:
        problems.append(f"{MANIFEST_DIGEST} is missing: the manifest is not sealed (rebuild the artifact)")
    except (OSError, ValueError) as e:
        problems.append(f"{MANIFEST_DIGEST}: {e}")
    else:
        m = _DIGEST_LINE.fullmatch(digest)
        if not m:
            problems.append(f"{MANIFEST_DIGEST} is not one line '<64 hex digits>  manifest.json'")
        elif m.group(1).decode().lower() != hashlib.sha256(data).hexdigest():
            problems.append(f"{MANIFEST} does not match {MANIFEST_DIGEST}: the manifest was edited")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return None, problems + [f"{MANIFEST} is not valid JSON ({e})"]
    if not isinstance(manifest, dict):
        return None, problems + [f"{MANIFEST} is not a JSON object"]
    return manifest, problems


def verify_dir(directory: str) -> list[str]:
    """Checks an artifact directory as ev_init does: the manifest against manifest.json.sha256,
    then every file the manifest lists against its size and SHA-256. Returns the problems
    (empty: the artifact is intact). Only plain relative names inside the directory are opened,
    and only regular files are read."""
    manifest, problems = read_manifest(directory)
    if manifest is None:
        return problems
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return problems + [f"{MANIFEST} lists no files"]
    library = manifest.get("library")
    if library is not None and library not in files:
        problems.append(f"the library {library!r:.80} is not among the manifest's files, so it cannot be verified")
    for name, meta in files.items():
        try:
            path = member_path(directory, name)
        except ValueError as e:
            problems.append(str(e))
            continue
        label = f"{name!r:.80}"
        try:
            if not isinstance(meta, dict):
                raise ValueError("has no {size, sha256} entry in the manifest")
            size, expected = meta.get("size"), meta.get("sha256")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError(f"has no valid size in the manifest ({size!r:.40})")
            if not isinstance(expected, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", expected):
                raise ValueError(f"has no valid sha256 in the manifest ({expected!r:.80})")
            if _hash_listed(path, size) != expected.lower():
                raise ValueError("does not match its SHA-256")
        except FileNotFoundError:
            problems.append(f"{label} is missing")
        except NotRegularFileError:
            problems.append(f"{label} is not a regular file (a FIFO, device or directory)")
        except ValueError as e:
            problems.append(f"{label} {e}")
        except OSError as e:
            problems.append(f"{label}: {e.strerror or e}")
    return problems


def artifact_files(directory: str, manifest: dict) -> set[str]:
    """Top-level entries an artifact directory may hold: the manifest, its seal, listed files."""
    names = {MANIFEST, MANIFEST_DIGEST, ".edge-veda-install.json"}
    files = manifest.get("files")
    if isinstance(files, dict):
        names |= {n.split("/")[0] for n in files if isinstance(n, str)}
    if isinstance(manifest.get("library"), str):
        names.add(manifest["library"])
    return names


# -- resolving a source -----------------------------------------------------------------------

@contextlib.contextmanager
def _build_lock(target: str):
    """One compile per local build directory across processes (a second waits, then reuses it)."""
    import fcntl

    locks = os.path.join(os.path.dirname(os.path.dirname(target)), "locks")
    os.makedirs(locks, exist_ok=True)
    with open(os.path.join(locks, f"local-{os.path.basename(target)}.lock"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released by the kernel if this process dies
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_locally(name: str, announce) -> str:
    """Compiles `name` into its local build directory unless it is there already."""
    import shutil

    from .compile import compile_model

    target = local_build_dir(name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with _build_lock(target):
        if is_built(target):
            return target
        # Under the lock no other compile of this target runs: its staging leftovers are stale
        # (a compile killed before its rename).
        prefix = f".staging-{os.path.basename(target)}-"
        for entry in os.listdir(os.path.dirname(target)):
            if entry.startswith(prefix):
                shutil.rmtree(os.path.join(os.path.dirname(target), entry), ignore_errors=True)
        announce(f"edge-veda: compiling {name} for this CPU into {target} (first use only)")
        return compile_model(name, target)


def resolve(source: str, *, announce=None) -> str:
    """Returns the artifact directory for `source`: an artifact directory, or a model name.

    Offline first: a name resolves, in order, to the installed model (edge-veda models pull); a
    local build of it on this machine; and only then asks the catalog: a download it offers is
    pulled now; a model this machine can compile (g2p-en) is compiled into the cache on first
    use, also when the catalog cannot be read. `announce(msg)` (default: stderr) is told before
    a pull or a compile starts.
    """
    if os.path.isdir(source):
        return os.path.abspath(source)
    from .compile import MODELS
    from .errors import InvalidArgumentError, ModelNotFoundError
    from .models import CatalogError, ModelManager
    from .models.catalog import check_name

    say = announce or (lambda m: print(m, file=sys.stderr, flush=True))
    not_found = ModelNotFoundError(
        f"no artifact directory, installed model or catalog entry named {source!r}",
        f"pass an artifact directory (holding manifest.json), a model from `edge-veda models list`, "
        f"or one of: {', '.join(MODELS)}")
    try:
        check_name(source)
    except InvalidArgumentError:
        raise not_found from None
    manager = ModelManager()
    if manager.is_installed(source):
        return manager.path(source)
    if source in MODELS and is_built(local_build_dir(source)):
        return local_build_dir(source)
    try:
        entry = manager.entry(source)
    except CatalogError as e:
        if source not in MODELS:
            raise
        say(f"edge-veda: the catalog is not available ({e.message}); building {source} locally")
        entry = None
    if entry is not None and entry.downloadable:
        say(f"edge-veda: pulling {source} into {manager.path(source)}")
        return manager.pull(source)
    if source in MODELS:
        return build_locally(source, say)
    raise not_found
