"""Start-up: wall time of the commands people run by hand, each in a fresh process, against a
baseline measured in the same run (round by round, so a busy machine slows both alike).

    python bench/bench_startup.py [--repeats=3] [--n=64]

Baseline: ``python -c "import torch, transformers"``, the floor of any command that reads text
through the lenses. Rows: ``echoroom --help``, ``echoroom sql --list`` (neither may import torch:
checked), ``echoroom predict "one line"`` and ``echoroom score`` of N synthetic messages into a new
database (one process). Prints the median seconds and the ratio to the baseline's median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ECHOROOM = [sys.executable, "-m", "echoroom.cli"]
# Runs the CLI in-process, then says whether torch was imported (a light command must not).
TORCH_CHECK = ("import sys\nfrom echoroom.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
               "    pass\nprint('TORCH', 'torch' in sys.modules)")


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return seconds


def imports_torch(args: list[str]) -> bool:
    out = subprocess.run([sys.executable, "-c", TORCH_CHECK, *args], cwd=ROOT, capture_output=True, text=True)
    return "TORCH True" in out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=64, help="messages scored by the score row")
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    from echoroom.demo import chatter

    tmp = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    corpus = tmp / "corpus.parquet"
    pq.write_table(pa.table(chatter.messages(args.n, seed=0)), corpus)
    rows = {
        "baseline: import torch, transformers": lambda i: [sys.executable, "-c", "import torch, transformers"],
        "echoroom --help": lambda i: [*ECHOROOM, "--help"],
        "echoroom sql --list": lambda i: [*ECHOROOM, "sql", "--list"],
        'echoroom predict "one line"': lambda i: [*ECHOROOM, "predict", "oh great, another meeting, love it"],
        f"echoroom score ({args.n} messages)": lambda i: [*ECHOROOM, "score", str(corpus),
                                                          "--db", str(tmp / f"run{i}.duckdb")],
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    wall(rows["echoroom --help"](0))  # warm the file cache and bytecode once, not timed
    for i in range(args.repeats):
        for name, cmd in rows.items():
            times[name].append(wall(cmd(i)))
    base = statistics.median(times[next(iter(rows))])
    print(f"{args.repeats} rounds, median wall seconds (fresh process each), ratio to the baseline's median")
    print("| command | seconds | vs baseline | runs |\n|---|---|---|---|")
    for name, got in times.items():
        print(f"| {name} | {statistics.median(got):.2f} | {statistics.median(got) / base:.2f}x | "
              f"{', '.join(f'{t:.2f}' for t in got)} |")
    for light in (["--help"], ["sql", "--list"]):
        print(f"echoroom {' '.join(light)} imports torch: {imports_torch(light)}")


if __name__ == "__main__":
    main()
