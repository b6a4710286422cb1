"""Ingest memory and rate on big generated Discord exports, each size in a fresh process.

    python bench/bench_ingest.py                  # 50 MB and 500 MB (goal: 500 MB under 300 MB peak RSS)
    python bench/bench_ingest.py --sizes=5,50     # quicker

Discord JSON is read through a moving window (echoroom/ingest/json_document.py), so peak memory
should not grow with the file. Baseline, measured in the same run: the peak RSS of a process that
only imports the ingest package and pyarrow; the ratio says how much reading adds to it.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write(path: Path, target_bytes: int) -> int:
    """A DiscordChatExporter-shaped export of about ``target_bytes``; returns its message count."""
    n = 0
    with path.open("w", encoding="utf-8") as f:
        f.write('{"guild": {"id": "1", "name": "Big"}, "channel": {"id": "2", "name": "general"},\n "messages": [\n')
        while f.tell() < target_bytes:
            rec = {"id": str(10**17 + n), "type": "Default", "timestamp": "2024-01-15T09:00:00+00:00",
                   "content": f"message {n} with some text, an émoji 😀 and a \"quote\"",
                   "author": {"id": "3", "name": f"user{n % 50}", "nickname": None},
                   "attachments": [], "reactions": [{"emoji": {"name": "👍"}, "count": 2}]}
            f.write(("  " if n == 0 else ", ") + json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
        f.write(f' ],\n "messageCount": {n}\n}}\n')
    return n


def child(export: str, out: str) -> None:
    from echoroom.ingest import Options, ingest

    t0 = time.perf_counter()
    summary = ingest([export], out, Options())
    print(json.dumps({"messages": summary.written, "seconds": time.perf_counter() - t0,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    sizes = [50, 500]
    for arg in sys.argv[1:]:
        if arg.startswith("--sizes="):
            sizes = [int(x) for x in arg.split("=", 1)[1].split(",")]
    base = subprocess.run([sys.executable, "-c", "import resource, echoroom.ingest, pyarrow.parquet; "
                           "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                          capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    baseline = float(base.stdout.strip())
    print(f"baseline (imports only): peak RSS {baseline:.0f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sizes:
            export = Path(tmp) / f"discord_{mb}mb.json"
            n = write(export, mb * 2**20)
            res = subprocess.run([sys.executable, __file__, "--child", str(export), f"{tmp}/c{mb}.parquet"],
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"  {mb:>4} MB export, {n} messages: peak RSS {r['peak_rss_mib']:.0f} MiB "
                  f"({r['peak_rss_mib'] / baseline:.2f}x baseline; goal < 300 MiB), "
                  f"{r['messages'] / r['seconds']:,.0f} messages/s", flush=True)
            export.unlink()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
