"""Which zone local wall-clock times (WhatsApp, old Telegram, naive table columns) are read in.

``--timezone`` wins. Without it the machine's own zone is used, as the phone or computer that made
the export was most likely in the same zone as the person ingesting it, and a first command that
refuses to run helps nobody. The zone is found without extra packages (no ``tzlocal``), in the
order the C library itself honours: ``TZ``, then ``/etc/localtime`` (a link into the zoneinfo
tree on Linux and macOS), then Debian's ``/etc/timezone``. Only an IANA name is accepted, since
the summary and the corpus metadata name the zone; when none is found, times are read as UTC and
the summary says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from echoroom.ingest.errors import IngestError

OPTION, LOCAL, FALLBACK = "option", "local", "fallback"
_LOCALTIME = Path("/etc/localtime")
_TIMEZONE_FILE = Path("/etc/timezone")


@dataclass(frozen=True)
class Zone:
    name: str
    info: ZoneInfo
    source: str            # OPTION, LOCAL or FALLBACK
    why: str = ""          # for FALLBACK: what was looked at

    def describe(self) -> str:
        """The summary's line about the zone local times were read in."""
        if self.source == OPTION:
            return f"times read as {self.name} (--timezone)"
        if self.source == LOCAL:
            return f"times read as {self.name}, the local zone; --timezone to change"
        return f"times read as UTC: {self.why}; --timezone to change"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise IngestError(f"unknown timezone {name!r}; use an IANA name such as Europe/Berlin, "
                          "America/New_York or UTC") from None


def chosen(option: str | None, environ=os.environ, localtime: Path = _LOCALTIME,
           timezone_file: Path = _TIMEZONE_FILE) -> Zone:
    """The zone for this run: the option's, else the machine's (the paths are for tests)."""
    if option:
        return Zone(option, zone(option), OPTION)
    for name in _candidates(environ, localtime, timezone_file):
        try:
            return Zone(name, ZoneInfo(name), LOCAL)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    tz = environ.get("TZ")
    why = (f"TZ={tz!r} is not an IANA zone name" if tz else
           f"no IANA zone name found for this machine (TZ unset, {localtime} not a link into a "
           "zoneinfo folder)")
    return Zone("UTC", ZoneInfo("UTC"), FALLBACK, why)


def _candidates(environ, localtime: Path, timezone_file: Path):
    tz = environ.get("TZ")
    if tz is not None:
        # POSIX: ":Europe/Berlin" and a path into the zoneinfo tree name a zone file too. A set TZ
        # is what every program on the machine uses, so nothing else is asked.
        yield _after_zoneinfo(tz.lstrip(":")) or tz.lstrip(":")
        return
    try:
        target = os.path.realpath(localtime) if localtime.is_symlink() else None
    except OSError:
        target = None
    if target and (name := _after_zoneinfo(target)):
        yield name
    try:
        yield timezone_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        pass


def _after_zoneinfo(path: str) -> str | None:
    marker = "/zoneinfo/"
    if marker in path:
        name = path.split(marker, 1)[1]
        # Debian's "posix/" and "right/" trees hold the same zones under a prefix.
        return name.removeprefix("posix/").removeprefix("right/")
    return None
