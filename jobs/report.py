"""Make the shift report from a scored DuckDB file: report.html (interactive, offline) and
report.eml (email-safe), plus the settings used, in one output folder.

    python -m jobs.report --db=echoroom.duckdb --out=report
    python -m jobs.report --db=echoroom.duckdb --out=weekly --days=7 --include_text=true

Sending the .eml is a separate step (``echoroom email``), so a report can be checked before it goes.
"""

from __future__ import annotations

import sys
import time

from echoroom import settings as S
from echoroom.report.render import build
from echoroom.report.settings import ReportSettings


def run(settings: ReportSettings) -> dict:
    if not settings.quiet:
        print("report settings:\n" + S.describe(settings), flush=True)
    t0 = time.perf_counter()
    written = build(settings)
    if not settings.quiet:
        print(f"{written['messages']:,} messages in scope; wrote {written['html']}, {written['eml']} "
              f"and {written['settings']} in {time.perf_counter() - t0:.1f} s")
    return written


def main(argv: list[str] | None = None) -> int:
    try:
        run(S.parse(ReportSettings, sys.argv[1:] if argv is None else argv))
    except (ValueError, FileNotFoundError) as exc:  # bad settings (ReportError is one) or no database
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
