"""The run lock: one scheduled run at a time per database.

``fcntl.flock`` on ``DATABASE.lock``. The kernel drops the lock when its holder exits however it
exits (SIGKILL, power cut of the process), so a crashed run never leaves a stale lock behind and
nobody has to clean one up; a pid file would. The file is never deleted: deleting it while another
run waits on it would let a third run lock a new file of the same name, and two would run at once.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class LockBusy(RuntimeError):
    """Another run holds the lock (and waiting, if asked, did not get it)."""


class RunLock:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (best effort: for messages only)."""
        try:
            info = json.loads(self.path.read_text() or "{}")
            return f"pid {info['pid']} on {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError):
            return "another process"

    def acquire(self, wait: float = 0.0, poll: float = 0.5, on_wait=None) -> None:
        """Take the lock, waiting up to ``wait`` seconds; raise LockBusy if it stays taken.

        ``on_wait(holder)`` is called once if the lock is taken when we first try.
        """
        if fcntl is None:
            raise LockBusy("file locks need a POSIX system (fcntl)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, wait)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    holder = self.holder()
                    os.close(fd)
                    waited = f" after waiting {wait:g} s" if wait > 0 else ""
                    raise LockBusy(f"another echoroom run holds {self.path} ({holder}){waited}; this run "
                                   "did nothing. Give --wait SECONDS to wait for it instead.") from None
                if not told and on_wait:
                    on_wait(self.holder())
                    told = True
                time.sleep(min(poll, left))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
