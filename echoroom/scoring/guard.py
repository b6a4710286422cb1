"""One writer, always: the database lock, and the leash on the processes a run launches.

The lock. ``filelock`` on ``DATABASE.lock``: on Linux and macOS that is ``flock(2)``, which the kernel
drops when its holder exits however it exits (SIGKILL, the OOM killer), so a crashed run never leaves
a stale lock behind and nobody has to clean one up. The lock file is never deleted: deleting it while
another run waits on it would let a third run lock a new file of the same name, and two would run
at once. Who holds the lock is written beside it, in ``DATABASE.lock.holder``, for the messages of
the runs that find it taken (the lock file itself is the library's to open and truncate).
``echoroom run`` holds it for all its steps; a scoring job started any other way (``echoroom score``,
``accelerate launch jobs/score.py``) takes it on its main process, so two scorers never meet.

The leash. ``echoroom run`` holds the lock in its own process while ``accelerate launch`` runs the
scoring processes; a lock cannot follow them there (the launcher closes inherited descriptors). So
the launched processes must never outlive the run: the launcher and every rank ask the kernel for
SIGKILL when their parent dies (``prctl(PR_SET_PDEATHSIG)``, Linux), each rank watches the run's pid
(named in ``ECHOROOM_LOCK_HOLDER``) in case it died before the rank could ask, and the main rank
checks that the run still holds the lock before each write to the database.

Signs of life. Across nodes no pid can be watched and a gloo barrier is a poor judge (it fails a
live node that is merely slow, after the pg timeout, and waits that long for one that vanished).
So each non-main rank keeps a ``Heartbeat`` file in the shared run folder while it scores, and the
main rank reads it (``Pulse``, used by ``shards.wait_for_shares``): a process is gone when its
heartbeat reports its error, when its pid is dead (same kernel and pid namespace: ``pid_space``),
or when the file has not changed for ``LOST_AFTER`` seconds, timed on the main rank's own clock.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from echoroom.store import StoreError

HOLDER_ENV = "ECHOROOM_LOCK_HOLDER"
BEAT_EVERY = 5.0     # seconds between two heartbeats of a scoring process
LOST_AFTER = 120.0   # seconds without a new heartbeat before the main process gives up on one
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_HELD: set[Path] = set()  # lock files this process holds, so an in-process scoring run does not re-take one


class PeerLost(RuntimeError):
    """Another process of a multi-process launch stopped before writing its share; the shards written are kept."""
    exit_code = 5  # scoring (docs/operations.md, "Exit codes"): fix and run again, it resumes


class LockBusy(StoreError):
    """Another run holds the lock (and waiting, if asked, did not get it)."""
    exit_code = 75  # EX_TEMPFAIL: try again later


def lock_path(db: str | os.PathLike) -> Path:
    db = Path(db)
    return db.with_name(db.name + ".lock")


class RunLock:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.holder_path = self.path.with_name(self.path.name + ".holder")
        self._lock = FileLock(self.path)

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (best effort: for messages only)."""
        info = self.holder_info()
        if not info:
            return "another process"
        return f"pid {info['pid']} on {info['host']}, since {info['since']}"

    def holder_info(self) -> dict:
        try:
            info = json.loads(self.holder_path.read_text() or "{}")
            return info if {"pid", "host", "since"} <= set(info) else {}
        except (OSError, ValueError):
            return {}

    def acquire(self, wait: float = 0.0, on_wait: Callable[[str], None] | None = None,
                fix: str = "Give --wait SECONDS to wait for it instead.") -> None:
        """Take the lock, waiting up to ``wait`` seconds; raise LockBusy (ending with ``fix``) if it
        stays taken. ``on_wait(holder)`` is called once if the lock is taken when we first try."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._take(wait, on_wait, fix)
        except PermissionError as exc:
            raise StoreError(f"{self.path}: cannot create the lock file beside the database: {exc.strerror}; "
                             "the database's folder must be writable") from None
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.holder_path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}))
        _HELD.add(self.path.resolve())

    def _take(self, wait: float, on_wait, fix: str) -> None:
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            if wait <= 0:
                raise self._busy("", fix) from None
            if on_wait:
                on_wait(self.holder())
            try:
                self._lock.acquire(timeout=wait, poll_interval=0.5)
            except Timeout:
                raise self._busy(f" after waiting {wait:g} s", fix) from None

    def _busy(self, waited: str, fix: str) -> LockBusy:
        return LockBusy(f"another echoroom run holds {self.path} ({self.holder()}){waited}; this run did "
                        f"nothing. {fix}")

    def taken(self) -> bool:
        """Whether some process holds the lock now (tried without keeping it)."""
        probe = FileLock(self.path)
        try:
            probe.acquire(blocking=False)
        except Timeout:
            return True
        probe.release()
        return False

    def release(self) -> None:
        if self._lock.is_locked:
            # Before the lock goes: once it is free, the holder file is the next run's to write.
            self.holder_path.unlink(missing_ok=True)
            _HELD.discard(self.path.resolve())
            self._lock.release()


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere a no-op).
    Safe as a ``preexec_fn``: it survives the exec of the launched program."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by its parent) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def launcher_pid() -> int | None:
    """The pid of the run that holds the lock for this launched job, if it was launched by one."""
    raw = os.environ.get(HOLDER_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) != os.getpid() else None


def watch_launcher(interval: float = 0.5) -> None:
    """In a launched process: end this process as soon as the run that holds the lock is gone.
    Covers the case ``die_with_parent`` cannot: the parent died before the process could ask."""
    pid = launcher_pid()
    if pid is None:
        return

    def watch() -> None:
        while alive(pid):
            time.sleep(interval)
        print(f"scoring process {os.getpid()}: the run that launched it (pid {pid}) is gone, and with it "
              "the lock; stopping without writing. Run again to resume.", file=sys.stderr, flush=True)
        os._exit(75)

    threading.Thread(target=watch, name="echoroom-lock-watch", daemon=True).start()


class Writer:
    """The scoring job's right to write ``db``, on its main process.

    Held by this process (``echoroom run`` scoring in-process): nothing to take. Launched by a run
    (``ECHOROOM_LOCK_HOLDER``): that run holds it; ``check`` verifies it still does before each write.
    Otherwise (``echoroom score``, a hand launch): taken here, for the whole job, or ``LockBusy``."""

    def __init__(self, db: str | os.PathLike):
        self.lock = RunLock(lock_path(db))
        self.launcher = launcher_pid()
        self.own = False

    def __enter__(self) -> Writer:
        if self.lock.path.resolve() in _HELD:
            return self
        if self.launcher is not None:
            self.check()
            return self
        self.lock.acquire(0.0, fix="Wait for it to finish (or stop it), then run again: finished work is kept.")
        self.own = True
        return self

    def check(self) -> None:
        """Before a write: the run that launched this job must still hold the lock."""
        if self.own or self.launcher is None or self.lock.path.resolve() in _HELD:
            return
        holder = self.lock.holder_info().get("pid")
        if not (alive(self.launcher) and holder == self.launcher and self.lock.taken()):
            raise StoreError(f"{self.lock.path}: not held by the run that launched this job (pid {self.launcher}; "
                             f"the lock is held by {self.lock.holder() if self.lock.taken() else 'nobody'}); "
                             "stopping without writing the database. Run again to resume.")

    def __exit__(self, *exc) -> None:
        if self.own:
            self.lock.release()


def pid_space() -> str | None:
    """This kernel boot and pid namespace: processes that share it can look each other's pids up
    (a hostname cannot tell: containers on two machines may both be "localhost"). None off Linux."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() + "/" + os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def heartbeat_path(run_dir: str | Path, rank: int) -> Path:
    return Path(run_dir) / f".rank-{rank:05d}.alive"  # hidden: never taken for a shard


