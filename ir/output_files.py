"""Writing output files and folders safely: every file or folder snnc creates goes through here.

Each output

- is refused (never replaced) when its path names a symbolic link, a FIFO, a socket or a
  device, a folder where a file is expected or a file where a folder is, or, for a folder that
  is replaced as a whole, the current folder or one of its parents;
- is written to a temporary file or folder next to it and renamed into place, so a reader
  never sees half of it; the temporary is removed on failure;
- gets the user's umask: files ``0666 & ~umask``, folders ``0777 & ~umask``;
- reports an ``OSError`` (permissions, full or read-only disk, too long a name, a file in
  the way) as an :class:`~snnc.ir.errors.OutputError` naming the path and the reason: exit 2
  from the CLI, no traceback.

A folder replaced as a whole (``snnc compile -o OUT``, :func:`write_folder`) is also locked
while it is written: ``.OUT.lock`` next to it is held with ``flock``, so a second writer fails
instead of silently replacing the first one's result. Its temporary folders are named
``.OUT.snnc-tmp-<pid>-<random>`` (``snnc-old`` for the previous OUT during the swap); ones
left by a killed writer (its process gone, or older than :data:`STALE_SECONDS`) are removed
by the next writer of the same OUT.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from snnc.ir.errors import OutputError

logger = logging.getLogger(__name__)

#: a temporary folder of a writer whose process still exists is removed after this long
#: (the process id may have been reused by another program)
STALE_SECONDS = 3600

#: what a refused OS error means, and what would work instead
_HINTS = {
    errno.EACCES: "check the permissions of the folder, or write somewhere else",
    errno.EPERM: "check the permissions of the folder, or write somewhere else",
    errno.ENOSPC: "the disk is full: free some space, or write somewhere else",
    errno.EDQUOT: "the disk quota is used up: free some space, or write somewhere else",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.ENAMETOOLONG: "a name in the path is too long for the file system: choose a shorter one",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "the path is a folder: give a file name",
    errno.ELOOP: "a symbolic link is in the way: choose another path",
}


def os_error(path, e: OSError) -> OutputError:
    """The :class:`OutputError` for an OS error ``e`` met while writing ``path``."""
    reason = e.strerror or str(e)
    if e.filename is not None and os.fspath(e.filename) != os.fspath(path):
        reason += f": {os.fsdecode(e.filename)}"
    err = OutputError(f"{path}: cannot write it ({reason})", hint=_HINTS.get(e.errno))
    err.errno = e.errno
    return err


def umask() -> int:
    """The process umask (read without changing it for longer than two calls)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


# =============================================================================== checks


def _special(mode: int) -> str | None:
    """What a non-regular, non-folder file is, or None for a file or a folder."""
    for test, kind in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return None


