"""File hashing shared by the compiler (manifest digests) and the model manager (verify).

Every file an artifact or a catalog names may be hostile: a FIFO (open() would wait for a writer
forever), a device (/dev/zero never ends), or far larger than it should be. `open_regular`
opens without blocking and refuses anything but a regular file before a byte is read.
"""
import hashlib
import os
import stat


class NotRegularFileError(OSError):
    """The path is a FIFO, device, socket or directory, not a regular file."""


class FileTooLargeError(OSError):
    pass


def open_regular(path: str, *, follow_symlinks: bool = True) -> int:
    """Opens `path` read-only and returns the fd, only if it is a regular file.

    O_NONBLOCK makes opening a FIFO return at once (instead of waiting for a writer); fstat on
    the opened fd then tells what it really is, so a swap between a check and the open cannot
    sneak a device in.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(f"{path} is not a regular file (a FIFO, device, socket or directory)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str, max_bytes: int) -> bytes:
    """The whole content of the regular file `path`, refusing files over `max_bytes`."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLargeError(f"{path} is larger than {max_bytes:,} bytes")
    return data


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
