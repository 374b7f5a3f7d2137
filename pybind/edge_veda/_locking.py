"""The one way this package locks across processes: an exclusive flock(2).

The kernel releases the lock when its holder dies (kill -9 and power loss included: the lock is
no file on disk), so a crash never leaves one behind and nobody has to judge a lock as stale.

- lock_file(path, blocking=True): a lock file, created if missing, held while the block runs
  (one pull per model: models.manager; one compile per local build: resolve);
- lock_fd(fd, blocking=True): the lock on a descriptor already open, held until it is closed
  (a work directory locks its own directory: _workdir).
With blocking=False neither waits: lock_fd answers False and lock_file yields False when
another process holds the lock.
"""
from __future__ import annotations

import contextlib
import fcntl
from typing import Iterator


def lock_fd(fd: int, blocking: bool = True) -> bool:
    """Takes the exclusive lock on the open descriptor `fd`; False if `blocking` is False and
    another descriptor holds it. Released by closing `fd` (or by the process's death)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def lock_file(path: str, blocking: bool = True) -> Iterator[bool]:
    """Holds the exclusive lock on the file `path` (created if missing, never truncated nor
    deleted) while the block runs; yields whether it holds it (always True when blocking)."""
    with open(path, "a+") as f:
        held = lock_fd(f.fileno(), blocking)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(f, fcntl.LOCK_UN)
