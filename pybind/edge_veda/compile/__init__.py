"""Model compiler: turns published weights into an Edge Veda artifact (docs/artifact-format.md).

This is the only part of edge_veda that imports the `tvm` Python package; inference never does.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time

from .. import _workdir, artifact
from ..errors import pip_extra
from ..errors import ModelInvalidError, ModelNotFoundError
from ..errors import CompilerNotInstalledError, InvalidArgumentError

from .recipes import names as _recipe_names
from .recipes import precisions as _recipe_precisions

MODELS = _recipe_names()


class OutputDirectoryError(InvalidArgumentError):
    """`compile -o DIR` would replace something that is not an artifact of the model."""


COMPILE_EXTRA = pip_extra("compile")


def require_compiler(name: str) -> None:
    """Raises CompilerNotInstalledError, before anything is written, when this install lacks
    what compiling `name` needs: the default install is the runtime only."""
    import importlib.util

    def installed(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken or blocked install counts as none
            return False

    missing = [dist for module, dist in (("tvm", "apache-tvm"), ("tvm_ffi", "apache-tvm-ffi"))
               if not installed(module)]
    if missing:
        raise CompilerNotInstalledError(
            f"compiling {name} needs the TVM compiler ({', '.join(missing)}), which this install of "
            "edge-veda does not include (the default install is the runtime only)",
            f"install the compile extra: {COMPILE_EXTRA}; or get a built artifact instead: "
            f"`edge-veda models pull {name}` from a catalog, or an artifact directory compiled elsewhere")


class SourceNotInstalledError(ModelNotFoundError):
    """A package the model is compiled from (its weights, voices, vocabulary) is not installed;
    the hint is the pip command that installs it."""


class SourceMismatchError(ModelInvalidError):
    """The model's source files are installed but are not the expected ones (checksum)."""


def write_manifest_digest(artifact_dir: str) -> None:
    """Seals an edited manifest.json again (tests and tools; the compiler seals its own)."""
    from ..artifact import seal

    seal(artifact_dir)


def _protected(path: str) -> str | None:
    """Why `path` must never be moved, even with force: it holds the caller's working directory
    or home (moving it would pull the ground from under the shell), or is the file system root."""
    real = os.path.realpath(path)
    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was deleted: nothing there to protect
        cwd = None
    for what, p in (("the current directory", cwd), ("your home directory", os.path.expanduser("~"))):
        if p is None:
            continue
        p = os.path.realpath(p)
        if real == p:
            return what
        if os.path.commonpath([real, p]) == real:
            return f"a parent of {what}"
    if os.path.dirname(real) == real:
        return "the file system root"
    return None


def existing_output(out_dir: str, name: str) -> str:
    """What is at `out_dir` now: "none", "empty", "same" (an artifact of `name` and nothing
    else), "artifact" (only an artifact of another model) or "other" (anything else: user files,
    a non-directory, an artifact with files of someone else's beside it)."""
    if not os.path.lexists(out_dir):
        return "none"
    if os.path.islink(out_dir) or not os.path.isdir(out_dir):
        return "other"
    try:
        entries = set(os.listdir(out_dir))
    except OSError:
        return "other"
    if not entries:
        return "empty"
    try:
        manifest = artifact.read_manifest(out_dir, check_seal=False, check_version=False)
    except (ModelInvalidError, ModelNotFoundError):
        return "other"
    if manifest.get("format") != artifact.FORMAT:
        return "other"
    if not entries <= artifact.artifact_files(manifest):
        return "other"
    return "same" if manifest.get("name") == name else "artifact"


def check_output(out_dir: str, name: str, force: bool = False) -> str:
    """Refuses (OutputDirectoryError) an `out_dir` compile must not replace; returns its state.

    An artifact of the same model, an empty directory or nothing: replaced. With force, also an
    artifact of another model, and anything else is moved aside (never deleted). Never, even
    with force: the current directory, home, their parents, the root.
    """
    state = existing_output(out_dir, name)
    if state == "none":
        return state
    why = _protected(out_dir)
    if why:  # even replacing an artifact there would leave the shell in a deleted directory
        raise OutputDirectoryError(f"refusing to write the artifact to {out_dir}: it is {why}",
                                   f"name a new directory, e.g. -o {os.path.join(out_dir, name)}")
    if state in ("empty", "same") or force:
        return state
    what = ("holds an artifact of another model" if state == "artifact"
            else "exists and is not an artifact of " + name)
    raise OutputDirectoryError(
        f"refusing to replace {out_dir}: it {what}",
        f"name a new directory (e.g. -o {os.path.join(out_dir, name)}), or pass --force: an artifact "
        f"is replaced, anything else is moved aside to {os.path.basename(out_dir)}.replaced-TIME "
        "and kept")