def _lstat(path: Path) -> os.stat_result | None:
    """``lstat(path)``, or None when nothing is there (a missing folder on the way, or a file
    on the way, which :func:`_check_parents` names)."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise os_error(path, e) from None


def _refuse_special(path: Path, st: os.stat_result, expected: str) -> None:
    kind = _special(st.st_mode)
    if kind is None:
        return
    if stat.S_ISLNK(st.st_mode):
        hint = f"give the path it points to ({os.path.realpath(path)}) or another name"
    else:
        hint = f"give the path of a {expected} (a new name, or one snnc may replace)"
    raise OutputError(
        f"{path}: is {kind}, which snnc does not write through or replace (expected a {expected})",
        hint=hint,
    )


def _check_parents(path: Path) -> Path:
    """The nearest existing folder above ``path``; refuses a file on the way and a folder
    that cannot be written (permissions, a read-only file system)."""
    # the path's own parents first, so a message names them as the user wrote them
    for parent in (*path.parents, *path.absolute().parents):
        try:
            st = os.stat(parent)  # a link to a folder on the way is an ordinary folder
        except (FileNotFoundError, NotADirectoryError):
            continue  # missing (created later), or below a file (found further up)
        except OSError as e:
            raise os_error(path, e) from None
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(
                f"{path}: {parent} is not a folder (expected a folder to hold the output, got "
                f"{_special(st.st_mode) or 'a file'})",
                hint="choose a path whose folders are folders",
            )
        _check_writable(path, parent)
        return parent
    raise OutputError(f"{path}: no folder above it exists (is the current folder deleted?)")


def _check_writable(path: Path, folder: Path) -> None:
    """Refuse early (before any long computation) when ``folder`` cannot be written into."""
    if os.access(folder, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        return
    code = errno.EACCES
    with suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            code = errno.EROFS
    raise os_error(path, OSError(code, os.strerror(code), str(folder)))


def check_output_file(path) -> Path:
    """``path`` as a Path if a file may be written (or replaced) there; else raise.

    Refused: a symbolic link, a FIFO, a socket, a device or a folder at ``path``; a file on
    the way to it; a folder that cannot be written. A regular file is replaced.

    Raises:
        OutputError: naming the path, what is there and what would work.
    """
    path = Path(path)
    st = _lstat(path)
    if st is not None:
        _refuse_special(path, st, "regular file")
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(
                f"{path}: is a folder (expected a file name)",
                hint=f"give a file path, e.g. {os.path.join(path, 'NAME')}",
            )
    _check_parents(path)
    return path


def check_output_dir(path, *, replace: bool = False, force: bool = False) -> Path:
    """``path`` as a Path if a folder may be written there; else raise.

    With ``replace`` the folder is replaced as a whole (``snnc compile -o OUT``): it must be
    missing, empty, or ``force`` given, and may not be the current folder or one of its
    parents. Without it, files are written into the folder (``--dump-dir``, ``--plots``).
    Refused in both cases: a symbolic link (even to a folder), anything but a folder at
    ``path``, a file on the way, a folder that cannot be written.

    Raises:
        OutputError: naming the path, what is there and what would work.
    """
    path = Path(path)
    st = _lstat(path)
    if st is not None:
        _refuse_special(path, st, "folder")
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(
                f"{path}: exists and is not a folder (expected a folder, got a file)",
                hint="give a folder name, or remove the file",
            )
    if replace:
        _check_replaceable(path, st, force)
    if st is not None and not replace:
        _check_writable(path, path)
    else:
        _check_parents(path)
    return path


def _realpath(path) -> Path:
    """``path`` with links and ``..`` resolved (relative to the current folder)."""
    try:
        return Path(os.path.realpath(path))
    except OSError as e:  # the current folder was deleted
        raise os_error(path, e) from None


def _check_replaceable(path: Path, st: os.stat_result | None, force: bool) -> None:
    real = _realpath(path)
    cwd = _realpath(".")
    if real == cwd or real in cwd.parents:
        raise OutputError(
            f"{path}: is the current folder or contains it (expected a folder snnc may "
            f"replace as a whole)",
            hint=f"give a folder inside it, e.g. {os.path.join(path, 'NAME')}",
        )
    if _TEMP.fullmatch(real.name):
        raise OutputError(
            f"{path}: is named like a temporary folder of snnc (.NAME.snnc-tmp-PID-XXXXXXXX), "
            "which a later write may remove",
            hint="choose another name",
        )
    if st is None or force:
        return
    try:
        with os.scandir(path) as entries:
            empty = next(entries, None) is None
    except OSError as e:
        raise os_error(path, e) from None
    if not empty:
        raise OutputError(
            f"{path}: folder exists and is not empty",
            hint="pass --force (force=True) to replace it",
        )


def check_outputs(files=(), folders=()) -> None:
    """Check the output paths a command was given (None entries are skipped), before any
    long computation: :func:`check_output_file` for each of ``files``,
    :func:`check_output_dir` for each of ``folders`` (written into, not replaced)."""
    for f in files:
        if f is not None:
            check_output_file(f)
    for d in folders:
        if d is not None:
            check_output_dir(d)


# =============================================================================== files


def _short(name: str) -> str:
    """``name`` itself, or a shortened unique form, for names of files next to it (a
    temporary or a lock must fit the file system's name limit when ``name`` does)."""
    raw = os.fsencode(name)
    if len(raw) <= 120:
        return name
    return os.fsdecode(raw[:60]) + "~" + hashlib.sha256(raw).hexdigest()[:16]


def _makedirs(folder: Path, path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)  # mode 0777 & ~umask
    except OSError as e:
        raise os_error(path, e) from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to the file ``path`` via a temporary file in the same folder and a
    rename, so a reader never sees a half-written file; the file gets mode
    ``0666 & ~umask``. Missing folders are created.

    Raises:
        OutputError: see :func:`check_output_file`, or the OS error writing it (a full disk,
            permissions, ...), naming ``path``; the temporary file is removed.
    """
    path = check_output_file(path)
    _makedirs(path.parent, path)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{_short(path.name)}.snnc-tmp-{os.getpid()}-", dir=path.parent
        )
    except OSError as e:
        raise os_error(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            # mkstemp creates 0600; an output gets the user's usual mode
            os.fchmod(f.fileno(), 0o666 & ~umask())
            f.write(data)
        os.replace(tmp, path)  # a link put there meanwhile is replaced, never followed
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise os_error(path, e) from e
        raise


def save_figure(fig, path: str | os.PathLike, **savefig_options) -> None:
    """Render a matplotlib figure in memory (format from the suffix, as ``savefig(path)``
    picks it) and write it with :func:`atomic_write_bytes`, so a plot gets the same checks
    as every other output (no links or special files, the umask, OS errors named)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix[1:].lower() or None, **savefig_options)
    atomic_write_bytes(path, buf.getvalue())


# =============================================================================== folders

#: the name of a temporary folder of :func:`write_folder`: ``.<OUT>.snnc-<tmp|old>-<pid>-<8 chars
#: of tempfile's alphabet>``
_TEMP = re.compile(r"\..*\.snnc-(?:tmp|old)-\d+-[a-z0-9_]{8}")


