"""Start-up: wall time of the commands people run by hand, each in a fresh process, against a
baseline measured in the same run (round by round, so a busy machine slows both alike).

    python bench/bench_startup.py [--repeats=3] [--n=64]

Baseline: ``python -c "import torch, transformers"``, what any command that read text through
transformers paid before it did anything. Rows: ``echoroom --help``, ``echoroom sql --list`` (neither
may import torch: checked), ``echoroom predict "one line"`` (goal: under 3 s warm; it may import torch
but not transformers: checked) and ``echoroom score`` of N synthetic messages into a new database (one
process). Prints the median wall seconds, the ratio to the baseline's median, and the median CPU
seconds (user + system): on a machine shared with other work, wall time waits for the CPU and CPU
time does not.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ECHOROOM = [sys.executable, "-m", "echoroom.cli"]
# Runs the CLI in-process, then says which heavy packages it imported.
HEAVY = ("torch", "transformers", "sklearn", "scipy", "polars", "duckdb", "altair")
IMPORT_CHECK = ("import sys\nfrom echoroom.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
                f"    pass\nprint('IMPORTED', *[m for m in {HEAVY!r} if m in sys.modules])")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``cmd``."""
    cpu, t0 = children_cpu(), time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return seconds, children_cpu() - cpu


def heavy_imports(args: list[str]) -> str:
    out = subprocess.run([sys.executable, "-c", IMPORT_CHECK, *args], cwd=ROOT, capture_output=True, text=True)
    return " ".join(out.stdout.rsplit("IMPORTED", 1)[-1].split()) or "none"


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
    cpus: dict[str, list[float]] = {name: [] for name in rows}
    for cmd in (rows["echoroom --help"](0), rows['echoroom predict "one line"'](0)):
        wall(cmd)  # warm the file cache and bytecode once, not timed
    for i in range(args.repeats):
        for name, cmd in rows.items():
            seconds, cpu = wall(cmd(i))
            times[name].append(seconds)
            cpus[name].append(cpu)
    base = statistics.median(times[next(iter(rows))])
    print(f"{args.repeats} rounds, median wall seconds (fresh process each), ratio to the baseline's median, "
          "median CPU seconds")
    print("| command | seconds | vs baseline | CPU seconds | runs (wall) |\n|---|---|---|---|---|")
    for name, got in times.items():
        print(f"| {name} | {statistics.median(got):.2f} | {statistics.median(got) / base:.2f}x | "
              f"{statistics.median(cpus[name]):.2f} | {', '.join(f'{t:.2f}' for t in got)} |")
    for command in (["--help"], ["sql", "--list"], ["predict", "one line"]):
        print(f"echoroom {' '.join(command)} imports: {heavy_imports(command)}")


if __name__ == "__main__":
    main()
