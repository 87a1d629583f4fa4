"""The only place with operating-system specific file operations (POSIX and Windows)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys

from twisted.logger import Logger

_log = Logger()

# Errors meaning "this filesystem cannot do that", not "something is wrong".
_UNSUPPORTED = frozenset(
    code
    for code in (
        errno.EINVAL,
        getattr(errno, "ENOTSUP", None),
        getattr(errno, "EOPNOTSUPP", None),
    )
    if code is not None
)

# Errors of os.link after which a copy does the job: another filesystem, too
# many links, a filesystem or policy without hard links.
_NO_LINK = _UNSUPPORTED | {errno.EXDEV, errno.EMLINK, errno.EPERM, errno.EACCES}

PathLike = str | os.PathLike[str]

# True on Windows; mailtwist.testing.windows sets it to emulate Windows in tests.
_windows_files = sys.platform == "win32"


def twistd_has_pid_files() -> bool:
    """Whether this platform's twistd writes pid files (and so has ``--pidfile``).

    The Windows runner has neither: it refuses the option as unknown.
    """
    return sys.platform != "win32"


def is_windows() -> bool:
    """Whether files follow Windows rules (open files cannot be renamed or removed)."""
    return _windows_files


def fsync_directory(path: PathLike) -> None:
    """Make renames and creations inside directory ``path`` durable.

    POSIX needs the directory itself fsync'd after a rename for the new name to
    survive a crash; Windows cannot open a directory for that (and NTFS journals
    the metadata), so there and where ``O_DIRECTORY`` is missing this does nothing.
    Filesystems that refuse a directory fsync (EINVAL) are tolerated.
    """
    if is_windows() or not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in _UNSUPPORTED:
            raise
        _log.debug("directory fsync unsupported for {path}: {error}", path=path, error=e)
    finally:
        os.close(fd)


def replace_file(src: PathLike, dst: PathLike) -> None:
    """Rename ``src`` to ``dst``, replacing ``dst`` atomically if it exists.

    The caller must have closed both files: Windows refuses to rename or replace
    an open file. For durability, call ``fsync_directory`` on ``dst``'s directory.
    """
    os.replace(src, dst)


def copy_or_link(src: PathLike, dst: PathLike) -> bool:
    """Make ``dst`` a file with ``src``'s content; True when it is a hard link.

    A hard link where the platform offers one, else a copy: on Windows always a
    copy, since a linked file shares its open/delete restrictions. ``dst`` must
    not exist (FileExistsError either way). A copy is not fsync'd.
    """
    link = getattr(os, "link", None)
    if link is not None and not is_windows():
        try:
            link(src, dst)
            return True
        except OSError as e:
            if e.errno not in _NO_LINK or isinstance(e, FileExistsError | FileNotFoundError):
                raise
            _log.debug(
                "hard link {src} -> {dst} failed ({error}), copying", src=src, dst=dst, error=e
            )
    with open(src, "rb") as source, open(dst, "xb") as target:
        try:
            shutil.copyfileobj(source, target)
        except BaseException:
            target.close()
            with contextlib.suppress(OSError):
                os.remove(dst)  # leave no partial copy behind
            raise
    return False


def restrict_permissions(path: PathLike) -> None:
    """Make ``path`` readable and writable by its owner only (0600); Windows: no-op.

    Windows has no POSIX mode bits; its ACLs are left to the directory's defaults.
    """
    if is_windows():
        return
    os.chmod(path, 0o600)


__all__ = [
    "copy_or_link",
    "fsync_directory",
    "is_windows",
    "replace_file",
    "restrict_permissions",
]
