"""Two nodes on this machine: two `accelerate launch` lines (`--num_machines 2`, `--machine_rank 0/1`,
one process each, gloo on CPU) sharing the database's work folder, as docs/operations.md shows them.
The stored results are exactly once and the same as one process's; nodes that disagree on a setting
that changes the plan both stop, naming it, before anything is written."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

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


def run_two_nodes(tmp_path: Path, argv0: list[str], argv1: list[str], timeout: float = 400
                  ) -> list[subprocess.CompletedProcess]:
    """Both node lines at once; their output goes to files, so a hang still shows what each said."""
    port, nodes, logs = free_port(), [], []
    for rank, argv in enumerate((argv0, argv1)):
        out, err = tmp_path / f"node{rank}.out", tmp_path / f"node{rank}.err"
        logs.append((out, err))
        with open(out, "w") as o, open(err, "w") as e:
            nodes.append(subprocess.Popen(node_line(rank, port, argv), cwd=ROOT, stdout=o, stderr=e, text=True))
    deadline = time.monotonic() + timeout
    try:
        for node in nodes:
            node.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for node in nodes:  # a node still running here hung: end it rather than leave a launcher behind
            if node.poll() is None:
                node.kill()
                node.wait()
    done = [subprocess.CompletedProcess(node.args, node.returncode, out.read_text(), err.read_text())
            for node, (out, err) in zip(nodes, logs)]
    hung = [f"node {rank} hung; stderr:\n{d.stderr[-3000:]}" for rank, d in enumerate(done) if d.returncode < 0]
    assert not hung, "\n".join(hung)
    return done


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
    sql = "SELECT message_id, lens, emotion, labels, probs, status FROM predictions ORDER BY message_id, lens"
    a, b = rows(one, sql), rows(two, sql)
    assert [r[:4] + r[5:] for r in a] == [r[:4] + r[5:] for r in b]
    np.testing.assert_allclose(np.array([r[4] for r in a]), np.array([r[4] for r in b]), atol=1e-6)


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
