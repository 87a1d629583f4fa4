"""Tests for mailtwist.platform and the Windows file emulation in mailtwist.testing.windows."""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

from twisted.trial.reporter import TestResult
from twisted.trial.unittest import SynchronousTestCase

from mailtwist import platform
from mailtwist.testing.windows import (
    emulate_windows_files,
    posix_only_imports_by,
    posix_only_modules_imported,
)

POSIX = sys.platform != "win32"


def _raise(error: Exception):  # type: ignore[no-untyped-def]
    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise error

    return fail


class TwistdTests(SynchronousTestCase):
    def test_pid_files_follow_the_platform(self) -> None:
        """Only the POSIX twistd writes pid files (the Windows runner has no --pidfile)."""
        self.patch(sys, "platform", "win32")
        self.assertFalse(platform.twistd_has_pid_files())
        self.patch(sys, "platform", "linux")
        self.assertTrue(platform.twistd_has_pid_files())


class NativePlatformTests(SynchronousTestCase):
    """The platform functions on the OS the tests run on."""

    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()

    def test_is_windows(self) -> None:
        """is_windows tells the truth about the running OS."""
        self.assertEqual(platform.is_windows(), sys.platform == "win32")

    def test_fsync_directory(self) -> None:
        """A directory can be fsync'd; a missing one is an error."""
        platform.fsync_directory(self.dir)
        platform.fsync_directory(str(self.dir))
        if POSIX:
            self.assertRaises(FileNotFoundError, platform.fsync_directory, self.dir / "nope")

    def test_fsync_directory_unsupported(self) -> None:
        """A filesystem refusing directory fsync (EINVAL) is tolerated, real errors are not."""
        if not hasattr(os, "O_DIRECTORY"):
            raise self.skipTest("no O_DIRECTORY here")
        self.patch(os, "fsync", _raise(OSError(errno.EINVAL, "Invalid argument")))
        platform.fsync_directory(self.dir)
        self.patch(os, "fsync", _raise(OSError(errno.EIO, "I/O error")))
        self.assertRaises(OSError, platform.fsync_directory, self.dir)

    def test_fsync_directory_without_o_directory(self) -> None:
        """Without O_DIRECTORY nothing is opened: directory fsync is a no-op."""
        if hasattr(os, "O_DIRECTORY"):
            saved = os.O_DIRECTORY
            del os.O_DIRECTORY
            self.addCleanup(setattr, os, "O_DIRECTORY", saved)
        self.patch(os, "open", _raise(AssertionError("opened")))
        platform.fsync_directory(self.dir)

    def test_replace_file(self) -> None:
        """replace_file moves the source over an existing destination."""
        src, dst = self.dir / "new", self.dir / "old"
        src.write_bytes(b"new")
        dst.write_bytes(b"old")
        platform.replace_file(src, dst)
        self.assertEqual(dst.read_bytes(), b"new")
        self.assertFalse(src.exists())

    def test_copy_or_link_links(self) -> None:
        """On POSIX the destination is a hard link to the source."""
        if not POSIX:
            raise self.skipTest("hard links are not used on Windows")
        src, dst = self.dir / "a", self.dir / "b"
        src.write_bytes(b"data")
        self.assertTrue(platform.copy_or_link(src, dst))
        self.assertEqual(os.stat(src).st_ino, os.stat(dst).st_ino)

    def test_copy_or_link_falls_back(self) -> None:
        """A link refused across filesystems (EXDEV) becomes a copy."""
        self.patch(os, "link", _raise(OSError(errno.EXDEV, "Invalid cross-device link")))
        src, dst = self.dir / "a", self.dir / "b"
        src.write_bytes(b"x" * 100_000)
        self.assertFalse(platform.copy_or_link(src, dst))
        self.assertEqual(dst.read_bytes(), b"x" * 100_000)
        self.assertNotEqual(os.stat(src).st_ino, os.stat(dst).st_ino)

    def test_copy_or_link_existing_destination(self) -> None:
        """An existing destination is never overwritten, linked or copied."""
        src, dst = self.dir / "a", self.dir / "b"
        src.write_bytes(b"new")
        dst.write_bytes(b"old")
        self.assertRaises(FileExistsError, platform.copy_or_link, src, dst)
        self.patch(os, "link", _raise(OSError(errno.EXDEV, "Invalid cross-device link")))
        self.assertRaises(FileExistsError, platform.copy_or_link, src, dst)
        self.assertEqual(dst.read_bytes(), b"old")

    def test_copy_or_link_missing_source(self) -> None:
        """A missing source is an error and creates no destination."""
        self.patch(os, "link", _raise(OSError(errno.EXDEV, "Invalid cross-device link")))
        dst = self.dir / "b"
        self.assertRaises(FileNotFoundError, platform.copy_or_link, self.dir / "a", dst)
        self.assertFalse(dst.exists())

    def test_copy_or_link_other_errors(self) -> None:
        """Link errors that a copy would not fix (EIO) are raised, not hidden."""
        self.patch(os, "link", _raise(OSError(errno.EIO, "I/O error")))
        src = self.dir / "a"
        src.write_bytes(b"data")
        self.assertRaises(OSError, platform.copy_or_link, src, self.dir / "b")

    def test_restrict_permissions(self) -> None:
        """The file becomes readable and writable by its owner only."""
        if not POSIX:
            raise self.skipTest("no mode bits on Windows")
        path = self.dir / "secret"
        path.write_bytes(b"key")
        os.chmod(path, 0o644)
        platform.restrict_permissions(path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)


