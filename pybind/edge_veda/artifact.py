"""The artifact format (docs/artifact-format.md) in one place for Python: the compiler writes
manifests with it, the model manager and the tests read and verify them with it. The C library
reads the same format in csrc/core/manifest.cpp and verifies it the same way at every load.

An artifact is a directory holding manifest.json, its seal manifest.json.sha256 (sha256sum
format) and the files the manifest lists under "files", each with its size and SHA-256.
"""
from __future__ import annotations

import json
import os
import stat

from ._hashing import sha256_file
from .errors import ModelInvalidError, ModelNotFoundError

FORMAT = "edge-veda-artifact"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.json.sha256"
MAX_MANIFEST_BYTES = 4 << 20  # as csrc/core/manifest.h
REBUILD_HINT = "rebuild it with `edge-veda compile NAME -o DIR`, or pull it again with `edge-veda models pull NAME`"


def file_entry(path: str) -> dict:
    """The manifest's record of one file: its size and SHA-256."""
    return {"size": os.path.getsize(path), "sha256": sha256_file(path)}


def seal(artifact_dir: str) -> None:
    """Writes manifest.json.sha256: what ev_init and `models verify` compare before trusting any
    value of the manifest (`sha256sum -c manifest.json.sha256` checks it too)."""
    digest = sha256_file(os.path.join(artifact_dir, MANIFEST))
    with open(os.path.join(artifact_dir, MANIFEST_DIGEST), "w", encoding="utf-8") as f:
        f.write(f"{digest}  {MANIFEST}\n")


def write_manifest(artifact_dir: str, manifest: dict) -> None:
    """Writes and seals `manifest`; every file it lists must already be in the directory."""
    for name in manifest.get("files", {}):
        check_file_name(name)
    with open(os.path.join(artifact_dir, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    seal(artifact_dir)


def check_file_name(name: str) -> None:
    """A listed file must be a plain name inside the artifact directory."""
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
            or "\0" in name or name.startswith(".")):
        raise ModelInvalidError(f"manifest lists {name!r}, which is not a plain file name inside the artifact",
                                REBUILD_HINT)


def _regular_file_inside(artifact_dir: str, name: str) -> str:
    path = os.path.join(artifact_dir, name)
    real_dir = os.path.realpath(artifact_dir)
    real = os.path.realpath(path)
    if os.path.commonpath([real_dir, real]) != real_dir:
        raise ModelInvalidError(f"{path} resolves to {real}, outside the artifact directory", REBUILD_HINT)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path} is missing", REBUILD_HINT) from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelInvalidError(f"{path} is not a regular file", REBUILD_HINT)
    return real


def _read_capped(path: str, cap: int) -> bytes:
    # O_NONBLOCK: a FIFO in place of the manifest must not hang the reader.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ModelInvalidError(f"{path} is not a regular file", REBUILD_HINT)
        data = os.read(fd, cap + 1)
    finally:
        os.close(fd)
    if len(data) > cap:
        raise ModelInvalidError(f"{path} is larger than {cap} bytes", REBUILD_HINT)
    return data


def read_manifest(artifact_dir: str, *, check_seal: bool = True) -> dict:
    """manifest.json of `artifact_dir` as a dict, after checking its seal.

    Raises ModelNotFoundError (no manifest) or ModelInvalidError (unsealed, modified, not JSON,
    another format version)."""
    path = _regular_file_inside(artifact_dir, MANIFEST)
    data = _read_capped(path, MAX_MANIFEST_BYTES)
    if check_seal:
        import hashlib

        seal_path = _regular_file_inside(artifact_dir, MANIFEST_DIGEST)
        recorded = _read_capped(seal_path, 1024).decode("ascii", "replace").split()[:1]
        if recorded != [hashlib.sha256(data).hexdigest()]:
            raise ModelInvalidError(f"{path} does not match {MANIFEST_DIGEST}: it was modified after the build",
                                    REBUILD_HINT)
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelInvalidError(f"{path} is not valid JSON: {e}", REBUILD_HINT) from None
    if not isinstance(manifest, dict):
        raise ModelInvalidError(f"{path}: the top level is not an object", REBUILD_HINT)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelInvalidError(f"{path}: artifact format {version!r}, this edge_veda reads format {FORMAT_VERSION}",
                                REBUILD_HINT)
    return manifest


def verify(artifact_dir: str) -> list[str]:
    """Everything wrong with the artifact, as messages; [] when the seal and every listed file
    (name, type, size, SHA-256) check out. Opens only regular files inside the directory."""
    try:
        manifest = read_manifest(artifact_dir)
    except (ModelInvalidError, ModelNotFoundError) as e:
        return [e.message]
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return [f"{artifact_dir}: the manifest lists no files"]
    problems = []
    for name, meta in files.items():
        try:
            check_file_name(name)
            path = _regular_file_inside(artifact_dir, name)
            if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
                problems.append(f"{name}: no sha256 recorded")
            elif os.path.getsize(path) != meta.get("size"):
                problems.append(f"{name}: {os.path.getsize(path)} bytes, the manifest says {meta.get('size')}")
            elif sha256_file(path) != meta["sha256"]:
                problems.append(f"{name}: SHA-256 differs from the manifest")
        except (ModelInvalidError, ModelNotFoundError) as e:
            problems.append(e.message)
    return problems
