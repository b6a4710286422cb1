"""What a report covers: its settings, its period and its filters, checked when made."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from echoroom.settings import SettingError, check_choices, setting

GRAINS = ("auto", "day", "week")


class ReportError(ValueError):
    """A report that cannot be made, with what to do about it."""


class ReportSettingError(SettingError, ReportError):
    """A report setting that cannot be used: it names its field (``SettingError``) and is a
    ``ReportError``, so whoever catches report errors catches it too."""


@dataclass(frozen=True)
class ReportSettings:
    db: str = setting("echoroom.duckdb", "the scored DuckDB file, opened read-only")
    out: str = setting("report", "folder for report.html, report.eml and settings.json")
    start: str | None = setting(None, "first day or time in the report, inclusive (ISO, e.g. 2025-03-03 or "
                                "2025-03-03T09:00+01:00; UTC unless it names a zone)")
    end: str | None = setting(None, "end day or time, exclusive (ISO)")
    days: int | None = setting(None, "the N days before end (default end: today 00:00 UTC); "
                               "with neither days nor start: all messages")
    conversation: str | None = setting(None, "only this conversation id")
    channel: str | None = setting(None, "only this channel")
    sender: str | None = setting(None, "only this sender")
    shift_threshold: float = setting(0.6, "a message counts as shifted at this shift_score or above "
                                     "(docs/labels.md says why 0.6)")
    min_support: int = setting(5, "fewest messages a group, emotion or term needs to be ranked")
    top: int = setting(10, "rows per ranking (1 to 100)")
    grain: str = setting("auto", "shift over time per day or week; auto picks by the span", choices=GRAINS)
    include_text: bool = setting(False, "message text in the email too (it is always in report.html)")
    title: str = setting("The Echo Room: where meaning shifts", "report title and email subject")
    quiet: bool = setting(False, "do not print the settings and timings")

    def __post_init__(self):
        check_choices(self, ReportSettingError)
        if not 0 < self.shift_threshold < 1:
            raise ReportSettingError("shift_threshold", "{shift_threshold=}: expected a number between 0 and 1", self)
        if self.min_support < 1:
            raise ReportSettingError("min_support", "{min_support=}: expected 1 or more", self)
        if not 1 <= self.top <= 100:
            raise ReportSettingError("top", "{top=}: expected 1 to 100 (the email must stay small)", self)
        if self.days is not None and self.days < 1:
            raise ReportSettingError("days", "{days=}: expected 1 or more", self)
        if self.days is not None and self.start is not None:
            raise ReportSettingError("days", "{days} and {start} both given: use {days} (with {end}) "
                                     "or {start}/{end}", self)
        start, end = self.period()
        if start and end and start >= end:
            raise ReportSettingError("start", "{start=} is not before {end=}: nothing can match", self)

    def period(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        end = _instant("end", self.end)
        start = _instant("start", self.start)
        if self.days is not None:
            end = end or dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
            start = end - dt.timedelta(days=self.days)
        return start, end

    def filters(self) -> dict:
        start, end = self.period()
        return {"start": start, "end": end, "conversation": self.conversation,
                "channel": self.channel, "sender": self.sender}


def _instant(name: str, raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ReportSettingError(name, f"{{{name}=}}: expected an ISO date or time such as 2025-03-03 "
                                 "or 2025-03-03T09:00+01:00", {name: raw}) from None
    # A bare date or time is read as UTC, the zone every other date in the report uses.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
