"""Headless Chromium for the report tests: load a file, let its scripts run, keep the DOM and a
screenshot. Debian's ``chromium`` package (installed by .ci/run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from html_dom import parse

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


def dump_dom(page: Path, profile: Path, fragment: str = "", size: str | None = None) -> str:
    """The serialised DOM of ``page`` (opened at ``#fragment``, in a ``size`` window) once its
    scripts ran (virtual time lets them finish)."""
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    result = _run(([f"--window-size={size}"] if size else []) + ["--dump-dom", url], profile)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def dom_after_scripts(page: Path, out: Path) -> str:
    """The serialised DOM once the page's scripts ran, also kept beside the page's other outputs."""
    dom = dump_dom(page, out / "chromium-profile")
    (out / f"{page.stem}.dom.html").write_text(dom)
    return dom


def filtered(page: Path, out: Path, **chosen: str):
    """The parsed DOM after opening ``page#filter=key/value&...``, which sets the report's global
    filters the way a person does (choose, then the change event) once the charts are drawn."""
    dom = parse(dump_dom(page, out / "profile", "filter=" + "&".join(f"{k}/{quote(v, safe='')}"
                                                                       for k, v in chosen.items())))
    assert dom.find("body")[0].attrs.get("data-filter-ready") == "1"
    return dom


def screenshot(page: Path, out: Path, size: str = "1100,3000") -> Path:
    shot = out / f"{page.stem}.png"
    result = _run([f"--screenshot={shot}", f"--window-size={size}", page.resolve().as_uri()],
                  out / "chromium-profile-shot")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    return shot
