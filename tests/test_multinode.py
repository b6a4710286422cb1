"""Two nodes on this machine: two `accelerate launch` lines (`--num_machines 2`, `--machine_rank 0/1`,
one process each, gloo on CPU) sharing the database's work folder, as docs/operations.md shows them.
The stored results are exactly once and the same as one process's; nodes that disagree on a setting
that changes the plan both stop, naming it, before anything is written; a node killed mid-run
stops the other with the work kept, and one node then finishes the run exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from echoroom.scoring import guard, shards
from echoroom.scoring.corpus import Corpus, Unit
from jobs import score as job

from helpers import assert_exactly_once, rows, write_corpus

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def job_argv(lens_root, db, corpus, **settings) -> list[str]:
    settings = {"inputs": corpus, "db": db, "lenses": lens_root, "progress": "false", "device": "cpu",
                "threads": 1, **settings}
    return [f"--{k}={v}" for k, v in settings.items()]


def node_line(rank: int, port: int, argv: list[str]) -> list[str]:
    """docs/operations.md's two-node line, with 1 process per node (2 in all) on this machine."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "2",
            "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
            "--num_processes", "2", "--mixed_precision", "no", "--dynamo_backend", "no",
            "jobs/score.py", *argv, "--processes=2"]


def start_nodes(tmp_path: Path, argv0: list[str], argv1: list[str]) -> list[subprocess.Popen]:
    """Both node lines at once; their output goes to files, so a hang still shows what each said."""
    port, nodes = free_port(), []
    for rank, argv in enumerate((argv0, argv1)):
        with open(tmp_path / f"node{rank}.out", "w") as o, open(tmp_path / f"node{rank}.err", "w") as e:
            nodes.append(subprocess.Popen(node_line(rank, port, argv), cwd=ROOT, stdout=o, stderr=e, text=True))
    return nodes


def finish(tmp_path: Path, nodes: list[subprocess.Popen], timeout: float = 400) -> list[subprocess.CompletedProcess]:
    """Each node's exit and output; a node still running after ``timeout`` s hung: the test fails."""
    deadline, hung = time.monotonic() + timeout, []
    try:
        for node in nodes:
            node.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for node in nodes:  # a node still running here hung: end it rather than leave a launcher behind
            if node.poll() is None:
                hung.append(node)
                node.kill()
                node.wait()
    done = [subprocess.CompletedProcess(node.args, node.returncode, (tmp_path / f"node{rank}.out").read_text(),
                                        (tmp_path / f"node{rank}.err").read_text()) for rank, node in enumerate(nodes)]
    stuck = [f"node {rank} hung; stderr:\n{d.stderr[-3000:]}" for rank, d in enumerate(done) if nodes[rank] in hung]
    assert not stuck, "\n".join(stuck)
    return done


def run_two_nodes(tmp_path: Path, argv0: list[str], argv1: list[str]) -> list[subprocess.CompletedProcess]:
    return finish(tmp_path, start_nodes(tmp_path, argv0, argv1))


