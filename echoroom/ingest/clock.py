"""Turning source timestamps into UTC instants.

Sources with an offset (Discord, Slack, Telegram's ``date_unixtime``, ISO strings with ``Z`` or
``+02:00``) keep it. Sources without one (WhatsApp, Telegram's ``date``, naive CSV columns) are wall
clock times read in the ``--timezone`` zone (default: the machine's, see ``zones``), one
``LocalClock`` per conversation, because the
daylight-saving rule below looks at the previous message of the same conversation:

- a time that occurs twice (the hour repeated when clocks go back) is read as the earlier of the
  two, unless that would put it before the message above it, then as the later one: a chat log is
  in order, so that choice follows the log;
- a time that never occurs (the hour skipped when clocks go forward; a phone cannot write one, but
  edited or converted logs can) is read with the offset in force before the gap, so 02:30 on a
  spring-forward night in Berlin becomes 01:30 UTC, i.e. 03:30 summer time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
# Beyond 1e11 seconds is the year 5138: such numbers are Unix milliseconds.
_MILLIS_FROM = 1e11


class LocalClock:
    def __init__(self, zone: ZoneInfo, where: str, used: Callable[[], None] = lambda: None):
        self.zone = zone
        self.where = where
        self._used = used  # told once, so the summary names the zone only when it mattered
        self._last: datetime | None = None

    def utc(self, wall: datetime) -> datetime:
        """A naive wall-clock time in this clock's zone, as an aware UTC datetime."""
        if self._used is not None:
            self._used()
            self._used = None
        early = wall.replace(tzinfo=self.zone, fold=0)
        late = wall.replace(tzinfo=self.zone, fold=1)
        chosen = early
        if early.utcoffset() != late.utcoffset():
            exists = early.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) == wall
            if exists and self._last is not None and early.astimezone(UTC) < self._last:
                chosen = late  # the repeated hour, second pass
        instant = chosen.astimezone(UTC)
        self._last = instant
        return instant

    def instant(self, value) -> tuple[datetime, str]:
        """Any timestamp a table or JSON export holds, as (UTC datetime, key for stable ids).

        The key is the time as the source wrote it (wall time when naive), so ids do not change
        with ``--timezone``. Numbers are Unix seconds, or milliseconds when above 1e11.
        """
        if isinstance(value, str):
            text = value.strip()
            if _NUMBER.fullmatch(text):
                value = float(text)
            else:
                try:
                    value = datetime.fromisoformat(text)
                except ValueError:
                    raise ValueError(f"unreadable timestamp {value!r}: expected ISO 8601 "
                                     "(2024-03-31T02:30:00, optionally with Z or +02:00) or "
                                     "Unix seconds") from None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = value / 1000 if abs(value) > _MILLIS_FROM else value
            utc = from_unix(seconds)
            return utc, utc.isoformat()
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                return self.utc(value), value.isoformat()
            utc = value.astimezone(UTC)
            return utc, utc.isoformat()
        raise ValueError(f"unreadable timestamp {value!r} of type {type(value).__name__}")


def from_unix(seconds: float | str) -> datetime:
    """Unix seconds as a UTC datetime, exact to the microsecond for strings like Slack's
    ``"1700000000.000200"`` (a float would round the last digits)."""
    if isinstance(seconds, str):
        whole, _, fraction = seconds.strip().partition(".")
        micros = int((fraction + "000000")[:6]) if fraction else 0
        sign = -1 if whole.startswith("-") else 1
        return _EPOCH + timedelta(seconds=int(whole), microseconds=sign * micros)
    return _EPOCH + timedelta(seconds=seconds)

