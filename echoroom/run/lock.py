"""The run lock: one scheduled run at a time per database.

``filelock`` on ``DATABASE.lock``: on Linux and macOS that is ``flock(2)``, which the kernel drops
when its holder exits however it exits (SIGKILL, the OOM killer), so a crashed run never leaves a
stale lock behind and nobody has to clean one up. The lock file is never deleted: deleting it while
another run waits on it would let a third run lock a new file of the same name, and two would run
at once. Who holds the lock is written beside it, in ``DATABASE.lock.holder``, for the messages of
the runs that find it taken (the lock file itself is the library's to open and truncate).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout


class LockBusy(RuntimeError):
    """Another run holds the lock (and waiting, if asked, did not get it)."""


class RunLock:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.holder_path = self.path.with_name(self.path.name + ".holder")
        self._lock = FileLock(self.path)

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (best effort: for messages only)."""
        try:
            info = json.loads(self.holder_path.read_text() or "{}")
            return f"pid {info['pid']} on {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError):
            return "another process"

    def acquire(self, wait: float = 0.0, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock, waiting up to ``wait`` seconds; raise LockBusy if it stays taken.

        ``on_wait(holder)`` is called once if the lock is taken when we first try.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            if wait <= 0:
                raise self._busy("") from None
            if on_wait:
                on_wait(self.holder())
            try:
                self._lock.acquire(timeout=wait, poll_interval=0.5)
            except Timeout:
                raise self._busy(f" after waiting {wait:g} s") from None
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.holder_path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}))

    def _busy(self, waited: str) -> LockBusy:
        return LockBusy(f"another echoroom run holds {self.path} ({self.holder()}){waited}; this run did "
                        "nothing. Give --wait SECONDS to wait for it instead.")

    def release(self) -> None:
        if self._lock.is_locked:
            # Before the lock goes: once it is free, the holder file is the next run's to write.
            self.holder_path.unlink(missing_ok=True)
            self._lock.release()
