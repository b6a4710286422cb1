"""Make the shift report from a scored DuckDB file: report.html (interactive, offline) and
report.eml (email-safe), plus the settings used, in one output folder.

    python -m jobs.report --db=echoroom.duckdb --out=report
    python -m jobs.report --db=echoroom.duckdb --out=weekly --days=7 --include_text=true

Sending the .eml is a separate step (``echoroom email``), so a report can be checked before it goes.
"""

from __future__ import annotations

import sys

from echoroom import settings as S
from echoroom.report.render import make
from echoroom.report.settings import ReportSettings


def main(argv: list[str] | None = None) -> int:
    try:
        make(S.parse(ReportSettings, sys.argv[1:] if argv is None else argv))
    except (ValueError, FileNotFoundError) as exc:  # bad settings (ReportError is one) or no database
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
