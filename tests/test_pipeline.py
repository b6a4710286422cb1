"""`echoroom run` end to end: the demo on a fresh folder, a run killed with SIGKILL mid-scoring and
resumed, two overlapping runs on one lock, one email per period over a real SMTP exchange
(aiosmtpd on loopback), and the exit code of each failure class."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from echoroom.run import config, pipeline
from echoroom.run.pipeline import Exit

from helpers import assert_exactly_once, rows
from html_dom import parse

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "echoroom" / "demo"


def echoroom_run(*args, cwd: Path, lens_root: Path, wait: bool = True):
    """`echoroom run ...` in a fresh process, as cron would start it."""
    cmd = [sys.executable, "-m", "echoroom.cli", "run", *args]
    env = dict(os.environ, ECHOROOM_LENSES=str(lens_root))
    if wait:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def started_scoring(cfg: Path, folder: Path, lens_root: Path) -> subprocess.Popen:
    """`echoroom run` in the background, returned once it has written its first scoring shard."""
    proc = echoroom_run("--config", str(cfg), cwd=folder, lens_root=lens_root, wait=False)
    work = folder / "data" / "echoroom.duckdb.work"
    deadline = time.time() + 180
    while time.time() < deadline and not list(work.glob("*/part-*.parquet")):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.01)
    return proc


def write_config(folder: Path, chats: list[str], extra: str = "", scoring: str = "", sections: str = "") -> Path:
    paths = ", ".join(json.dumps(str(DEMO / c)) for c in chats)
    text = (f'database = "data/echoroom.duckdb"\noutput_dir = "report"\nstate_dir = "state"\n{extra}\n'
            f'[[inputs]]\npaths = [{paths}]\ncorpus = "data/corpus.parquet"\ntimezone = "Europe/London"\n'
            f"[scoring]\n{scoring}\n{sections}")
    path = folder / "echoroom.toml"
    path.write_text(text)
    return path


def test_demo_end_to_end_on_a_fresh_folder(tmp_path, lens_root):
    t0 = time.perf_counter()
    first = echoroom_run(cwd=tmp_path, lens_root=lens_root)
    seconds = time.perf_counter() - t0
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "out" / "demo"
    assert first.stdout.splitlines()[:5] == [
        "outputs:", "  corpus    out/demo/corpus.parquet", "  database  out/demo/echoroom.duckdb",
        "  report    out/demo/report.html", "  email     out/demo/report.eml (dry run: nothing sent)"]
    db = out / "echoroom.duckdb"
    assert_exactly_once(db, 329)  # the demo chats' 329 messages (tests/test_ingest_whatsapp.py)
    html = parse((out / "report.html").read_text())
    assert html.find("h1")[0].text.startswith("The Echo Room demo")
    assert (out / "report.eml").read_bytes().startswith(b"Subject: The Echo Room demo")
    assert json.loads((out / "state" / "last_run.json").read_text())["exit_code"] == 0
    # Plain log lines for cron mail: a timestamp, a level, no progress bars or carriage returns.
    assert "\r" not in first.stderr and "Loading weights" not in first.stderr
    last = first.stderr.splitlines()[-1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO run finished in [\d.]+ s: exit 0 \(ok\)", last), last
    print(f"demo run: {seconds:.1f} s")

    again = echoroom_run(cwd=tmp_path, lens_root=lens_root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "329 messages, unchanged" in again.stderr and "0 scored" in again.stderr
    assert_exactly_once(db, 329)
    assert rows(db, "SELECT (counts->>'scored')::INT FROM runs ORDER BY started_at") == [(329,), (0,)]


def test_killed_run_resumes_exactly_once(tmp_path, lens_root):
    cfg = write_config(tmp_path, ["whatsapp_family_chat.txt", "whatsapp_friends_chat.txt"],
                       scoring="chunk_rows = 8\nthreads = 1")
    db, n, units = tmp_path / "data" / "echoroom.duckdb", 166, 21  # 86 + 80 messages, 8 a unit
    proc = echoroom_run("--config", str(cfg), cwd=tmp_path, lens_root=lens_root, wait=False)
    work = tmp_path / "data" / "echoroom.duckdb.work"
    deadline = time.time() + 180
    while time.time() < deadline and len(list(work.glob("*/part-*.parquet"))) < 3:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()[1][-2000:]}"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    shards = len(list(work.glob("*/part-*.parquet")))
    assert 3 <= shards < units, "the kill did not land mid-scoring"
    assert rows(db, "SELECT status FROM runs") == [("running",)]
    assert rows(db, "SELECT count(*) FROM predictions") == [(0,)]

    done = echoroom_run("--config", str(cfg), cwd=tmp_path, lens_root=lens_root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "unchanged" in done.stderr  # same corpus file, so the same run key: a resume
    assert f"{units - shards} of {units} units to do" in done.stderr
    assert_exactly_once(db, n)
    assert rows(db, "SELECT status, (counts->>'scored')::INT FROM runs") == [("finished", n)]


def test_sigterm_stops_cleanly_and_says_so(tmp_path, lens_root):
    cfg = write_config(tmp_path, ["whatsapp_family_chat.txt"], scoring="chunk_rows = 8\nthreads = 1")
    proc = started_scoring(cfg, tmp_path, lens_root)
    proc.send_signal(signal.SIGTERM)  # what `systemctl stop` sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == Exit.INTERRUPTED == 130, err[-2000:]
    assert "score interrupted (SIGTERM or Ctrl-C), exit 130; nothing is lost" in err
    assert json.loads((tmp_path / "state" / "last_run.json").read_text())["result"] == "interrupted"


def test_overlapping_runs_exit_75_or_wait(tmp_path, lens_root):
    cfg = write_config(tmp_path, ["whatsapp_friends_chat.txt"], scoring="chunk_rows = 4\nthreads = 1")
    db, lock = tmp_path / "data" / "echoroom.duckdb", tmp_path / "data" / "echoroom.duckdb.lock"
    first = started_scoring(cfg, tmp_path, lens_root)

    # Both start while the first holds the lock: the lock is taken before anything heavy is imported.
    third = echoroom_run("--config", str(cfg), "--wait", "240", cwd=tmp_path, lens_root=lens_root, wait=False)
    second = echoroom_run("--config", str(cfg), cwd=tmp_path, lens_root=lens_root)
    assert second.returncode == Exit.LOCK_BUSY == 75
    assert f"another echoroom run holds {lock} (pid {first.pid} on " in second.stderr
    assert "this run did nothing. Give --wait SECONDS to wait for it instead." in second.stderr
    assert second.stdout == ""

    assert first.wait(timeout=240) == 0, first.communicate()[1][-2000:]
    out, err = third.communicate(timeout=240)
    assert third.returncode == 0, err[-3000:]
    assert f"waiting up to 240 s for {lock}, held by pid {first.pid}" in err
    assert_exactly_once(db, 80)
    # The waiting run started after the first had finished: it found everything scored.
    assert rows(db, "SELECT status, (counts->>'scored')::INT FROM runs ORDER BY started_at") == \
        [("finished", 80), ("finished", 0)]
    assert json.loads((tmp_path / "state" / "last_run.json").read_text())["pid"] == third.pid


def test_two_scoring_processes_under_accelerate_launch(tmp_path, lens_root):
    cfg = write_config(tmp_path, ["whatsapp_family_chat.txt"], scoring="processes = 2\nchunk_rows = 16")
    done = echoroom_run("--config", str(cfg), cwd=tmp_path, lens_root=lens_root)
    assert done.returncode == 0, done.stderr[-3000:]
    # The launched processes' lines are relayed into the run's log, not lost or interleaved raw.
    assert re.search(r"^\S+ \S+ INFO jobs/score.py on 2 process\(es\)", done.stderr, re.M)
    db = tmp_path / "data" / "echoroom.duckdb"
    assert_exactly_once(db, 86)
    assert rows(db, "SELECT status, processes FROM runs") == [("finished", 2)]


class Inbox:
    def __init__(self):
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def smtp():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def run_logged(cfg, **kw) -> tuple[Exit, str]:
    stream = io.StringIO()
    with pipeline.logging_to(cfg, stream) as log:
        code, _ = pipeline.run(cfg, log, **kw)
    return code, stream.getvalue()


def test_one_email_per_period_and_recipient(tmp_path, lens_root, smtp, monkeypatch):
    inbox, port = smtp
    for name in ("ECHOROOM_SMTP_USER", "ECHOROOM_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ECHOROOM_LENSES", str(lens_root))

    def load(recipients: list[str], smtp_port: int = port) -> config.Config:
        sections = (f'[email]\nmode = "send"\nsender = "echoroom@example.com"\nrecipients = {json.dumps(recipients)}\n'
                    f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\ntimeout = 5\n')
        return config.load(write_config(tmp_path, ["whatsapp_family_chat.txt"], sections=sections,
                                        extra='log_file = "logs/echoroom.log"'))

    cfg = load(["a@example.com", "b@example.com"])
    code, log = run_logged(cfg)
    assert code == Exit.OK, log
    assert [(f, to) for f, to, _ in inbox.received] == [("echoroom@example.com", ["a@example.com", "b@example.com"])]
    ledger = [json.loads(line) for line in (tmp_path / "state" / "sent.jsonl").read_text().splitlines()]
    assert [e["recipient"] for e in ledger] == ["a@example.com", "b@example.com"]
    assert ledger[0]["period"].startswith("first message .. last message 2024-01-")
    assert "email: sent the report for" in (tmp_path / "logs" / "echoroom.log").read_text()

    code, log = run_logged(cfg)  # cron fires again: nothing new, nothing sent
    assert code == Exit.OK and len(inbox.received) == 1
    assert "a@example.com already had this report for" in log and "email: nothing to send" in log

    code, log = run_logged(cfg, force_email=True)
    assert code == Exit.OK and [to for _, to, _ in inbox.received][1] == ["a@example.com", "b@example.com"]

    code, log = run_logged(load(["a@example.com", "b@example.com", "c@example.com"]))
    assert code == Exit.OK and [to for _, to, _ in inbox.received][2] == ["c@example.com"]

    # The server is gone: an email failure, and the ledger does not claim a send.
    before = (tmp_path / "state" / "sent.jsonl").read_text()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    code, log = run_logged(load(["d@example.com"], smtp_port=dead))
    assert code == Exit.EMAIL == 7
    assert "email failed (email, exit 7): ConnectionRefusedError" in log
    assert (tmp_path / "state" / "sent.jsonl").read_text() == before
    assert json.loads((tmp_path / "state" / "last_run.json").read_text())["result"] == "email"


def test_each_failure_class_has_its_exit_code(tmp_path, lens_root, monkeypatch):
    monkeypatch.setenv("ECHOROOM_LENSES", str(lens_root))
    base = write_config(tmp_path, ["whatsapp_family_chat.txt"]).read_text()

    def run_with(text: str) -> tuple[Exit, str]:
        path = tmp_path / "case.toml"
        path.write_text(text)
        return run_logged(config.load(path))

    code, log = run_with(base.replace("whatsapp_family_chat.txt", "no_such_chat_*.txt"))
    assert code == Exit.INPUT == 4 and "inputs[0].paths: " in log and "no_such_chat_*.txt matches no file" in log

    bad = tmp_path / "bad.txt"
    bad.write_text("this is not a WhatsApp export\n")
    code, log = run_with(base.replace(str(DEMO / "whatsapp_family_chat.txt"), str(bad)) + "")
    assert code == Exit.INPUT and "ingest failed (input, exit 4)" in log

    code, log = run_with('lenses = "no_lenses_here"\n' + base)
    assert code == Exit.SCORING == 5 and "score failed (scoring, exit 5)" in log

    (tmp_path / "report_is_a_file").write_text("")
    code, log = run_with(base.replace('output_dir = "report"', 'output_dir = "report_is_a_file"'))
    assert code == Exit.REPORT == 6 and "report failed (report, exit 6)" in log


def test_the_log_and_summary_say_which_languages_were_left_out(tmp_path, lens_root):
    chat = tmp_path / "chat.txt"
    chat.write_text("25/01/2024, 18:03 - Ana: see you at the station in ten minutes\n"
                    "25/01/2024, 18:04 - Ben: Ich komme heute etwas später nach Hause\n"
                    "25/01/2024, 18:05 - Ben: Das Essen war wirklich sehr lecker, vielen Dank!\n"
                    "25/01/2024, 18:06 - Cy: ¿Dónde estás? Te estamos esperando en la estación\n"
                    "25/01/2024, 18:07 - Ana: 😂😂\n", encoding="utf-8")
    done = echoroom_run("--config", str(write_config(tmp_path, [str(chat)])), cwd=tmp_path, lens_root=lens_root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 scored" in done.stderr and "3 skipped (3 in other languages: 2 de, 1 es)" in done.stderr
    said = "3 messages not scored, in languages the lenses do not read: 2 de, 1 es"
    assert f"INFO report: {said}" in done.stderr
    assert f"note: {said} (the scoring setting `languages`)" in done.stdout.splitlines()
    assert_exactly_once(tmp_path / "data" / "echoroom.duckdb", 5, skipped=3)


def test_an_export_of_service_messages_only_runs_clean_and_reports_no_messages(tmp_path, lens_root, monkeypatch):
    # A Telegram export holding only service messages ingests to 0 rows; every night must still pass.
    monkeypatch.setenv("ECHOROOM_LENSES", str(lens_root))
    export = tmp_path / "tg" / "result.json"
    export.parent.mkdir()
    export.write_text(json.dumps({"name": "Quiet", "type": "private_group", "id": 4000000009, "messages": [
        {"id": 1, "type": "service", "date": "2024-01-15T09:00:00", "date_unixtime": "1705305600",
         "actor": "Ana", "actor_id": "user1", "action": "create_group", "title": "Quiet", "members": ["Ana"],
         "text": "", "text_entities": []}]}))
    cfg = config.load(write_config(tmp_path, [str(export.parent)]))
    for _ in range(2):
        code, log = run_logged(cfg)
        assert code == Exit.OK, log[-3000:]
        assert "nothing to score: 0 messages in 1 files" in log and "report: 0 messages in scope" in log
    db = tmp_path / "data" / "echoroom.duckdb"
    assert rows(db, "SELECT status, (counts->>'messages')::INT FROM runs") == [("finished", 0)] * 2
    html = parse((tmp_path / "report" / "report.html").read_text())
    assert "No scored messages match" in html.by_id("no-messages").text
