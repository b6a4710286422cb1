"""The scheduled pipeline: ingest new exports, score what is new, regenerate the report, email it.

    echoroom run --config echoroom.toml [--wait SECONDS] [--force-email]
    echoroom run                          # the built-in demo config, outputs under ./out/demo

Safe to run from cron or a systemd timer:

- one run at a time per database (``echoroom.run.lock``); a second run exits with ``Exit.LOCK_BUSY``
  at once, or waits up to ``--wait`` seconds for the first;
- every step is idempotent or resumable: a corpus is rewritten only when its exports changed
  (so an interrupted scoring run finds its key, and its shards, again), scoring is exactly-once
  and incremental, the report is rebuilt, and the ledger keeps a period's email from going to the
  same recipient twice;
- each failure class has its own exit code (``Exit``, documented in docs/operations.md), and the
  log is plain lines on stderr (what cron mails) and, if configured, in a file.
"""

from __future__ import annotations

import contextlib
import filecmp
import glob
import hashlib
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from enum import IntEnum
from pathlib import Path

from echoroom.run import config as config_mod
from echoroom.run.config import Config, ConfigError
from echoroom.run.ledger import Ledger
from echoroom.run.lock import LockBusy, RunLock


class Exit(IntEnum):
    OK = 0            # done; also when there was nothing new, or the email was already sent
    FAILED = 1        # an unexpected error (a bug): the traceback is in the log
    CONFIG = 3        # the config file is missing, not TOML, or has an unknown key or a bad value
    INPUT = 4         # an export is missing, unreadable or malformed
    SCORING = 5       # scoring failed (lenses missing, a process died); re-run to resume
    REPORT = 6        # the report could not be made or written
    EMAIL = 7         # the email could not be sent (server, login, refused recipients)
    LOCK_BUSY = 75    # another run holds the lock (75 = EX_TEMPFAIL: try again later)
    INTERRUPTED = 130 # stopped by SIGTERM (systemd stop, timeout) or Ctrl-C; the next run resumes


class StepError(Exception):
    def __init__(self, code: Exit, message: str):
        super().__init__(message)
        self.code = code


class _LogLines(io.TextIOBase):
    """A stdout stand-in that sends each complete line to the log: the scoring job prints."""

    def __init__(self, log: logging.Logger):
        self.log, self.buffer = log, ""

    def write(self, text: str) -> int:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if line.strip():
                self.log.info(line.rstrip())
        return len(text)


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


# ---- the steps ----------------------------------------------------------------------------

def _exports(where: str, patterns: tuple[str, ...]) -> list[str]:
    found = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else \
            ([pattern] if os.path.exists(pattern) else [])
        if not matches:
            raise StepError(Exit.INPUT, f"{where}: {pattern} matches no file or folder")
        found += [m for m in matches if m not in found]
    return found


def ingest(config: Config, log: logging.Logger) -> list[Path]:
    """Each input's exports -> its corpus file, replaced only if the content changed."""
    from echoroom.ingest import IngestError, ingest as ingest_exports

    for i, item in enumerate(config.inputs):
        exports = _exports(f"inputs[{i}].paths", item.paths)
        incoming = item.corpus.with_name(f".{item.corpus.name}.incoming")
        try:
            summary = ingest_exports(exports, incoming, item.options)
        except (IngestError, OSError) as exc:
            raise StepError(Exit.INPUT, f"inputs[{i}]: {exc}") from None
        # Ids are stable and the writer deterministic, so same exports -> same bytes. Keeping the
        # old file keeps its mtime, part of the scoring run key: an interrupted run then resumes.
        if item.corpus.is_file() and filecmp.cmp(incoming, item.corpus, shallow=False):
            incoming.unlink()
            log.info(f"inputs[{i}]: {len(exports)} export(s), {summary.written} messages, unchanged: {item.corpus}")
        else:
            os.replace(incoming, item.corpus)
            log.info(f"inputs[{i}]: {len(exports)} export(s), {summary.written} messages written to {item.corpus}")
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.skipped.items()))
        if skipped:
            log.info(f"inputs[{i}]: not messages: {skipped}")
        for problem in summary.problems:
            log.warning(f"inputs[{i}]: skipped malformed record: {problem}")
    return [item.corpus for item in config.inputs]


def score(config: Config, corpora: list[Path], log: logging.Logger) -> dict | None:
    """The scoring job (the one scoring path) over every corpus; only new messages are scored."""
    import dataclasses

    from echoroom.scoring.corpus import CorpusError
    from echoroom.scoring.settings import launch_command

    settings = dataclasses.replace(config.scoring, inputs=",".join(map(str, corpora)),
                                   db=str(config.database), progress=False,
                                   lenses=str(config.lenses) if config.lenses else "")
    if settings.processes > 1:
        # The same job under accelerate launch; its lines are relayed so the log has them all.
        cmd = launch_command(settings)
        log.info("launching: " + " ".join(cmd))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in proc.stdout:
                if line.strip():
                    log.info(line.rstrip())
        except BaseException:
            # Stopped ourselves: stop the launcher too, or it would go on writing without the lock.
            proc.terminate()
            proc.wait(timeout=60)
            raise
        if proc.wait() != 0:
            raise StepError(Exit.SCORING, f"accelerate launch exited with {proc.returncode}; the lines "
                            "above say why. Run again to resume: finished units are kept.")
        return None
    from echoroom.scoring.run import start

    try:
        with contextlib.redirect_stdout(_LogLines(log)):
            return start(settings, program="jobs/score.py")
    except CorpusError as exc:
        raise StepError(Exit.INPUT, str(exc)) from None
    except (ValueError, OSError, RuntimeError) as exc:
        raise StepError(Exit.SCORING, f"{exc}. Run again to resume: finished units are kept.") from None
    except SystemExit as exc:  # the job's own stop, e.g. a launch with the wrong process count
        raise StepError(Exit.SCORING, str(exc.code)) from None