def node_processes(launcher: int) -> list[int]:
    """A node: its launcher and every process below it (the ranks run in sessions of their own)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [launcher], {launcher}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found += sorted(frontier)
    return found


def same_predictions(one: Path, other: Path) -> None:
    sql = "SELECT message_id, lens, emotion, labels, probs, status FROM predictions ORDER BY message_id, lens"
    a, b = rows(one, sql), rows(other, sql)
    assert [r[:4] + r[5:] for r in a] == [r[:4] + r[5:] for r in b]
    np.testing.assert_allclose(np.array([r[4] for r in a]), np.array([r[4] for r in b]), atol=1e-6)


def test_two_nodes_store_each_message_once_as_one_process_does(tmp_path, lens_root):
    n = 60
    path = write_corpus(tmp_path / "c.parquet", n, row_group_size=40)  # units of 20, 20 | 20 rows
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    job.main(job_argv(lens_root, one, path, chunk_rows=20))
    argv = job_argv(lens_root, two, path, chunk_rows=20)
    main, other = run_two_nodes(tmp_path, argv, argv)
    assert main.returncode == 0, main.stderr[-3000:]
    assert other.returncode == 0, other.stderr[-3000:]
    assert "on 2 process(es)" in main.stdout and "3 of 3 units to do" in main.stdout
    assert not other.stdout.strip(), "only the main process prints the run"
    assert_exactly_once(two, n)
    assert rows(two, "SELECT status, processes, (counts->>'scored')::INT FROM runs") == [("finished", 2, n)]
    assert not list(Path(f"{two}.work").glob("*/"))  # loaded and cleaned up by the main node
    same_predictions(one, two)


def test_nodes_that_disagree_on_the_plan_both_stop_naming_the_setting(tmp_path, lens_root):
    path = write_corpus(tmp_path / "c.parquet", 40)
    db = tmp_path / "db.duckdb"
    main, other = run_two_nodes(tmp_path, job_argv(lens_root, db, path, chunk_rows=40, languages="en"),
                                job_argv(lens_root, db, path, chunk_rows=20, languages="en,de"))
    message = (r"error: the processes of this launch disagree on settings that change the run's plan: "
               r"chunk_rows=20 on rank 1 \(.+\) but chunk_rows=40 on the main process \(rank 0, .+\); "
               r"languages=\['en', 'de'\] on rank 1 \(.+\) but languages=\['en'\] on the main process")
    for node in (main, other):
        assert node.returncode != 0
        assert re.search(message, node.stderr), node.stderr[-3000:]
    assert "nothing was written" in main.stderr
    assert not db.exists() and not Path(f"{db}.work").exists()


def test_a_node_killed_mid_run_stops_the_other_and_one_node_finishes_the_run(tmp_path, lens_root, capsys):
    # 20 units, one per row group of 20 rows: rank 0 owns the even ones, rank 1 the odd ones. Units of
    # up to 4,096 rows make the load take one shard per INSERT (shards.LOAD_ROWS): it is sliced.
    n, group, chunk = 400, 20, 4096
    path = write_corpus(tmp_path / "c.parquet", n, row_group_size=group)
    one, db, work = tmp_path / "one.duckdb", tmp_path / "db.duckdb", tmp_path / "db.duckdb.work"
    argv = job_argv(lens_root, db, path, chunk_rows=chunk)
    nodes = start_nodes(tmp_path, argv, argv)
    theirs = [f"part-00000-{k:05d}-00000.parquet" for k in range(1, n // group, 2)]
    deadline = time.monotonic() + 300
    while not list(work.glob(f"*/{theirs[0]}")):  # mid-run, told by the shared folder: rank 1 stored a unit
        assert time.monotonic() < deadline and all(node.poll() is None for node in nodes), "no shard of rank 1"
        time.sleep(0.02)
    node1 = node_processes(nodes[1].pid)
    for pid in reversed(node1):  # frozen first, so what it stored can be counted before it dies
        os.kill(pid, signal.SIGSTOP)
    stored = [name for name in theirs if list(work.glob(f"*/{name}"))]
    for pid in node1:
        os.kill(pid, signal.SIGKILL)
    assert 1 <= len(stored) < len(theirs), f"rank 1 was not mid-run: {len(stored)} of {len(theirs)} units stored"

    main, _ = finish(tmp_path, nodes, timeout=300)  # rank 0 stops by itself, or the test fails as hung
    assert main.returncode != 0
    left, kept, folder = len(theirs) - len(stored), len(stored) + len(theirs), re.escape(str(work))
    said = re.search(rf"error: rank 1 \(.+\) stopped before writing its share of run \S+: its process "
                     rf"\(pid (\d+)\) is gone; {left} of its {len(theirs)} units have no shard\. The {kept} shards "
                     rf"written so far are kept in {folder}/\w+: run the same command again, on any number of "
                     "processes or nodes", main.stderr)
    assert said and int(said[1]) in node1, main.stderr[-3000:]
    assert rows(db, "SELECT status FROM runs") == [("running",)]
    assert rows(db, "SELECT count(*) FROM predictions") == [(0,)]

    capsys.readouterr()
    job.main(argv)  # the same job on one node, one process: it resumes the run
    assert f"{len(theirs) - len(stored)} of {n // group} units to do on 1 process(es)" in capsys.readouterr().out
    assert_exactly_once(db, n)
    assert rows(db, "SELECT status, (counts->>'scored')::INT FROM runs") == [("finished", n)]
    job.main(job_argv(lens_root, one, path, chunk_rows=chunk))
    same_predictions(one, db)


def test_the_main_process_stops_for_a_process_that_failed_or_fell_silent_elsewhere(tmp_path):
    """What the killed-node test cannot show on one machine: a process on another node, whose pid
    cannot be looked up, is given up after ``lost_after`` seconds of an unchanged heartbeat."""
    units = [Unit(0, 0, k, 10) for k in range(4)]
    plan = shards.Plan("R1", str(tmp_path), Corpus([], pa.array([], pa.string())), 10, units, 4, 0)
    for unit in units[::2]:  # rank 0's share is on disk
        (tmp_path / f"{unit.name}.parquet").write_bytes(b"")
    elsewhere = {"rank": 1, "host": "node1", "pid": 1, "space": "another-machine", "beat": 7}
    guard.heartbeat_path(tmp_path, 1).write_text(json.dumps(elsewhere))
    started = time.monotonic()
    with pytest.raises(guard.PeerLost, match=r"^rank 1 \(node1\) stopped before writing its share of run R1: no sign "
                       r"of life from it for 1 s \(its node died, or lost the shared folder\); 2 of its 2 units"):
        shards.wait_for_shares(plan, 2, ["node0", "node1"], lost_after=1, poll=0.05)
    assert 1 <= time.monotonic() - started < 10

    with pytest.raises(OSError), guard.Heartbeat(tmp_path, 1):
        raise OSError(28, "No space left on device")
    with pytest.raises(guard.PeerLost, match=r"stopped before writing its share of run R1: it failed: OSError: "
                       r"\[Errno 28\] No space left on device; 2 of its 2 units have no shard"):
        shards.wait_for_shares(plan, 2, ["node0", "node1"], lost_after=600, poll=0.05)

    for unit in units[1::2]:  # its share written, then gone: nothing to wait for
        (tmp_path / f"{unit.name}.parquet").write_bytes(b"")
    shards.wait_for_shares(plan, 2, ["node0", "node1"], lost_after=600, poll=0.05)