class WindowsEmulationTests(SynchronousTestCase):
    """emulate_windows_files makes this process follow Windows file rules."""

    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()
        self.path = self.dir / "file"
        self.path.write_bytes(b"content")
        self.files = emulate_windows_files(self)

    def test_is_windows(self) -> None:
        """platform.is_windows() is True, also through a name imported earlier."""
        from mailtwist.platform import is_windows

        self.assertTrue(platform.is_windows())
        self.assertTrue(is_windows())

    def test_remove_open_file(self) -> None:
        """Removing a file opened with open() fails until it is closed."""
        f = open(self.path, "rb")  # noqa: SIM115
        self.assertTrue(self.files.is_open(self.path))
        self.assertRaises(PermissionError, os.remove, self.path)
        self.assertRaises(PermissionError, os.unlink, str(self.path))
        self.assertRaises(PermissionError, self.path.unlink)
        f.close()
        self.assertFalse(self.files.is_open(self.path))
        os.remove(self.path)
        self.assertFalse(self.path.exists())

    def test_error_names_file(self) -> None:
        """The PermissionError carries EACCES and the file name, like Windows'."""
        with open(self.path, "rb"):
            error = self.assertRaises(PermissionError, os.remove, self.path)
        self.assertEqual(error.errno, errno.EACCES)
        self.assertEqual(error.filename, self.path)

    def test_os_open_tracked(self) -> None:
        """A descriptor from os.open keeps the file in use until os.close."""
        fd = os.open(self.path, os.O_RDONLY)
        self.assertRaises(PermissionError, os.unlink, self.path)
        os.close(fd)
        os.unlink(self.path)

    def test_fdopen_close(self) -> None:
        """A descriptor closed through os.fdopen(...).close() no longer counts."""
        fd = os.open(self.path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            self.assertEqual(f.read(), b"content")
            self.assertRaises(PermissionError, os.remove, self.path)
        os.remove(self.path)

    def test_pathlib_open(self) -> None:
        """Files opened through pathlib are tracked too."""
        with self.path.open("ab"):
            self.assertRaises(PermissionError, self.path.unlink)
        self.path.unlink()

    def test_rename_open_file(self) -> None:
        """Renaming an open file fails; closed, it works."""
        target = self.dir / "moved"
        with open(self.path, "rb"):
            self.assertRaises(PermissionError, os.rename, self.path, target)
            self.assertRaises(PermissionError, os.replace, self.path, target)
        os.rename(self.path, target)
        self.assertTrue(target.exists())

    def test_rename_onto_existing(self) -> None:
        """os.rename does not replace an existing file, os.replace does."""
        other = self.dir / "other"
        other.write_bytes(b"other")
        self.assertRaises(FileExistsError, os.rename, self.path, other)
        os.replace(self.path, other)
        self.assertEqual(other.read_bytes(), b"content")

    def test_replace_onto_open_file(self) -> None:
        """os.replace onto a file that is open fails."""
        other = self.dir / "other"
        other.write_bytes(b"other")
        with open(other, "rb"):
            self.assertRaises(PermissionError, os.replace, self.path, other)
        os.replace(self.path, other)

    def test_dir_fd(self) -> None:
        """Removal relative to a directory descriptor sees open files too."""
        if os.unlink not in os.supports_dir_fd and not POSIX:
            raise self.skipTest("no dir_fd")
        dir_fd = os.open(self.dir, os.O_RDONLY)
        self.addCleanup(os.close, dir_fd)
        with open(self.path, "rb"):
            self.assertRaises(PermissionError, os.unlink, "file", dir_fd=dir_fd)
        os.unlink("file", dir_fd=dir_fd)

    def test_no_link(self) -> None:
        """os.link does not exist."""
        self.assertFalse(hasattr(os, "link"))
        self.assertRaises(AttributeError, getattr, os, "link")
        self.assertRaises(NotImplementedError, (self.dir / "l").hardlink_to, self.path)

    def test_fsync_directory_descriptor(self) -> None:
        """fsync of a directory descriptor fails; of a file it works."""
        fd = os.open(self.dir, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        self.assertRaises(PermissionError, os.fsync, fd)
        with open(self.path, "ab") as f:
            os.fsync(f.fileno())
            os.fsync(f)

    def test_platform_fsync_directory(self) -> None:
        """platform.fsync_directory does nothing under Windows rules."""
        platform.fsync_directory(self.dir)

    def test_platform_replace_file(self) -> None:
        """replace_file works on closed files and fails on open ones."""
        new = self.dir / "new"
        with open(new, "wb") as f:
            f.write(b"new")
            self.assertRaises(PermissionError, platform.replace_file, new, self.path)
        platform.replace_file(new, self.path)
        self.assertEqual(self.path.read_bytes(), b"new")

    def test_platform_copy_or_link(self) -> None:
        """copy_or_link copies, and the copy is independent of the source."""
        copy = self.dir / "copy"
        self.assertFalse(platform.copy_or_link(self.path, copy))
        self.assertEqual(copy.read_bytes(), b"content")
        self.assertFalse(self.files.is_open(self.path))
        self.assertFalse(self.files.is_open(copy))
        os.remove(self.path)
        self.assertEqual(copy.read_bytes(), b"content")

    def test_platform_restrict_permissions(self) -> None:
        """restrict_permissions leaves mode bits alone under Windows rules."""
        os.chmod(self.path, 0o644)
        platform.restrict_permissions(self.path)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o644)


class EmulationRestoredTests(SynchronousTestCase):
    """The emulation ends with the test that started it."""

    class Emulating(SynchronousTestCase):
        def test_emulate(self) -> None:
            emulate_windows_files(self)
            assert platform.is_windows()

    def test_restored(self) -> None:
        """After the emulating test, os, open and is_windows are the originals."""
        originals = (open, os.open, os.close, os.rename, os.replace, os.remove, os.fsync)
        result = TestResult()
        self.Emulating("test_emulate").run(result)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(
            (open, os.open, os.close, os.rename, os.replace, os.remove, os.fsync), originals
        )
        self.assertEqual(platform.is_windows(), sys.platform == "win32")
        self.assertEqual(hasattr(os, "link"), POSIX)


class PosixImportsTests(SynchronousTestCase):
    """The probes for POSIX-only modules."""

    def test_our_modules_import_none(self) -> None:
        """platform and the Windows fixture bring in no POSIX-only module at all."""
        mine = ["mailtwist.platform", "mailtwist.testing.windows"]
        self.assertEqual(posix_only_modules_imported(mine), set())
        self.assertEqual(posix_only_imports_by(mine), {})

    def test_metrics_imports(self) -> None:
        """metrics imports none itself; only prometheus_client's guarded `resource`.

        prometheus_client.process_collector does ``try: import resource`` and runs
        without it, so this one is harmless on Windows.
        """
        self.assertLessEqual(posix_only_modules_imported(["mailtwist.metrics"]), {"resource"})
        found = posix_only_imports_by(["mailtwist.metrics"], packages=["mailtwist"])
        self.assertEqual(found, {})
        pulled = posix_only_imports_by(["mailtwist.metrics"], packages=["prometheus_client"])
        self.assertEqual(pulled, {"resource": {"prometheus_client.process_collector"}})

    def test_detects_new_module(self) -> None:
        """A module that pulls in `resource` is reported."""
        if not POSIX:
            raise self.skipTest("POSIX only")
        self.assertEqual(posix_only_modules_imported(["resource"]), {"resource"})

    def test_detects_direct_import_even_if_loaded(self) -> None:
        """A direct import is reported even when the module was already loaded."""
        if not POSIX:
            raise self.skipTest("POSIX only")
        found = posix_only_imports_by(["twisted.internet.reactor", "tty"], packages=["tty"])
        self.assertEqual(found, {"termios": {"tty"}})

    def test_import_failure(self) -> None:
        """A module that cannot be imported is an error, not an empty answer."""
        self.assertRaises(RuntimeError, posix_only_modules_imported, ["mailtwist.no_such"])
