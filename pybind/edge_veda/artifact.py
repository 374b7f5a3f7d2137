"""The artifact format (docs/artifact-format.md) in one place for Python: the compiler writes
manifests with it, the model manager and the tests read and verify them with it. The C library
reads the same format in csrc/core/manifest.cpp and verifies it the same way at every load.

An artifact is a directory holding manifest.json, its seal manifest.json.sha256 (sha256sum
format) and the files the manifest lists under "files", each with its size and SHA-256.

Every file an artifact names may be hostile: only plain names inside the directory are opened
(no '/', no '..', no leading '.', no symlink leading out), only regular files are read (a FIFO
never blocks, a device is refused), and the manifest and its seal are read with a size cap.
"""
from __future__ import annotations

import hashlib
import json
import os
import re

from ._hashing import NotRegularFileError, open_regular, read_regular, sha256_file
from .errors import ModelInvalidError, ModelNotFoundError

FORMAT = "edge-veda-artifact"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.json.sha256"  # `<hex>  manifest.json\n`, as sha256sum writes it
INSTALL_RECORD = ".edge-veda-install.json"  # written by the model manager beside an installed artifact
MAX_MANIFEST_BYTES = 4 << 20  # as csrc/core/manifest.h
MAX_DIGEST_BYTES = 4096
REBUILD_HINT = "rebuild it with `edge-veda compile NAME -o DIR`, or pull it again with `edge-veda models pull NAME`"
_DIGEST_LINE = re.compile(rb"([0-9a-fA-F]{64}) [ *]manifest\.json\r?\n?")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


# -- writing ------------------------------------------------------------------------------------

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


# -- names ----------------------------------------------------------------------------------------

def check_file_name(name) -> None:
    """A listed file must be a plain file name inside the artifact directory, as the C library
    requires: no '/', no '..', no leading '.'. ModelInvalidError says which rule it breaks."""
    def bad(why: str):
        return ModelInvalidError(f"file name {name!r:.80} {why}", REBUILD_HINT)

    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        raise bad("is not a plain relative name")
    if name.startswith("/") or os.path.isabs(name):
        raise bad("is absolute")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise bad("has an empty, '.' or '..' component")
    if "/" in name:
        raise bad("is in a subdirectory: artifact files are plain names")
    if name.startswith("."):
        raise bad("starts with '.'")


def member_path(artifact_dir: str, name) -> str:
    """The path of the listed file `name` if its name is plain (check_file_name) and it does not
    lead out of `artifact_dir` through a symlink; else ModelInvalidError. Does not open it."""
    check_file_name(name)
    path = os.path.join(artifact_dir, name)
    root = os.path.realpath(artifact_dir)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise ModelInvalidError(f"{name!r:.80} is a symlink leading out of the artifact directory", REBUILD_HINT)
    return path


def artifact_files(manifest: dict) -> set[str]:
    """The entries an artifact directory may hold: the manifest, its seal, the install record
    and the listed files. Anything else in the directory belongs to someone else."""
    names = {MANIFEST, MANIFEST_DIGEST, INSTALL_RECORD}
    files = manifest.get("files")
    if isinstance(files, dict):
        names |= {n.split("/")[0] for n in files if isinstance(n, str)}
    names |= {n for _, n in named_files(manifest) if isinstance(n, str)}
    return names


def named_files(manifest: dict) -> list[tuple[str, object]]:
    """(field, name) of each file the manifest names outside "files", as ev_init reads them:
    module.library (a shared library), module.archive (a system-lib archive), weights.file."""
    named = []
    module = manifest.get("module")
    if isinstance(module, dict):
        for key in ("library", "archive"):
            if key in module:
                named.append((f"module.{key}", module[key]))
    weights = manifest.get("weights")
    if isinstance(weights, dict) and "file" in weights:
        named.append(("weights.file", weights["file"]))
    if "library" in manifest:  # format 1 named the library at the top level
        named.append(("library", manifest["library"]))
    return named


# -- reading --------------------------------------------------------------------------------------

class _Missing(Exception):
    pass


