"""One writer, always, with real processes: `echoroom run` killed with SIGKILL while its
`accelerate launch` ranks score takes them down with it; a launched job whose run no longer holds
the lock writes nothing; two scorers on one database: the second stops at once
(docs/operations.md, "Failure modes")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from echoroom.scoring import guard

from helpers import assert_exactly_once, rows, write_corpus

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "echoroom" / "demo"


def echoroom(*args, cwd: Path, lens_root: Path, env: dict | None = None, wait: bool = True):
    cmd = [sys.executable, "-m", "echoroom.cli", *args]
    env = dict(os.environ, ECHOROOM_LENSES=str(lens_root), **(env or {}))
    if wait:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now, from /proc (children, their children, ...)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def write_config(folder: Path, scoring: str) -> Path:
    path = folder / "echoroom.toml"
    path.write_text(f'database = "data/echoroom.duckdb"\noutput_dir = "report"\nstate_dir = "state"\n'
                    f'[[inputs]]\npaths = [{json.dumps(str(DEMO / "whatsapp_family_chat.txt"))}]\n'
                    f'corpus = "data/corpus.parquet"\ntimezone = "Europe/London"\n[scoring]\n{scoring}\n')
    return path


def test_sigkill_of_the_run_takes_its_launched_ranks_down_and_a_rerun_finishes_once(tmp_path, lens_root):
    cfg = write_config(tmp_path, "processes = 2\nchunk_rows = 4\nthreads = 1")
    work, db = tmp_path / "data" / "echoroom.duckdb.work", tmp_path / "data" / "echoroom.duckdb"
    proc = echoroom("run", "--config", str(cfg), cwd=tmp_path, lens_root=lens_root, wait=False)
    deadline = time.time() + 240
    while time.time() < deadline and not list(work.glob("*/part-*.parquet")):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.02)
    family = descendants(proc.pid)  # the launcher and its two ranks (and their helpers)
    assert len(family) >= 3, family
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    deadline = time.time() + 10
    while time.time() < deadline and any(guard.alive(p) for p in family):
        time.sleep(0.1)
    assert [p for p in family if guard.alive(p)] == [], "launched processes outlived the run and its lock"
    assert rows(db, "SELECT status FROM runs") == [("running",)]
    assert rows(db, "SELECT count(*) FROM predictions") == [(0,)]

    done = echoroom("run", "--config", str(cfg), cwd=tmp_path, lens_root=lens_root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_exactly_once(db, 86)
    assert rows(db, "SELECT status, processes FROM runs") == [("finished", 2)]


def test_a_launched_job_whose_run_does_not_hold_the_lock_writes_nothing(tmp_path, lens_root):
    corpus, db = write_corpus(tmp_path / "c.parquet", 20), tmp_path / "x.duckdb"
    # This test process is alive but holds no lock: a run that died and whose pid came back.
    env = dict(os.environ, **{guard.HOLDER_ENV: str(os.getpid())})
    done = subprocess.run([sys.executable, "-m", "jobs.score", f"--inputs={corpus}", f"--db={db}",
                           f"--lenses={lens_root}", "--progress=false"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 5, done.stderr[-3000:]
    assert done.stderr.startswith(f"error: {db}.lock: not held by the run that launched this job "
                                  f"(pid {os.getpid()}; the lock is held by nobody); stopping without writing")
    assert "Traceback" not in done.stderr
    assert not db.exists()


def test_a_launched_process_ends_when_its_run_is_gone(tmp_path):
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    env = dict(os.environ, **{guard.HOLDER_ENV: str(run.pid)})
    rank = subprocess.Popen([sys.executable, "-c", "import time; from echoroom.scoring import guard; "
                             "guard.watch_launcher(0.05); time.sleep(60)"], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert rank.poll() is None  # its run is alive: it keeps going
    run.kill()
    run.wait()
    assert rank.wait(timeout=10) == 75
    assert f"the run that launched it (pid {run.pid}) is gone" in rank.stderr.read()


def test_a_second_scorer_on_one_database_stops_at_once(tmp_path, lens_root):
    # Large enough that the first run still holds the lock when the second has started up (400
    # messages finished first on an idle machine, and the second then rightly had nothing to do).
    corpus, db = write_corpus(tmp_path / "c.parquet", 4000), tmp_path / "x.duckdb"
    holder = Path(f"{db}.lock.holder")
    first = echoroom("score", str(corpus), "--db", str(db), "--threads", "1", cwd=tmp_path,
                     lens_root=lens_root, wait=False)
    deadline = time.time() + 120
    while time.time() < deadline and not holder.exists():
        assert first.poll() is None, first.communicate()[1][-3000:]
        time.sleep(0.02)
    second = echoroom("score", str(corpus), "--db", str(db), cwd=tmp_path, lens_root=lens_root)
    assert second.returncode != 0
    assert f"error: another echoroom run holds {db}.lock (pid {first.pid} on " in second.stderr
    assert "this run did nothing. Wait for it to finish (or stop it), then run again" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.wait(timeout=300) == 0, first.communicate()[1][-3000:]
    assert_exactly_once(db, 4000)
    assert rows(db, "SELECT count(*) FROM runs") == [(1,)]
