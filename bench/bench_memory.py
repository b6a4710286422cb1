"""Peak memory with one huge message, against the same work without it, in one run; and where in
the scoring job memory peaks as the corpus grows.

    python bench/bench_memory.py [--n=200] [--score-mb=10] [--ingest-mb=400]
    python bench/bench_memory.py --phases --sizes=20000,200000 [--real-units=20] [--compare-load]

Scoring: the scoring job (``python -m jobs.score``, one process) over a corpus of ``n`` chat
messages, then over the same corpus plus one message of ``score-mb`` MB. Goal: under 1.2 GB.
Ingest: ``echoroom ingest`` of a WhatsApp zip of ``n`` messages, then of the same zip with one
message of ``ingest-mb`` MB on one line (it compresses to about a thousandth of that). Goal: under
300 MB. Each step runs in its own process; its peak RSS is the kernel's (``wait4`` rusage).

Phases: the scoring job (one process, in-process ``jobs.score``) over each size, in a fresh process,
with the peak RSS of each phase: setup (model, corpus check, plan), scoring (every unit) and load
(freeing the model, the DuckDB load). An RSS sampler thread reads ``/proc/self/status`` every 20 ms;
the phases are told apart by the job's own lines (the plan line, the last unit's line, the finished
line). ``--real-units=K`` scores the first K units with the lenses and gives the rest fixed readings,
so the load of a large run can be measured on a slow machine: scoring's memory stops growing within
~20 units (docs/scoring.md, "Memory"); every message is still stored. ``--compare-load`` runs each
size twice, the baseline first: the load under a fixed 128MB (``LOAD_BYTES_PER_MESSAGE=0``), which
falls back to no limit when a large load needs more, then the load as shipped (a limit that grows
with the messages loaded), and prints the ratio of their load-phase peaks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
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


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


class PhaseLog:
    """Stdout of the job, passed through; its lines move the phase the RSS sampler charges."""

    def __init__(self, out, units: int):
        self.out, self.units, self.phase, self.peaks = out, units, "setup", {}
        self.unit, self.by_unit = 0, {}  # scoring's peak while each unit was read (the curve)

    def write(self, text: str) -> int:
        if " units to do on " in text or ": nothing to score" in text:
            self.phase = "scoring"
        elif f": unit {self.units}/{self.units}," in text:
            self.phase = "load"
        elif (m := re.search(r": unit (\d+)/", text)) and self.phase == "scoring":
            self.unit = int(m.group(1))
        elif " finished in " in text:
            self.phase = "done"
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()

    def sample(self) -> None:
        while True:
            rss = rss_mib()
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)
            if self.phase == "scoring":
                self.by_unit[self.unit] = max(self.by_unit.get(self.unit, 0.0), rss)
            time.sleep(0.02)

    def curve(self, points: int = 8) -> dict[int, int]:
        """Scoring's peak so far after a few units spread over the run: a creep rises steadily,
        an unlucky unit jumps once."""
        done = sorted(self.by_unit)
        marks = sorted({done[min(len(done) - 1, round(i * (len(done) - 1) / (points - 1)))] for i in range(points)})
        return {k: round(max(v for u, v in self.by_unit.items() if u <= k)) for k in marks} if done else {}


def fixed_readings_after(real_units: int) -> None:
    """From the (real_units + 1)-th unit on, every text reads as one fixed distribution (no model)."""
    import numpy as np

    from echoroom.scoring.scorer import Scorer

    real, calls = Scorer.read, [0]

    def read(self, texts):
        calls[0] += 1
        if calls[0] <= real_units:
            return real(self, texts)
        n = len(texts)
        probs = {o: np.full((n, 10) if o in self.lenses.names else n, 0.1, np.float32) for o in self.lenses.outputs}
        return probs, np.full(n, 8, np.int64), np.zeros(n, bool)

    Scorer.read = read


def phases_child(n: int, real_units: int | None, load_bytes: int | None = None) -> None:
    """One size: write the corpus in slices, score it, print the peak RSS of each phase as JSON."""
    from echoroom.scoring import shards
    from jobs import score as job

    if load_bytes is not None:
        shards.LOAD_BYTES_PER_MESSAGE = load_bytes
    if real_units is not None:
        fixed_readings_after(real_units)
    with tempfile.TemporaryDirectory() as tmp:
        path, units = Path(tmp) / "corpus.parquet", 0
        with pq.ParquetWriter(path, pa.schema([("message_id", pa.string()), ("text", pa.string())])) as w:
            for start in range(0, n, 10000):  # the corpus itself never sits in memory
                cols = chatter.messages(min(10000, n - start), seed=start, start=start)
                w.write_table(pa.table({"message_id": cols["message_id"], "text": cols["text"]}))
                units += -(-len(cols["text"]) // 1024)  # a row group each, in units of the default chunk_rows
        log = PhaseLog(sys.stdout, units)
        threading.Thread(target=log.sample, daemon=True).start()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(log):
            job.main([f"--inputs={path}", f"--db={tmp}/x.duckdb", "--progress=true"])
        time.sleep(0.05)
        print(json.dumps({"n": n, "phases": {k: round(v) for k, v in log.peaks.items() if k != "done"},
                          "scoring_peak_by_unit": log.curve(),
                          "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          "seconds": time.perf_counter() - t0}))


def phases_run(n: int, real_units: int | None, load_bytes: int | None = None) -> dict:
    cmd = [sys.executable, __file__, f"--phases-child={n}"]
    cmd += [f"--real-units={real_units}"] if real_units is not None else []
    cmd += [f"--load-bytes={load_bytes}"] if load_bytes is not None else []
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["fell_back"] = "loading again without that limit" in res.stdout
    peak = out["phases"]
    again = " (over its limit: loaded again unbounded)" if out["fell_back"] else ""
    print(f"  {n:>8} messages: setup {peak.get('setup', 0):5.0f} MiB, scoring {peak.get('scoring', 0):5.0f} MiB, "
          f"load {peak.get('load', 0):5.0f} MiB{again}; "
          f"job peak {out['peak_rss_mib']:5.0f} MiB ({out['seconds']:.0f} s)", flush=True)
    print("    scoring's peak up to unit: " + ", ".join(f"{k}: {v}" for k, v in out["scoring_peak_by_unit"].items()),
          flush=True)
    return out


def phases(sizes: list[int], real_units: int | None, compare_load: bool) -> None:
    print(f"the scoring job by phase, one process, default settings"
          f"{f'; units after the first {real_units} read as fixed values' if real_units is not None else ''}:")
    out = {}
    for n in sizes:
        if compare_load:
            print("  baseline, the load under a fixed 128MB:")
            base = phases_run(n, real_units, load_bytes=0)
            print("  as shipped, the load's limit grows with its messages:")
        out[n] = phases_run(n, real_units)
        if compare_load:
            print(f"  load phase peak, shipped vs baseline: {out[n]['phases']['load'] / base['phases']['load']:.3f}x; "
                  f"job peak {out[n]['peak_rss_mib'] / base['peak_rss_mib']:.3f}x")
    small, large = min(sizes), max(sizes)
    if small != large:
        print(f"  peak RSS {large} vs {small}: {out[large]['peak_rss_mib'] / out[small]['peak_rss_mib']:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--score-mb", type=int, default=10)
    parser.add_argument("--ingest-mb", type=int, default=400)
    parser.add_argument("--phases", action="store_true", help="the scoring job's peak RSS by phase, per size")
    parser.add_argument("--sizes", default="20000,200000", help="--phases: corpus sizes, comma-separated")
    parser.add_argument("--real-units", type=int, help="--phases: units scored by the lenses (default: all)")
    parser.add_argument("--compare-load", action="store_true",
                        help="--phases: each size also with the load under a fixed 128MB (the baseline)")
    parser.add_argument("--phases-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load-bytes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases_child:
        return phases_child(args.phases_child, args.real_units, args.load_bytes)
    if args.phases:
        return phases([int(x) for x in args.sizes.split(",")], args.real_units, args.compare_load)
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
