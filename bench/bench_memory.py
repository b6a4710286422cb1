"""Peak memory with one huge message, against the same work without it, in one run.

    python bench/bench_memory.py [--n=200] [--score-mb=10] [--ingest-mb=400]

Scoring: the scoring job (``python -m jobs.score``, one process) over a corpus of ``n`` chat
messages, then over the same corpus plus one message of ``score-mb`` MB. Goal: under 1.2 GB.
Ingest: ``echoroom ingest`` of a WhatsApp zip of ``n`` messages, then of the same zip with one
message of ``ingest-mb`` MB on one line (it compresses to about a thousandth of that). Goal: under
300 MB. Each step runs in its own process; its peak RSS is the kernel's (``wait4`` rusage).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from echoroom.demo import chatter  # noqa: E402


def peak_mb(cmd: list[str]) -> float:
    """Run ``cmd``; its peak resident memory in MB (it must succeed)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return usage.ru_maxrss / 1024  # kB on Linux


def corpus(path: Path, n: int, huge_mb: int) -> Path:
    cols = chatter.messages(n, seed=0)
    if huge_mb:
        cols = {k: list(v) for k, v in cols.items()}
        for v in cols.values():
            v.append(v[0])
        cols["message_id"][-1] = "huge"
        cols["text"][-1] = "this is terrible, I cannot believe it " * (huge_mb * 1_000_000 // 38)
    pq.write_table(pa.table(cols), path)
    return path


def chat_zip(path: Path, n: int, huge_mb: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("WhatsApp Chat with Team.txt", "w") as f:
        for i in range(n):
            f.write(f"15/01/2024, {9 + i // 60:02d}:{i % 60:02d} - P{i % 5}: message {i}, all fine\n".encode())
        if huge_mb:
            f.write(b"16/01/2024, 09:00 - P0: ")
            block = b"lol " * 250_000  # 1 MB
            for _ in range(huge_mb):
                f.write(block)
            f.write(b"\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--score-mb", type=int, default=10)
    parser.add_argument("--ingest-mb", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"scoring ({args.n} messages; one process):")
        for label, mb in (("baseline", 0), (f"+ one {args.score_mb} MB message", args.score_mb)):
            c = corpus(tmp / f"c{mb}.parquet", args.n, mb)
            peak = peak_mb([sys.executable, "-m", "jobs.score", f"--inputs={c}", f"--db={tmp}/s{mb}.duckdb",
                            "--progress=false"])
            print(f"  {label:<28} peak RSS {peak:7.0f} MB")
        print(f"ingest (WhatsApp zip, {args.n} messages):")
        for label, mb in (("baseline", 0), (f"+ one {args.ingest_mb} MB message", args.ingest_mb)):
            z = chat_zip(tmp / f"chat{mb}.zip", args.n, mb)
            peak = peak_mb([sys.executable, "-m", "echoroom.cli", "ingest", str(z), "--out", f"{tmp}/i{mb}.parquet",
                            "--timezone", "UTC"])
            print(f"  {label:<28} peak RSS {peak:7.0f} MB   (zip {z.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
