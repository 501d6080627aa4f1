"""All-or-nothing writes: stage every output beside its target, then rename them all into place.

A write goes to a hidden temporary file (or folder) in the target's folder, named
`.<name>.<pid>-<random>.tmp` after the writing process. Outside a transaction it is renamed over
the target as soon as it is complete. Inside `all_or_nothing()` (what `prepkit run` and
`prepkit apply` use) every write is staged and the renames happen together at the end: if one
of them fails, the ones already done are rolled back from backups of the files they replaced,
so a run writes all of its outputs or none.

New files follow the umask (`0666 & ~umask`, folders `0777 & ~umask`); a replaced file keeps its
mode. Temporary files left by a process that was killed (SIGKILL, power loss) are removed by the
next write of the same output, once their writer is gone.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from prepkit.errors import DataError, PrepkitError

_UMASK_LOCK = threading.Lock()


def _read_umask() -> int:
    # os.umask can only be read by setting it; the lock keeps other threads of this module from
    # seeing the temporary value, and it runs once, at import.
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


UMASK = _read_umask()


def _process_start() -> float:
    """When this process started (seconds since the epoch); stale temporaries are older."""
    try:  # start time in clock ticks since boot, compared with the boot clock (not /proc btime,
        # which is rounded to the second)
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - max(age, 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()


PROCESS_START = _process_start()


def new_file_mode(target: Path | None = None) -> int:
    """The mode an output gets: the replaced file's mode, else `0666 & ~umask`."""
    with contextlib.suppress(OSError):
        if target is not None and stat.S_ISREG((st := os.stat(target)).st_mode):
            return stat.S_IMODE(st.st_mode)
    return 0o666 & ~UMASK


def new_dir_mode(target: Path | None = None) -> int:
    """The mode an output folder gets: the replaced folder's mode, else `0777 & ~umask`."""
    with contextlib.suppress(OSError):
        if target is not None and stat.S_ISDIR((st := os.stat(target)).st_mode):
            return stat.S_IMODE(st.st_mode)
    return 0o777 & ~UMASK


# -- errors ---------------------------------------------------------------------------------------
_OS_ERROR = re.compile(r"os error (\d+)")
_HINTS = {
    errno.ENOSPC: "free some space on that disk, or write the output somewhere else",
    errno.EDQUOT: "free some space within your quota, or write the output somewhere else",
    errno.EACCES: "write the output to a folder you can write to",
    errno.EPERM: "write the output to a folder you can write to (is the file or folder immutable?)",
    errno.EROFS: "the file system is read-only: write the output somewhere else",
    errno.ENOTDIR: "a part of the output path is a file, not a folder",
    errno.EISDIR: "the output path is a folder: give a file path",
    errno.ENAMETOOLONG: "use a shorter file name",
}


def os_error_code(exc: BaseException) -> int | None:
    """The errno of an OSError, or the `(os error N)` that polars puts in its messages."""
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    match = _OS_ERROR.search(str(exc))
    return int(match.group(1)) if match else None


def write_error(path: Path | str, exc: BaseException, doing: str = "write") -> DataError:
    """`cannot write out.csv: no space left on device` with a hint, from an OS-level failure."""
    code = os_error_code(exc)
    if code is not None:
        reason = os.strerror(code)
        reason = reason[:1].lower() + reason[1:]
    else:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = _HINTS.get(code or 0, "check the output path")
    return DataError(f"cannot {doing} {path}: {reason}", hint=f"{hint}; no output was written")


