"""What a report covers: its settings, its period and its filters, checked when made."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

GRAINS = ("auto", "day", "week")


class ReportError(ValueError):
    """A report that cannot be made, with what to do about it."""


@dataclass(frozen=True)
class ReportSettings:
    db: str = "echoroom.duckdb"       # the scored DuckDB file (read only)
    out: str = "report"               # folder for report.html, report.eml and settings.json
    start: str | None = None          # ISO date or time, inclusive; UTC unless it names a zone
    end: str | None = None            # ISO date or time, exclusive
    days: int | None = None           # without --start: the N days before --end (default: today 00:00 UTC)
    conversation: str | None = None   # only this conversation_id
    channel: str | None = None        # only this channel
    sender: str | None = None         # only this sender
    min_support: int = 5              # fewest messages a group, emotion or term needs to be ranked
    top: int = 10                     # rows per ranking
    grain: str = "auto"               # shift over time per day or week; auto picks by the span
    include_text: bool = False        # message text in the email (always in report.html)
    title: str = "The Echo Room: where meaning shifts"
    quiet: bool = False               # do not print the settings

    def __post_init__(self):
        if self.grain not in GRAINS:
            raise ReportError(f"--grain={self.grain}: expected one of {', '.join(GRAINS)}")
        if self.min_support < 1:
            raise ReportError(f"--min_support={self.min_support}: expected 1 or more")
        if not 1 <= self.top <= 100:
            raise ReportError(f"--top={self.top}: expected 1 to 100 (the email must stay small)")
        if self.days is not None and self.days < 1:
            raise ReportError(f"--days={self.days}: expected 1 or more")
        if self.days is not None and self.start is not None:
            raise ReportError("--days and --start both given: use --days (with --end) or --start/--end")
        start, end = self.period()
        if start and end and start >= end:
            raise ReportError(f"--start={self.start} is not before --end={self.end}: nothing can match")

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
        raise ReportError(f"--{name}={raw}: expected an ISO date or time such as 2025-03-03 "
                          "or 2025-03-03T09:00+01:00") from None
    # A bare date or time is read as UTC, the zone every other date in the report uses.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
