"""Windows file semantics emulated on any OS for tests, and a probe for POSIX-only imports."""

from __future__ import annotations

import _io
import builtins
import errno
import io
import json
import os
import stat
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterable
from typing import IO, Any

from twisted.trial.unittest import SynchronousTestCase

import mailtwist.platform

#: Standard modules that exist only on POSIX; localserve must not need them.
POSIX_ONLY_MODULES = ("fcntl", "grp", "pwd", "resource", "termios")

#: What the baseline process imports: Python's basics and the Twisted reactor.
BASELINE_MODULES = (
    "os",
    "io",
    "json",
    "socket",
    "ssl",
    "threading",
    "subprocess",
    "twisted.internet.reactor",
)

_IN_USE = "The process cannot access the file because it is being used by another process"
_EXISTS = "Cannot create a file when that file already exists"

_Identity = tuple[int, int]


def _identity_of_path(path: Any, dir_fd: int | None = None) -> _Identity | None:
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except (OSError, TypeError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def _identity_of_fd(fd: int) -> _Identity | None:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class WindowsFiles:
    """The files opened while Windows is emulated, by (device, inode).

    A file counts as open while a file object made by ``open`` is not closed, or
    a descriptor from ``os.open`` still refers to it. Files opened before the
    emulation started, or by C code (sqlite3), are not seen.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: weakref.WeakKeyDictionary[IO[Any], _Identity] = weakref.WeakKeyDictionary()
        self._fds: dict[int, _Identity] = {}

    def opened_object(self, f: IO[Any]) -> None:
        try:
            identity = _identity_of_fd(f.fileno())
        except (OSError, ValueError, AttributeError):
            return
        if identity is not None:
            with self._lock:
                self._objects[f] = identity

    def opened_fd(self, fd: int) -> None:
        identity = _identity_of_fd(fd)
        if identity is not None:
            with self._lock:
                self._fds[fd] = identity

    def closed_fd(self, fd: int) -> None:
        with self._lock:
            self._fds.pop(fd, None)

    def _open_identities(self) -> set[_Identity]:
        with self._lock:
            objects = list(self._objects.items())
            fds = list(self._fds.items())
        found = {identity for f, identity in objects if not f.closed}
        for fd, identity in fds:
            # A descriptor closed behind our back (os.fdopen(...).close()) or reused.
            if _identity_of_fd(fd) == identity:
                found.add(identity)
            else:
                self.closed_fd(fd)
        return found

    def is_open(self, path: Any, dir_fd: int | None = None) -> bool:
        """Whether the file at ``path`` is open through a tracked handle."""
        identity = _identity_of_path(path, dir_fd)
        return identity is not None and identity in self._open_identities()


def _in_use(path: Any, other: Any = None) -> PermissionError:
    # Windows: ERROR_SHARING_VIOLATION (32) surfaces as PermissionError, errno EACCES.
    return PermissionError(errno.EACCES, _IN_USE, path, None, other)


def emulate_windows_files(testcase: SynchronousTestCase) -> WindowsFiles:
    """Make files behave as on Windows until ``testcase`` ends.

    - ``os.rename``, ``os.replace``, ``os.remove``, ``os.unlink`` and ``os.rmdir``
      of an open file raise PermissionError (opens through ``open``/``io.open``/
      ``os.open`` made from now on are tracked);
    - ``os.rename`` onto an existing file raises FileExistsError;
    - ``os.link`` does not exist;
    - ``os.fsync`` of a directory descriptor raises PermissionError;
    - ``mailtwist.platform.is_windows()`` is True.

    Everything is restored by the test's cleanups.
    """
    files = WindowsFiles()
    real_open = builtins.open
    real_os_open = os.open
    real_close = os.close
    real_rename = os.rename
    real_replace = os.replace
    real_remove = os.remove
    real_unlink = os.unlink
    real_rmdir = os.rmdir
    real_fsync = os.fsync

    def open_tracked(file: Any, *args: Any, **kwargs: Any) -> Any:
        f = real_open(file, *args, **kwargs)
        files.opened_object(f)
        return f

    def os_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        fd = real_os_open(path, flags, mode, dir_fd=dir_fd)
        files.opened_fd(fd)
        return fd

    def os_close(fd: int) -> None:
        files.closed_fd(fd)
        real_close(fd)

    def rename(
        src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None
    ) -> None:
        if files.is_open(src, src_dir_fd):
            raise _in_use(src, dst)
        # Windows MoveFile does not replace an existing target; os.replace does.
        if _identity_of_path(dst, dst_dir_fd) is not None:
            raise FileExistsError(errno.EEXIST, _EXISTS, src, None, dst)
        real_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    def replace(
        src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None
    ) -> None:
        if files.is_open(src, src_dir_fd) or files.is_open(dst, dst_dir_fd):
            raise _in_use(src, dst)
        real_replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    def remover(real: Any) -> Any:
        def remove(path: Any, *, dir_fd: int | None = None) -> None:
            if files.is_open(path, dir_fd):
                raise _in_use(path)
            real(path, dir_fd=dir_fd)

        return remove

    def fsync(fd: Any) -> None:
        number = fd if isinstance(fd, int) else fd.fileno()
        if stat.S_ISDIR(os.fstat(number).st_mode):
            # Windows cannot flush a directory handle (and cannot even open one).
            raise PermissionError(errno.EACCES, "Permission denied (directory fsync)")
        real_fsync(fd)

    for module in (builtins, io, _io):
        testcase.patch(module, "open", open_tracked)
    testcase.patch(os, "open", os_open)
    testcase.patch(os, "close", os_close)
    testcase.patch(os, "rename", rename)
    testcase.patch(os, "replace", replace)
    testcase.patch(os, "remove", remover(real_remove))
    testcase.patch(os, "unlink", remover(real_unlink))
    testcase.patch(os, "rmdir", remover(real_rmdir))
    testcase.patch(os, "fsync", fsync)
    testcase.patch(mailtwist.platform, "_windows_files", True)
    if hasattr(os, "link"):
        link = os.link
        del os.link
        testcase.addCleanup(setattr, os, "link", link)
    return files


_PROBE = r"""
import builtins, json, sys
watched = set(json.loads(sys.argv[1]))
packages = tuple(json.loads(sys.argv[2]))
direct = {}
real_import = builtins.__import__

def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    top = name.partition(".")[0]
    if level == 0 and top in watched:
        importer = (globals or {}).get("__name__", "?")
        if importer.partition(".")[0] in packages:
            direct.setdefault(top, set()).add(importer)
    return real_import(name, globals, locals, fromlist, level)

builtins.__import__ = recording_import
for name in sys.argv[3:]:
    __import__(name)
builtins.__import__ = real_import
print(json.dumps({
    "present": sorted(m for m in watched if m in sys.modules),
    "direct": {k: sorted(v) for k, v in direct.items()},
}))
"""


def _probe(modules: Iterable[str], packages: Iterable[str] = ()) -> dict[str, Any]:
    """Import ``modules`` in a fresh interpreter and report the POSIX-only modules."""
    env = dict(os.environ)
    # The child finds what this process finds (a source tree, trial's path).
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    argv = [
        sys.executable,
        "-c",
        _PROBE,
        json.dumps(POSIX_ONLY_MODULES),
        json.dumps(list(packages)),
        *modules,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"importing {list(modules)} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def posix_only_modules_imported(module_names: Iterable[str]) -> set[str]:
    """POSIX-only modules that importing ``module_names`` brings into ``sys.modules``.

    Compared with a baseline interpreter that imports only Python's basics and the
    Twisted reactor: on Linux the reactor itself imports fcntl, grp, pwd and termios,
    so those are only caught here when the baseline lacks them; see
    ``posix_only_imports_by`` for the direct imports whatever the baseline.
    """
    baseline = set(_probe(BASELINE_MODULES)["present"])
    return set(_probe(module_names)["present"]) - baseline


def posix_only_imports_by(
    module_names: Iterable[str], packages: Iterable[str] = ("mailtwist",)
) -> dict[str, set[str]]:
    """Which modules of ``packages`` execute an import of a POSIX-only module.

    Imports ``module_names`` in a fresh interpreter and records every ``import``
    statement naming one of POSIX_ONLY_MODULES made by a module inside
    ``packages``, even when the module was already loaded (so Twisted loading
    fcntl first hides nothing). Imports inside functions count only when run.
    """
    direct = _probe(module_names, packages)["direct"]
    return {name: set(importers) for name, importers in direct.items()}


__all__ = [
    "POSIX_ONLY_MODULES",
    "WindowsFiles",
    "emulate_windows_files",
    "posix_only_imports_by",
    "posix_only_modules_imported",
]
