"""The scheduled pipeline: ingest new exports, score what is new, regenerate the report, email it.

    echoroom run --config echoroom.toml [--wait SECONDS] [--force-email]
    echoroom run                          # the built-in demo config, outputs under ./out/demo

Safe to run from cron or a systemd timer:

- one run at a time per database (``echoroom.scoring.guard``); a second run exits with ``Exit.LOCK_BUSY``
  at once, or waits up to ``--wait`` seconds for the first;
- every step (``echoroom.run.steps``) is idempotent or resumable: a corpus is rewritten only when its exports changed
  (so an interrupted scoring run finds its key, and its shards, again), scoring is exactly-once
  and incremental, the report is rebuilt, and the ledger keeps a period's email from going to the
  same recipient twice;
- each failure class has its own exit code (``steps.Exit``, documented in docs/operations.md), and the
  log is plain lines on stderr (what cron mails) and, if configured, in a file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from echoroom.run import config as config_mod
from echoroom.run import steps
from echoroom.run.config import Config, ConfigError
from echoroom.run.steps import Exit, StepError
from echoroom.scoring.guard import LockBusy, RunLock
from echoroom.store import StoreError


@contextlib.contextmanager
def logging_to(config: Config, stream=None):
    """The run's logger: plain timestamped lines on stderr and, if configured, appended to a file."""
    log = logging.getLogger("echoroom.run")
    log.setLevel(config.log_level.upper())
    log.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler(stream or sys.stderr)]
    if config.log_file:
        config.log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(config.log_file, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    try:
        yield log
    finally:
        for h in handlers:
            log.removeHandler(h)
            h.close()


def run(config: Config, log: logging.Logger, wait: float = 0.0,
        force_email: bool = False) -> tuple[Exit, dict]:
    """Every step under the lock; returns the exit code and what was written where."""
    t0, started = time.perf_counter(), datetime.now(timezone.utc)
    outputs: dict = {}
    record = {"started_at": started.isoformat(timespec="seconds"), "pid": os.getpid(), "steps": {}}
    lock = RunLock(config.lock_path)
    try:
        lock.acquire(wait, on_wait=lambda holder: log.info(
            f"waiting up to {wait:g} s for {config.lock_path}, held by {holder}"))
    except LockBusy as exc:
        log.error(str(exc))
        return Exit.LOCK_BUSY, outputs  # the holder's last_run.json is not ours to overwrite
    except StoreError as exc:  # the lock file cannot be made: the database's folder is not writable
        log.error(str(exc))
        return Exit.SCORING, outputs
    except KeyboardInterrupt:
        log.error(f"interrupted while waiting for {config.lock_path}; nothing was done")
        return Exit.INTERRUPTED, outputs
    code = Exit.OK
    try:
        for line in config_mod.describe(config):
            log.info(line)
        step = "ingest"
        corpora = steps.ingest(config, log)
        outputs["corpus"] = corpora
        step = "score"
        counts = steps.score(config, corpora, log)
        record["steps"]["score"] = counts
        outputs["database"] = config.database
        step = "report"
        written = steps.report(config, log)
        outputs["report"], outputs["eml"] = written["html"], written["eml"]
        outputs["left_out"] = written["left_out"]
        step = "email"
        outputs["email"] = record["steps"]["email"] = steps.email(config, written, force_email, log)
    except StepError as exc:
        code = exc.code
        log.error(f"{step} failed ({code.name.lower()}, exit {int(code)}): {exc}")
        record["error"] = str(exc)
    except KeyboardInterrupt:
        code = Exit.INTERRUPTED
        log.error(f"{step} interrupted (SIGTERM or Ctrl-C), exit {int(code)}; nothing is lost: the next "
                  "run resumes where this one stopped")
        record["error"] = "interrupted"
    except Exception as exc:  # a bug: keep the traceback for whoever reads the log
        code = Exit.FAILED
        log.exception(f"{step} failed with an unexpected error")
        record["error"] = repr(exc)
    finally:
        seconds = time.perf_counter() - t0
        record.update(finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      seconds=round(seconds, 1), exit_code=int(code), result=code.name.lower())
        try:
            config.state_dir.mkdir(parents=True, exist_ok=True)
            # A new file renamed over the old: a kill mid-write leaves the old record, never half of one.
            tmp = config.state_dir / f".last_run.json.{os.getpid()}"
            tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
            os.replace(tmp, config.state_dir / "last_run.json")
        except OSError as exc:
            log.warning(f"could not write {config.state_dir / 'last_run.json'}: {exc}")
        lock.release()
    ended = "finished" if code == Exit.OK else "stopped"
    log.info(f"run {ended} in {seconds:.1f} s: exit {int(code)} ({code.name.lower()})")
    return code, outputs


def _shown(path) -> str:
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(config_path: str | None = None, wait: float = 0.0, force_email: bool = False) -> int:
    """``echoroom run``: load the config (or the demo), run, print where the outputs are."""
    try:
        config = config_mod.load(config_path) if config_path else config_mod.demo()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return Exit.CONFIG
    # systemd stops a unit with SIGTERM: end like Ctrl-C, so the log says where the run stopped
    # and the lock and open transactions are released in order.
    signal.signal(signal.SIGTERM, _terminate)
    # This is the job: it decides what the libraries print. Weight-loading bars and load reports
    # from transformers would fill every cron mail. Environment variables, not transformers' API:
    # importing it here would delay taking the lock by seconds, and launched processes inherit
    # them. setdefault leaves an operator's own choice (e.g. TRANSFORMERS_VERBOSITY=info) alone.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    with logging_to(config) as log:
        code, outputs = run(config, log, wait=wait, force_email=force_email)
    if code == Exit.OK:
        lines = [f"  corpus    {_shown(p)}" for p in outputs["corpus"]]
        lines += [f"  database  {_shown(outputs['database'])}", f"  report    {_shown(outputs['report'])}",
                  f"  email     {_shown(outputs['eml'])} ({outputs['email']})"]
        if config.log_file:
            lines.append(f"  log       {_shown(config.log_file)}")
        print("outputs:\n" + "\n".join(lines))
        if outputs["left_out"]:
            print(f"note: {outputs['left_out']} (the scoring setting `languages`)")
        if not config_path:
            print(f"next: open {_shown(outputs['report'])}, or explore with "
                  f"`echoroom sql --db {_shown(outputs['database'])} --list`")
    return int(code)
