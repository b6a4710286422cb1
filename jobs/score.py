"""Score Parquet corpora through both lenses into DuckDB, exactly once.

    python -m jobs.score --inputs=corpus.parquet --db=echoroom.duckdb
    accelerate launch --multi_gpu --num_processes 2 jobs/score.py --inputs=corpus/ --db=x.duckdb --processes=2
    echoroom score corpus/ --db x.duckdb --processes 2      # launches the line above for you

On a CPU-only machine ``--multi_gpu`` still gives N gloo processes (``--cpu --num_processes N``
silently starts one), hence ``--processes``: the job stops if the launch did not give that many.
The settings are ``echoroom.scoring.settings.ScoreSettings``; the work is ``echoroom.scoring.run``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by `accelerate launch jobs/score.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from echoroom.scoring import guard  # noqa: E402
from echoroom.scoring import settings as scoring_settings  # noqa: E402
from echoroom.scoring.settings import ScoreSettings  # noqa: E402
from echoroom.settings import parse  # noqa: E402
from echoroom.store import StoreError  # noqa: E402


def main(argv: list[str] | None = None) -> dict | None:
    from echoroom.scoring.run import start  # torch: after the parent-death request below

    settings = parse(ScoreSettings, sys.argv[1:] if argv is None else argv)
    return start(settings, program="jobs/score.py")


def launch_command(processes: int, argv: list[str]) -> list[str]:
    """The ``accelerate launch`` line that runs this job with ``argv`` on ``processes`` processes."""
    return scoring_settings.launch_command(parse(ScoreSettings, [*argv, f"--processes={processes}"]))


if __name__ == "__main__":
    if "TORCHELASTIC_RUN_ID" in os.environ:
        # A rank under `accelerate launch`: die with the launcher, never outlive it (see
        # echoroom/scoring/guard.py). Asked first thing, so the window before it is short.
        guard.die_with_parent()
    try:
        main()
    except (StoreError, guard.PeerLost) as exc:  # no database to write, or a node died: one line, its own code
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (ValueError, FileNotFoundError) as exc:
        # Bad settings or input: the message says what to fix; a traceback would bury it.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