def report(config: Config, log: logging.Logger) -> dict:
    import duckdb

    from echoroom.report.render import build
    from echoroom.report.settings import ReportError

    try:
        written = build(config.report)
    except (ReportError, OSError, duckdb.Error) as exc:
        raise StepError(Exit.REPORT, str(exc)) from None
    log.info(f"report: {written['messages']:,} messages in scope; wrote {written['html']} and {written['eml']}")
    return written


def email(config: Config, written: dict, force: bool, log: logging.Logger) -> str:
    """Send (or dry-run) the report to the recipients who have not had this period's report."""
    from echoroom import mail

    mode, recipients, eml = config.email["mode"], config.email["recipients"], written["eml"]
    if mode == "off":
        return "off"
    sender = mail.sender(config.email["sender"])
    try:
        if mode == "dry-run":
            if not recipients:
                log.info(f"email: dry run, no recipients: nothing sent; the report email is {eml}")
                return "dry run: nothing sent"
            out = config.state_dir / "outgoing.eml"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(bytes(mail.address(mail.read(eml), recipients, sender or "echoroom@localhost")))
            log.info(f"email: dry run: nothing sent; the message for {', '.join(recipients)} is in {out}")
            return f"dry run: nothing sent, addressed copy in {out}"
        if not sender:
            raise StepError(Exit.EMAIL, "no sender address: set email.sender in the config, or "
                            "ECHOROOM_SMTP_FROM in the environment")
        period, digest, ledger = written["period"], written["content_hash"], Ledger(config.state_dir)
        due = list(recipients)
        if not force:
            due = []
            for r in recipients:
                before = ledger.sent(period, r)
                if before is None:
                    due.append(r)
                elif before["report_hash"] != digest:
                    log.warning(f"email: {r} had the report for {period} on {before['sent_at']}; it has "
                                "changed since. Not sending it again; --force-email sends it")
                else:
                    log.info(f"email: {r} already had this report for {period} ({before['sent_at']})")
        if not due:
            log.info("email: nothing to send")
            return "already sent"
        port = mail.port(config.smtp["security"], config.smtp["port"])
        message = mail.address(mail.read(eml), due, sender)
        accepted = mail.send(message, config.smtp["host"], port, config.smtp["security"],
                             cafile=config.smtp["cafile"], timeout=float(config.smtp["timeout"]))
        ledger.record(period, accepted, digest, message["Message-ID"])
        log.info(f"email: sent the report for {period} to {', '.join(accepted)} via {config.smtp['host']}:{port}")
        refused = [r for r in due if r not in accepted]
        if refused:
            raise StepError(Exit.EMAIL, f"the server refused {', '.join(refused)}; the others got it")
        return f"sent to {len(accepted)} recipient(s)"
    except (mail.MailError, OSError, ValueError) as exc:  # OSError: smtplib and socket failures
        raise StepError(Exit.EMAIL, f"{type(exc).__name__}: {exc}") from None


# ---- a run ---------------------------------------------------------------------------------

def run(config: Config, log: logging.Logger, wait: float = 0.0, force_email: bool = False) -> tuple[Exit, dict]:
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
    except KeyboardInterrupt:
        log.error(f"interrupted while waiting for {config.lock_path}; nothing was done")
        return Exit.INTERRUPTED, outputs
    code = Exit.OK
    try:
        for line in config_mod.describe(config):
            log.info(line)
        step = "ingest"
        corpora = ingest(config, log)
        outputs["corpus"] = corpora
        step = "score"
        counts = score(config, corpora, log)
        record["steps"]["score"] = counts
        outputs["database"] = config.database
        step = "report"
        written = report(config, log)
        outputs["report"], outputs["eml"] = written["html"], written["eml"]
        step = "email"
        outputs["email"] = record["steps"]["email"] = email(config, written, force_email, log)
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
            (config.state_dir / "last_run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        except OSError as exc:
            log.warning(f"could not write {config.state_dir / 'last_run.json'}: {exc}")
        lock.release()
    log.info(f"run {'finished' if code == Exit.OK else 'stopped'} in {seconds:.1f} s: exit {int(code)} ({code.name.lower()})")
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
        if not config_path:
            print(f"next: open {_shown(outputs['report'])}, or explore with "
                  f"`echoroom sql --db {_shown(outputs['database'])} --list`")
    return int(code)
