"""Turning a `source` (an artifact directory or a model name) into an artifact directory:
the one place that decides whether loading a model by name downloads or compiles it, and
says so on stderr before it does."""
from __future__ import annotations

import os
import sys

from . import _locking
from .errors import CompilerNotInstalledError, InvalidArgumentError, ModelNotFoundError, pip_extra
from .paths import is_built, local_build_dir


def _build_lock(target: str):
    """One compile per local build directory across processes (a second waits, then reuses it)."""
    locks = os.path.join(os.path.dirname(os.path.dirname(target)), "locks")
    os.makedirs(locks, exist_ok=True)
    return _locking.lock_file(os.path.join(locks, f"local-{os.path.basename(target)}.lock"))


def build_locally(name: str, announce) -> str:
    """Compiles `name` into its local build directory unless it is there already."""
    from .compile import compile_model, require_compiler

    require_compiler(name)  # before announcing a compile this install cannot run
    target = local_build_dir(name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with _build_lock(target):
        if is_built(target):
            return target
        # The staging directories a compile killed before its rename left are swept by
        # compile_model itself (edge_veda._workdir.sweep: only those whose lock is free, so an
        # `edge-veda compile -o` into the same directory that runs outside this lock keeps its own).
        announce(f"edge-veda: compiling {name} for this CPU into {target} (first use only)")
        return compile_model(name, target)


def resolve(source: str, *, announce=None) -> str:
    """Returns the artifact directory for `source`: an artifact directory, or a model name.

    Offline first: a name resolves, in order, to the installed model (edge-veda models pull); a
    local build of it on this machine; and only then asks the catalog: a download it offers is
    pulled now; a model this machine can compile (g2p-en) is compiled into the cache on first
    use, also when the catalog cannot be read. `announce(msg)` (default: a line on stderr) is
    told before a pull or a compile starts.
    """
    if os.path.isdir(source):
        return os.path.abspath(source)
    # Imported here: loading a model from a directory needs neither the catalog nor the compiler.
    from .compile import MODELS
    from .models.catalog import CatalogError, check_name
    from .models.manager import ModelManager

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
        try:
            return build_locally(source, say)
        except CompilerNotInstalledError as e:
            # The catalog offers no download (else it was pulled above): the hint must not send
            # the user to `models pull`, which fails the same way, but to what works here.
            extra = "kokoro" if source == "kokoro" else "compile"
            raise CompilerNotInstalledError(
                e.message, f"install what compiles {source} on first use: {pip_extra(extra)}; or pass an "
                           f"artifact directory built elsewhere with --model DIR (`edge-veda compile {source} -o DIR` "
                           "on a machine with the extra), or pull it from a catalog that offers a download "
                           f"(`edge-veda models pull {source} --catalog URL`)") from None
    raise not_found