def place_artifact(staging: str, out_dir: str, name: str, force: bool = False, announce=None) -> str:
    """Renames the complete artifact `staging` to `out_dir` (a sibling of it).

    An artifact of the same model (or, with force, of another model) is swapped: the old one is
    renamed aside, the new one renamed in, then the old one deleted, so `out_dir` always holds
    a complete artifact. With force, anything else is renamed to OUT_DIR.replaced-TIME and kept.
    Returns out_dir.
    """
    say = announce or (lambda m: print(m, file=sys.stderr, flush=True))
    parent = os.path.dirname(out_dir)
    for _ in range(5):  # another process may create out_dir between our check and our rename
        state = check_output(out_dir, name, force)
        if state == "empty":
            try:
                os.rmdir(out_dir)
            except OSError:
                continue  # someone put a file in it meanwhile: check again
        if state in ("none", "empty"):
            try:
                os.rename(staging, out_dir)
                return out_dir
            except OSError:
                continue
        if state in ("same", "artifact"):
            old = tempfile.mkdtemp(prefix=f".old-{os.path.basename(out_dir)}-", dir=parent)
            try:
                os.rename(out_dir, os.path.join(old, "artifact"))
            except FileNotFoundError:
                shutil.rmtree(old, ignore_errors=True)
                continue
            try:
                os.rename(staging, out_dir)
            except OSError:
                os.rename(os.path.join(old, "artifact"), out_dir)  # put the old one back
                shutil.rmtree(old, ignore_errors=True)
                raise
            shutil.rmtree(old, ignore_errors=True)
            return out_dir
        # "other", with force: keep it, under a name that says what happened
        aside = f"{out_dir}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
        n = 1
        while os.path.lexists(aside):
            aside = f"{out_dir}.replaced-{time.strftime('%Y%m%d-%H%M%S')}-{n}"
            n += 1
        os.rename(out_dir, aside)
        say(f"edge-veda: moved the existing {out_dir} aside to {aside} (nothing was deleted)")
        try:
            os.rename(staging, out_dir)
        except OSError:
            continue
        return out_dir
    raise OutputDirectoryError(f"{out_dir} keeps changing while the artifact is put in place",
                               "stop the other program writing there, or name another directory")


def compile_model(name: str, out_dir: str, target: dict | None = None, cc: str | None = None,
                  force: bool = False, announce=None, static: bool = False, prefix: str | None = None,
                  precision: str = "fp32") -> str:
    """Compiles model `name` into the artifact directory `out_dir` and returns its path.

    `target` is a TVM target dict (default: this CPU); `cc` a C++ cross compiler that links
    the library for another architecture (e.g. "aarch64-linux-gnu-g++"). `static` writes a
    system-lib archive with symbol `prefix` (iOS-style static linking) instead of a shared
    library. `precision` "int8" builds the model's reduced-precision variant where its recipe
    offers one (kokoro: int8 vocoder convolutions); the manifest records it.

    Never destroys: the artifact is assembled in a sibling temporary directory and renamed into
    place (see place_artifact), so `out_dir` either holds a complete artifact or what it held
    before. A directory that is not an artifact of `name` is refused (OutputDirectoryError)
    before anything is compiled, unless `force` (then it is moved aside, not deleted).
    """
    if name not in MODELS:
        raise InvalidArgumentError(f"unknown model {name!r}", f"models this compiler builds: {', '.join(MODELS)}")
    offered = _recipe_precisions(name)
    if precision not in offered:
        raise InvalidArgumentError(f"{name} has no {precision!r} precision",
                                   f"precisions {name} offers: {', '.join(offered)}")
    require_compiler(name)
    out_dir = os.path.abspath(os.path.realpath(out_dir) if os.path.islink(out_dir) else out_dir)
    check_output(out_dir, name, force)  # fail in milliseconds, not after compiling
    parent = os.path.dirname(out_dir)
    base = os.path.basename(out_dir)
    with contextlib.ExitStack() as stack:
        try:
            os.makedirs(parent, exist_ok=True)
            # what a compile into the same output killed earlier (kill -9) left: its lock is free
            _workdir.sweep(parent, re.compile(rf"\.staging-{re.escape(base)}-[a-z0-9_]{{8}}"))
            # locked while we build; deleted at the end unless renamed into place
            staging = stack.enter_context(_workdir.locked_work_dir(parent, f".staging-{base}-"))
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would make the artifact private
        except OSError as e:
            raise OutputDirectoryError(f"cannot write into {parent}: {e.strerror or e}",
                                       "choose a directory you can write to") from None
        _build(name, staging, target, cc, static, prefix, precision)
        return place_artifact(staging, out_dir, name, force, announce)


def _build(name: str, staging: str, target: dict | None, cc: str | None, static: bool,
           prefix: str | None, precision: str = "fp32") -> None:
    import shutil as _sh

    import tvm

    from .build import build_artifact

    if target is not None and not isinstance(target, dict):
        raise InvalidArgumentError(f"target must be a JSON object, not {type(target).__name__}",
                                   'e.g. {"kind": "llvm", "mcpu": "znver4"}')
    if target is not None:
        try:
            tvm.target.Target(target)
        except Exception as e:  # TVM reports a bad target as TVMError/ValueError with its own text
            raise InvalidArgumentError(f"TVM does not accept the target {json.dumps(target)}: "
                                       f"{str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}",
                                       'e.g. {"kind": "llvm", "mcpu": "znver4"}') from None
    if cc:  # a program, or a command line with arguments (zig: "python3 -m ziglang cc -target ...")
        from .export import command

        try:
            program = (command(cc) or [""])[0]
        except ValueError as e:  # unbalanced quotes
            raise InvalidArgumentError(f"--cc {cc!r} is not a command line ({e})", "fix --cc") from None
        if _sh.which(program) is None:
            raise InvalidArgumentError(f"the cross compiler {cc!r} is not installed ({program!r} is not on PATH)",
                                       "install it (e.g. apt-get install g++-aarch64-linux-gnu) or fix --cc")
    try:
        build_artifact(name, staging, target=target, cc=cc, static=static, prefix=prefix, precision=precision)
    except ValueError as e:  # a bad --prefix
        raise InvalidArgumentError(str(e), "choose another --prefix") from None