def _is_write_failure(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or os_error_code(exc) is not None


# -- temporary names and stale ones ---------------------------------------------------------------
_TEMP_TAIL = re.compile(r"(\d+)-[a-z0-9_]+\.(tmp|bak)")


def _prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove `.<name>.<pid>-*.tmp` beside `target` left by writers that are gone.

    Only files older than this process whose writer process no longer exists are touched. A
    stale `.bak` (a backup from a commit that was killed midway) is put back when the target is
    missing, and removed otherwise. Returns the paths removed.
    """
    folder, lead = target.parent, f".{target.name}."
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(lead)]
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_TAIL.fullmatch(entry.name[len(lead) :])
        if not match:
            continue
        pid = int(match.group(1))
        try:
            if pid == os.getpid() or _alive(pid):
                continue
            if entry.stat(follow_symlinks=False).st_mtime >= PROCESS_START:
                continue
            path = Path(entry.path)
            if match.group(2) == "bak" and not os.path.lexists(target):
                os.replace(path, target)
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


# -- interruption ---------------------------------------------------------------------------------
class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: unwind (temporary files are removed on the way) and exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


_deferral = threading.local()


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold SIGINT/SIGTERM (as handled by `handle_interrupts`) until the block is done."""
    depth = getattr(_deferral, "depth", 0)
    _deferral.depth = depth + 1
    try:
        yield
    finally:
        _deferral.depth = depth
        pending = getattr(_deferral, "pending", None)
        if depth == 0 and pending is not None:
            _deferral.pending = None
            raise Interrupted(pending)


@contextlib.contextmanager
def handle_interrupts() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into `Interrupted` for the duration of the block.

    The exception unwinds the stack, so every staged output and temporary file is removed; a
    signal that arrives while outputs are being renamed into place waits until that is done.
    Only the main thread can install handlers; elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked child: behave as it would by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if getattr(_deferral, "depth", 0):
            _deferral.pending = signum
            return
        raise Interrupted(signum)

    # a signal the caller ignores (e.g. SIGINT of a background job) stays ignored
    previous = {
        s: signal.signal(s, handler)
        for s in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(s) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


# -- staging and committing -----------------------------------------------------------------------
@dataclass
class _Staged:
    target: Path
    tmp: Path
    folder: bool


@dataclass
class Transaction:
    """Outputs staged by `atomic_path`/`atomic_dir`, renamed into place together by `commit`."""

    staged: dict[Path, _Staged] = field(default_factory=dict)
    created_folders: list[Path] = field(default_factory=list)

    def stage(self, target: Path, tmp: Path, folder: bool) -> None:
        mode = new_dir_mode(target) if folder else new_file_mode(target)
        try:
            os.chmod(tmp, mode)
        except OSError as exc:
            raise write_error(target, exc) from None
        earlier = self.staged.pop(target, None)
        if earlier is not None:
            _remove(earlier.tmp)
        self.staged[target] = _Staged(target, tmp, folder)

    def discard(self) -> None:
        with _uninterrupted():
            for item in self.staged.values():
                _remove(item.tmp)
            self.staged.clear()
            for folder in reversed(self.created_folders):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: another output may live there
            self.created_folders.clear()

    def commit(self) -> None:
        """Rename every staged output over its target; on a failure, undo the ones done."""
        with _uninterrupted():
            done: list[tuple[_Staged, Path | None]] = []
            try:
                for item in self.staged.values():
                    backup = _backup(item)
                    done.append((item, backup))
                    try:
                        os.replace(item.tmp, item.target)
                    except OSError:
                        done.pop()
                        if backup is not None:
                            _restore(item, backup)
                        raise
            except OSError as exc:
                for item_done, backup in reversed(done):
                    if backup is not None:
                        _restore(item_done, backup)
                    else:
                        _remove(item_done.target)
                failed = item.target
                self.discard()
                raise write_error(failed, exc) from None
            for _, backup in done:
                if backup is not None:
                    _remove(backup)
            self.staged.clear()


def _backup(item: _Staged) -> Path | None:
    """Keep the file or folder `item` replaces until every rename has succeeded."""
    target = item.target
    if not os.path.lexists(target):
        return None
    backup = target.parent / f"{_prefix(target)}{os.urandom(6).hex()}.bak"
    if not item.folder and not os.path.isdir(target):
        # a hard link keeps the old contents while the target itself is replaced atomically
        with contextlib.suppress(OSError):
            os.link(target, backup, follow_symlinks=False)
            return backup
    os.replace(target, backup)
    return backup


def _restore(item: _Staged, backup: Path) -> None:
    with contextlib.suppress(OSError):
        if os.path.lexists(item.target) and os.path.samefile(backup, item.target):
            os.unlink(backup)  # a hard-link backup of a target that was never replaced
            return
        if item.folder and os.path.isdir(item.target) and not os.path.islink(item.target):
            shutil.rmtree(item.target)
        os.replace(backup, item.target)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


_ACTIVE: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "prepkit_transaction", default=None
)


@contextlib.contextmanager
def all_or_nothing() -> Iterator[Transaction]:
    """Stage every atomic write made in the block; commit them together when the block ends.

    An exception in the block discards everything staged. Nested blocks join the outer one.
    """
    outer = _ACTIVE.get()
    if outer is not None:
        yield outer
        return
    transaction = Transaction()
    token = _ACTIVE.set(transaction)
    try:
        yield transaction
    except BaseException:
        transaction.discard()
        raise
    finally:
        _ACTIVE.reset(token)
    transaction.commit()


def _prepare_folder(target: Path) -> None:
    missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(target.parent, exc, "create output folder") from None
    transaction = _ACTIVE.get()
    if transaction is not None:  # folders made for a run that fails are removed with it
        transaction.created_folders.extend(reversed(missing))
    remove_stale_temporaries(target)


@contextlib.contextmanager
def _staged(target: Path, tmp: Path, folder: bool) -> Iterator[Path]:
    try:
        yield tmp
        if not folder:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
    except BaseException as exc:
        with _uninterrupted():
            _remove(tmp)
        if isinstance(exc, Exception) and not isinstance(exc, PrepkitError):
            if _is_write_failure(exc):
                raise write_error(target, exc) from None
        raise
    with all_or_nothing() as transaction:
        transaction.stage(target, tmp, folder)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; when the block succeeds it replaces `target`.

    Inside `all_or_nothing()` the rename waits for the end of the transaction. On any error the
    temporary file is removed and an existing `target` is left untouched; OS-level failures
    (disk full, permission denied, read-only file system) become a `DataError` naming the path.
    """
    target = Path(target)
    _prepare_folder(target)
    try:
        fd, name = tempfile.mkstemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise write_error(target, exc) from None
    os.close(fd)
    with _staged(target, Path(name), folder=False) as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it replaces `target` as a whole."""
    target = Path(target)
    _prepare_folder(target)
    try:
        name = tempfile.mkdtemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise write_error(target, exc) from None
    with _staged(target, Path(name), folder=True) as tmp:
        yield tmp


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


# -- checks before a run --------------------------------------------------------------------------
def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file: equal once resolved, or the same inode."""
    with contextlib.suppress(OSError, RuntimeError):
        if Path(a).resolve() == Path(b).resolve():
            return True
    with contextlib.suppress(OSError, ValueError):
        return os.path.samefile(a, b)
    return False


def check_writable(path: Path, what: str, folder: bool = False) -> None:
    """Raise a `DataError` now if `path` cannot be written later.

    The destination must not be a folder when a file is expected (or a file when a folder is),
    and its folder must exist or be creatable and accept a new file (checked by creating one).
    """
    path = Path(path)
    if path.is_dir() and not folder:
        raise DataError(f"{what} {path} is a folder", hint="give a file path")
    if folder and path.exists() and not path.is_dir():
        raise DataError(f"{what} {path} exists and is not a folder", hint="give a new folder path")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DataError(
            f"cannot create output folder {path.parent}: {ancestor} is a file",
            hint="choose another output path",
        )
    remove_stale_temporaries(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=ancestor)
    except OSError as exc:
        doing = "write" if ancestor == path.parent else "create output folder"
        raise write_error(path if ancestor == path.parent else path.parent, exc, doing) from None
    os.close(fd)
    _remove(Path(probe))
