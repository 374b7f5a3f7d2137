"""Artifact tarballs: packing, and extraction that cannot write outside its staging directory."""
from __future__ import annotations

import lzma
import os
import posixpath
import shutil
import tarfile
import zlib

from ..errors import ModelInvalidError

MAX_MEMBERS = 10_000  # an artifact is a handful of files; a million headers is an attack


class ArchiveError(ModelInvalidError):
    """The tarball is not a readable tar archive (truncated, corrupt, not a tar at all)."""

    def __init__(self, message: str, hint: str = "the download is not an Edge Veda artifact tarball; "
                                                 "re-pack it with `edge-veda models pack`", code=None):
        super().__init__(message, hint, code)


class UnsafeArchiveError(ArchiveError):
    """A member would land outside the staging directory, or is a device, FIFO or similar."""

    def __init__(self, message: str, hint: str = "nothing was written; do not use this catalog "
                                                 "or tarball", code=None):
        super().__init__(message, hint, code)


def _inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def check_members(tar: tarfile.TarFile, staging: str) -> int:
    """Rejects absolute names, `..` components, links and special files.
    Returns the total size of the members' contents."""
    total = 0
    members = tar.getmembers()
    if len(members) > MAX_MEMBERS:
        raise UnsafeArchiveError(f"archive has {len(members):,} members (at most {MAX_MEMBERS:,})")
    for m in members:
        name = m.name
        if not name or "\0" in name or "\\" in name:
            raise UnsafeArchiveError(f"archive member {name!r} has an empty or unusable name")
        if name.startswith("/") or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
            raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
        if ".." in posixpath.normpath(name).split("/") or ".." in name.split("/"):
            raise UnsafeArchiveError(f"archive member {name!r} leaves the archive with '..'")
        target = os.path.join(staging, name)
        if not _inside(staging, target):
            raise UnsafeArchiveError(f"archive member {name!r} would be written outside the cache")
        if m.issym() or m.islnk():
            # Artifacts are regular files (pack writes nothing else); a link could only point
            # somewhere the manifest does not describe, or at a member that is not there.
            raise UnsafeArchiveError(f"archive member {name!r} is a link (to {m.linkname!r}); artifact "
                                     "tarballs hold only regular files and directories")
        if not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"archive member {name!r} is a device, FIFO or other special file")
        if m.size < 0:
            raise UnsafeArchiveError(f"archive member {name!r} has a negative size")
        total += m.size
    return total


# What a corrupt or truncated archive raises from inside tarfile and the decompressors.
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, UnicodeError, OverflowError,
                ValueError)  # ValueError: a size field too large to seek to


def extract(archive: str, staging: str) -> None:
    """Extracts `archive` into the existing directory `staging`, after checking every member.

    Raises UnsafeArchiveError for members that would escape, ArchiveError for an archive that is
    not readable, DiskSpaceError when the contents would not fit.
    """
    from .download import DiskSpaceError

    try:
        with tarfile.open(archive, "r:*") as tar:
            needed = check_members(tar, staging)
            free = shutil.disk_usage(staging).free
            if needed > free:
                raise DiskSpaceError(f"the archive unpacks to {needed:,} bytes; {free:,} free in {staging}")
            if hasattr(tarfile, "data_filter"):  # belt and braces where Python has extraction filters
                tar.extractall(staging, filter="data")
            else:  # pragma: no cover - Python < 3.10.12 / 3.11.4
                tar.extractall(staging)
    except tarfile.FilterError as e:  # the data filter caught what check_members did not
        raise UnsafeArchiveError(f"{archive}: {e}") from None
    except _READ_ERRORS as e:
        raise ArchiveError(f"{archive} is not a readable tar archive ({type(e).__name__}: {e})") from None
    except OSError as e:
        if e.errno is None:  # gzip/bz2 format errors are OSErrors without an errno
            raise ArchiveError(f"{archive} is not a readable tar archive ({e})") from None
        raise ArchiveError(f"cannot extract {archive} into {staging}: {e}",
                           "check free space and permissions of the cache (EDGE_VEDA_HOME)") from None


def pack(artifact_dir: str, out_path: str, names: list[str] | None = None) -> None:
    """Writes the files of `artifact_dir` (flat; only `names` when given) into the tar at
    `out_path`, deterministically."""
    names = sorted(names if names is not None else os.listdir(artifact_dir))
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