class Heartbeat:
    """A scoring process's signs of life in the shared run folder, for the main process: a beat
    every ``every`` seconds from a thread while the block runs, and its error if it fails."""

    def __init__(self, run_dir: str | Path, rank: int, every: float = BEAT_EVERY):
        self.path, self.every, self.beats = heartbeat_path(run_dir, rank), every, 0
        self.who = {"rank": rank, "host": socket.gethostname(), "pid": os.getpid(), "space": pid_space()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="echoroom-heartbeat", daemon=True)

    def _write(self, **extra) -> None:
        self.beats += 1
        try:
            self.path.write_text(json.dumps({**self.who, "beat": self.beats, **extra}))
        except OSError:
            pass  # a shared filesystem's hiccup: one beat lost; LOST_AFTER allows for many

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self._write()

    def __enter__(self) -> Heartbeat:
        self._write()
        self._thread.start()
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self._stop.set()
        self._thread.join()
        if exc is not None:  # the main process stops at once, with this, instead of waiting
            self._write(failed=f"{kind.__name__}: {exc}")


def clear_heartbeats(run_dir: str | Path) -> None:
    """Main process, before the plan is broadcast: an earlier launch's heartbeats say nothing of this one's."""
    for path in Path(run_dir).glob(".rank-*.alive"):
        path.unlink(missing_ok=True)


class Pulse:
    """The main process's view of one other process's heartbeat."""

    def __init__(self, run_dir: Path, rank: int, since: float):
        self.path, self.text, self.changed = heartbeat_path(run_dir, rank), None, since

    def problem(self, now: float, lost_after: float) -> str | None:
        """Why that process is taken as gone, or None while it may still be working."""
        try:
            text = self.path.read_text()
        except OSError:
            text = None
        if text != self.text:
            self.text, self.changed = text, now
        try:
            info = json.loads(text or "{}")
        except ValueError:
            info = {}  # caught mid-write: it changed, so it lives
        if info.get("failed"):
            return f"it failed: {info['failed']}"
        if info.get("space") and info["space"] == pid_space() and not alive(info["pid"]):
            return f"its process (pid {info['pid']}) is gone"
        if now - self.changed > lost_after:
            return f"no sign of life from it for {lost_after:.0f} s (its node died, or lost the shared folder)"
        return None