def _load(artifact_dir: str, check_seal: bool) -> tuple[dict | None, list[str]]:
    """(manifest or None, problems): the manifest if it is readable JSON; the seal's problems
    (check_seal) do not stop it from being parsed. _Missing when there is no manifest.json."""
    problems: list[str] = []
    try:
        data = read_regular(member_path(artifact_dir, MANIFEST), MAX_MANIFEST_BYTES)
    except ModelInvalidError as e:  # a symlink leading out of the directory
        return None, [e.message]
    except FileNotFoundError:
        raise _Missing(f"{MANIFEST} is missing") from None
    except NotRegularFileError:
        return None, [f"{MANIFEST} is not a regular file (a FIFO, device or directory)"]
    except OSError as e:  # FileTooLargeError, EACCES, ...
        return None, [f"{MANIFEST}: {e.strerror or e}"]
    if check_seal:
        try:
            digest = read_regular(member_path(artifact_dir, MANIFEST_DIGEST), MAX_DIGEST_BYTES)
        except ModelInvalidError as e:
            problems.append(e.message)
        except FileNotFoundError:
            problems.append(f"{MANIFEST_DIGEST} is missing: the manifest is not sealed (rebuild the artifact)")
        except NotRegularFileError:
            problems.append(f"{MANIFEST_DIGEST} is not a regular file (a FIFO, device or directory)")
        except OSError as e:
            problems.append(f"{MANIFEST_DIGEST}: {e.strerror or e}")
        else:
            m = _DIGEST_LINE.fullmatch(digest)
            if not m:
                problems.append(f"{MANIFEST_DIGEST} is not one line '<64 hex digits>  manifest.json'")
            elif m.group(1).decode().lower() != hashlib.sha256(data).hexdigest():
                problems.append(f"{MANIFEST} does not match {MANIFEST_DIGEST}: the manifest was edited "
                                "after the build")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return None, problems + [f"{MANIFEST} is not valid JSON ({e})"]
    if not isinstance(manifest, dict):
        return None, problems + [f"{MANIFEST} is not a JSON object"]
    return manifest, problems


def read_manifest(artifact_dir: str, *, check_seal: bool = True, check_version: bool = True) -> dict:
    """manifest.json of `artifact_dir` as a dict, after checking its seal (check_seal) and that
    it is format FORMAT_VERSION (check_version). Opens only regular files, with a size cap.

    Raises ModelNotFoundError (no manifest) or ModelInvalidError (unsealed, modified, not JSON,
    another format version)."""
    try:
        manifest, problems = _load(artifact_dir, check_seal)
    except _Missing as e:
        raise ModelNotFoundError(f"{artifact_dir}: {e}", REBUILD_HINT) from None
    if problems or manifest is None:
        raise ModelInvalidError(f"{artifact_dir}: {problems[0]}", REBUILD_HINT)
    if check_version and manifest.get("format_version") != FORMAT_VERSION:
        raise ModelInvalidError(f"{artifact_dir}: artifact format {manifest.get('format_version')!r:.40}, "
                                f"this edge_veda reads format {FORMAT_VERSION}", REBUILD_HINT)
    return manifest


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


def verify(artifact_dir: str) -> list[str]:
    """Checks an artifact directory as ev_init does: the manifest against manifest.json.sha256,
    then every file the manifest lists against its size and SHA-256. Returns the problems
    (empty: the artifact is intact). Only plain names inside the directory are opened, and
    only regular files are read. The format version is not checked (read_manifest does)."""
    try:
        manifest, problems = _load(artifact_dir, check_seal=True)
    except _Missing as e:
        return [str(e)]
    if manifest is None:
        return problems
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return problems + [f"{MANIFEST} lists no files"]
    for field, name in named_files(manifest):  # what ev_init loads must be a listed plain name
        try:
            check_file_name(name)
        except ModelInvalidError as e:
            problems.append(f"{field}: {e.message}")
            continue
        if name not in files:
            problems.append(f"{field} names {name!r:.80}, which is not among the manifest's files, "
                            "so it cannot be verified")
    for name, meta in files.items():
        try:
            path = member_path(artifact_dir, name)
        except ModelInvalidError as e:
            problems.append(e.message)
            continue
        label = f"{name!r:.80}"
        try:
            if not isinstance(meta, dict):
                raise ValueError("has no {size, sha256} entry in the manifest")
            size, expected = meta.get("size"), meta.get("sha256")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError(f"has no valid size in the manifest ({size!r:.40})")
            if not isinstance(expected, str) or not _SHA256.fullmatch(expected):
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
