"""Work directories that a killed process cannot leave behind for good.

A work directory (`.staging-NAME-XXXXXXXX` beside a compile's output, or in the model cache)
is created with tempfile.mkdtemp and locked with flock(2) on the directory itself
(edge_veda._locking.lock_fd) for as long as its owner works in it. The kernel drops the lock
when the owner dies (kill -9 included), so a later process that can take the lock knows the
directory is abandoned and deletes it (sweep: the one cleanup of such directories). The lock
follows the directory's inode, so nothing is written into it and a rename keeps it.

No race: the owner takes its lock (blocking) right after mkdtemp and then checks that the path
still names the directory it locked; if a sweeper got the lock first and deleted it, the owner
starts over with a new directory.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile

from . import _locking


def _open_dir(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


@contextlib.contextmanager
def locked_work_dir(parent: str, prefix: str):
    """A new directory `parent/PREFIXxxxxxxxx`, locked while the block runs; deleted at the end
    unless it was renamed away meanwhile (the lock is released either way)."""
    while True:
        path = tempfile.mkdtemp(prefix=prefix, dir=parent)
        fd = _open_dir(path)
        _locking.lock_fd(fd)  # waits while a sweeper holds it
        try:
            st = os.stat(path, follow_symlinks=False)
            mine = os.fstat(fd)
            if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino) and mine.st_nlink > 0:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # a sweeper deleted it before we locked it: take another
    try:
        yield path
    finally:
        try:
            st = os.stat(path, follow_symlinks=False)
            if (st.st_dev, st.st_ino) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino):
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:
            pass  # renamed into place
        finally:
            os.close(fd)


def remove_if_abandoned(path: str) -> bool:
    """Deletes the work directory `path` if nobody holds its lock (its owner died); True if it
    did. It is deleted while we hold its lock, so an owner about to lock it sees it gone and
    takes another. Not a directory (or a symlink): left alone."""
    try:
        fd = _open_dir(path)
    except OSError:
        return False
    try:
        try:
            if not _locking.lock_fd(fd, blocking=False):
                return False  # its owner is alive
        except OSError:
            return False  # no lock to be had: not ours to judge
        shutil.rmtree(path, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def sweep(parent: str, pattern: re.Pattern) -> list[str]:
    """Deletes the abandoned work directories among the entries of `parent` that fullmatch
    `pattern`; returns their names."""
    try:
        entries = sorted(os.listdir(parent))
    except OSError:
        return []
    return [e for e in entries if pattern.fullmatch(e) and remove_if_abandoned(os.path.join(parent, e))]
