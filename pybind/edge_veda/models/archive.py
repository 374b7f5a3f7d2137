"""Artifact tarballs: packing, and extraction that cannot write outside its staging directory."""
from __future__ import annotations

import os
import posixpath
import tarfile


class UnsafeArchiveError(Exception):
    pass


def _inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def check_members(tar: tarfile.TarFile, staging: str) -> None:
    """Rejects absolute names, `..` components, links leaving `staging` and special files."""
    for m in tar.getmembers():
        name = m.name
        if name.startswith("/") or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
            raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
        if ".." in posixpath.normpath(name).split("/") or ".." in name.split("/"):
            raise UnsafeArchiveError(f"archive member {name!r} leaves the archive with '..'")
        target = os.path.join(staging, name)
        if not _inside(staging, target):
            raise UnsafeArchiveError(f"archive member {name!r} would be written outside the cache")
        if m.issym() or m.islnk():
            link = m.linkname
            base = os.path.dirname(target) if m.issym() else staging
            if os.path.isabs(link) or not _inside(staging, os.path.join(base, link)):
                raise UnsafeArchiveError(f"archive member {name!r} links to {link!r}, outside the archive")
        elif not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"archive member {name!r} is a device, FIFO or other special file")


def extract(archive: str, staging: str) -> None:
    with tarfile.open(archive, "r:*") as tar:
        check_members(tar, staging)
        if hasattr(tarfile, "data_filter"):  # belt and braces where Python has extraction filters
            tar.extractall(staging, filter="data")
        else:  # pragma: no cover - Python < 3.10.12 / 3.11.4
            tar.extractall(staging)


def pack(artifact_dir: str, out_path: str) -> None:
    """Writes the files of `artifact_dir` (flat) into the tar at `out_path`, deterministically."""
    names = sorted(os.listdir(artifact_dir))
    tmp = out_path + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for n in names:
            path = os.path.join(artifact_dir, n)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            info = tar.gettarinfo(path, arcname=n)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with open(path, "rb") as f:
                tar.addfile(info, f)
    os.replace(tmp, out_path)