def _temp_pattern(real: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(_short(real.name))}\.snnc-(?:tmp|old)-(\d+)-[a-z0-9_]{{8}}")


def _mkdtemp(real: Path, kind: str) -> Path:
    prefix = f".{_short(real.name)}.snnc-{kind}-{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=real.parent))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temporaries(out) -> list[Path]:
    """Remove the temporary folders of ``out`` left by writers that were killed (their
    process is gone, or the folder is older than :data:`STALE_SECONDS`); returns them.
    Only folders named by :func:`write_folder` for this very ``out`` are touched; the caller
    holds ``out``'s lock, so no live snnc is using them."""
    real = _realpath(out)
    pattern = _temp_pattern(real)
    removed = []
    try:
        with os.scandir(real.parent) as it:
            entries = list(it)
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if _alive(int(m[1])) and age < STALE_SECONDS:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        logger.info("removed %s (left by an interrupted snnc)", entry.path)
        removed.append(Path(entry.path))
    return removed


def lock_path(out) -> Path:
    """The lock file of the folder ``out``: ``.<name>.lock`` next to it."""
    real = _realpath(out)
    return real.parent / f".{_short(real.name)}.lock"


@contextmanager
def output_lock(out) -> Iterator[Path]:
    """Hold ``out``'s lock file (:func:`lock_path`, ``flock``, not waiting) for the ``with``
    block; yields the lock's path. The lock file holds the writer's process id and is removed
    on exit.

    Raises:
        OutputError: another process holds the lock ("another snnc is writing"), or the
            lock file cannot be created.
    """
    lock = lock_path(out)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        try:
            fd = os.open(lock, flags, 0o666)
        except OSError as e:
            raise os_error(out, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(
                f"{out}: another snnc is writing it (its lock {lock} is held)",
                hint="wait for it to finish, or write to another folder",
            ) from None
        except OSError as e:
            os.close(fd)
            raise os_error(out, e) from None
        # the previous holder removes the file on release: if it did so between our open and
        # flock, we hold a lock nobody else can see, so take the current file's instead
        try:
            current = os.lstat(lock)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(current, os.fstat(fd)):
            break
        os.close(fd)
    try:
        try:
            os.ftruncate(fd, 0)  # a killed holder's pid may still be there
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as e:
            raise os_error(out, e) from None
        yield lock
    finally:
        with suppress(OSError):
            os.unlink(lock)  # while still holding it: see the check above
        os.close(fd)


@contextmanager
def write_folder(out, *, force: bool = False) -> Iterator[Path]:
    """Write the folder ``out`` as a whole: the ``with`` block fills the temporary folder it
    is given, which then replaces ``out`` (only if ``out`` is missing or empty, unless
    ``force``). Nothing is published when the block raises, and the temporary is removed.

    While writing, ``out``'s lock is held (a second writer fails), stale temporaries of
    killed writers are removed, and ``out`` is checked again (another writer may have
    finished meanwhile). An OS error raised by the block is an error writing ``out``. The
    folder gets mode ``0777 & ~umask``; files the block creates get the umask themselves.

    Raises:
        OutputError: see :func:`check_output_dir` and :func:`output_lock`; an OS error
            writing the files; ``out`` appearing (not empty) while it was written.
    """
    shown = out
    check_output_dir(shown, replace=True, force=force)
    real = _realpath(shown)  # the lock and the temporaries sit next to the folder itself
    _makedirs(real.parent, shown)
    with output_lock(real):
        remove_stale_temporaries(real)
        check_output_dir(shown, replace=True, force=force)
        try:
            tmp = _mkdtemp(real, "tmp")
        except OSError as e:
            raise os_error(shown, e) from None
        try:
            try:
                tmp.chmod(0o777 & ~umask())  # mkdtemp makes it private; OUT is an ordinary folder
                yield tmp
            except OSError as e:
                if isinstance(e, OutputError):
                    raise
                raise os_error(shown, e) from e
            _publish(tmp, real, shown, force)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _publish(tmp: Path, real: Path, shown, force: bool) -> None:
    """Rename ``tmp`` to ``real``. Without ``force`` that is one rename, which replaces a
    missing or empty folder and fails on one with files: a folder another program filled
    since the check stays as it is. With ``force`` an existing ``real`` is moved aside first,
    so the swap is all-or-nothing."""
    old = None
    try:
        if force and os.path.lexists(real):
            old = _mkdtemp(real, "old")
            os.rename(real, old / "previous")
        os.rename(tmp, real)
    except OSError as e:
        if old is not None:
            with suppress(OSError):
                os.rename(old / "previous", real)  # put it back
            with suppress(OSError):
                old.rmdir()  # empty unless the previous folder could not be put back
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise OutputError(
                f"{shown}: appeared while snnc was writing it (expected it to stay missing or "
                "empty); it was left as it is",
                hint="find out what else writes there, then remove it or write to another folder",
            ) from None
        raise os_error(shown, e) from e
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
