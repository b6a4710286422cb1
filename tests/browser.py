"""Headless Chromium for the report tests: load a file, let its scripts run, keep the DOM and a
screenshot. Debian's ``chromium`` package (installed by .ci/run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--disable-dev-shm-usage", "--virtual-time-budget=10000"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.fail("headless Chromium is needed: apt-get install -y chromium (.ci/run installs it)")


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def dom_after_scripts(page: Path, out: Path) -> str:
    """The serialised DOM once the page's scripts ran (virtual time lets them finish)."""
    result = _run(["--dump-dom", page.resolve().as_uri()], out / "chromium-profile")
    assert result.returncode == 0, result.stderr[-2000:]
    (out / f"{page.stem}.dom.html").write_text(result.stdout)
    return result.stdout


def screenshot(page: Path, out: Path, size: str = "1100,3000") -> Path:
    shot = out / f"{page.stem}.png"
    result = _run([f"--screenshot={shot}", f"--window-size={size}", page.resolve().as_uri()],
                  out / "chromium-profile-shot")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    return shot
