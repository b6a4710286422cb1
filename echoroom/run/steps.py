"""The pipeline's four steps, in order: ingest, score, report, email. Each takes the config and the
run's logger, and raises ``StepError`` with the ``Exit`` code of its failure class; the pipeline
(``echoroom.run.pipeline``) runs them under the lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import filecmp
import io
import logging
import os
import subprocess
from enum import IntEnum
from pathlib import Path

from echoroom import mail
from echoroom.ingest import IngestError
from echoroom.ingest import ingest as ingest_exports
from echoroom.ingest.source import expand
from echoroom.report.settings import ReportError
from echoroom.run.config import Config
from echoroom.run.ledger import Ledger
from echoroom.scoring import guard
from echoroom.scoring.corpus import CorpusError
from echoroom.scoring.settings import launch_command
from echoroom.store import StoreError


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


def ingest(config: Config, log: logging.Logger) -> list[Path]:
    """Each input's exports -> its corpus file, replaced only if the content changed."""
    for i, item in enumerate(config.inputs):
        try:
            exports = expand(item.paths)
        except IngestError as exc:
            raise StepError(Exit.INPUT, f"inputs[{i}].paths: {exc}") from None
        incoming = item.corpus.with_name(f".{item.corpus.name}.incoming")
        try:
            summary = ingest_exports(exports, incoming, item.options)
        except (IngestError, OSError) as exc:
            raise StepError(Exit.INPUT, f"inputs[{i}]: {exc}") from None
        # Ids are stable and the writer deterministic, so same exports -> same bytes. Keeping the
        # old file keeps its mtime, part of the scoring run key: an interrupted run then resumes.
        found = f"inputs[{i}]: {len(exports)} export(s), {summary.written} messages"
        if item.corpus.is_file() and filecmp.cmp(incoming, item.corpus, shallow=False):
            incoming.unlink()
            log.info(f"{found}, unchanged: {item.corpus}")
        else:
            os.replace(incoming, item.corpus)
            log.info(f"{found} written to {item.corpus}")
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.skipped.items()))
        if skipped:
            log.info(f"inputs[{i}]: not messages: {skipped}")
        if summary.cut:
            log.warning(f"inputs[{i}]: cut {summary.cut} message(s): {summary.cut_reason()}; first at "
                        f"{summary.cut_where[0]}")
        for problem in summary.problems:
            log.warning(f"inputs[{i}]: skipped malformed record: {problem}")
    return [item.corpus for item in config.inputs]


def score(config: Config, corpora: list[Path], log: logging.Logger) -> dict | None:
    """The scoring library (the one scoring path) over every corpus; only new messages are scored."""
    settings = dataclasses.replace(config.scoring, inputs=",".join(map(str, corpora)),
                                   # a bar on a terminal, plain lines per unit otherwise (scoring.run)
                                   db=str(config.database), progress=True,
                                   lenses=str(config.lenses) if config.lenses else "")
    if settings.processes > 1:
        # The scoring job under accelerate launch; its lines are relayed so the log has them all.
        cmd = launch_command(settings)
        log.info("launching: " + " ".join(cmd))
        # This process holds the lock for the launched ones: they die with it (guard's docstring).
        env = dict(os.environ, **{guard.HOLDER_ENV: str(os.getpid())})
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                preexec_fn=guard.die_with_parent)
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
    from echoroom.scoring.run import start  # torch: imported once the lock is held

    try:
        with contextlib.redirect_stdout(_LogLines(log)):
            return start(settings, program="jobs/score.py")
    except CorpusError as exc:
        raise StepError(Exit.INPUT, str(exc)) from None
    except StoreError as exc:  # its message says what to fix
        raise StepError(Exit.SCORING, str(exc)) from None
    except (ValueError, OSError, RuntimeError) as exc:
        raise StepError(Exit.SCORING, f"{exc}. Run again to resume: finished units are kept.") from None
    except SystemExit as exc:  # the job's own stop, e.g. a launch with the wrong process count
        raise StepError(Exit.SCORING, str(exc.code)) from None


def report(config: Config, log: logging.Logger) -> dict:
    import duckdb

    from echoroom.report.render import build  # Jinja, Altair and DuckDB: imported once the lock is held

    try:
        written = build(config.report)
    except (ReportError, OSError, duckdb.Error) as exc:
        raise StepError(Exit.REPORT, str(exc)) from None
    log.info(f"report: {written['messages']:,} messages in scope; wrote {written['html']} and {written['eml']}")
    if written["left_out"]:
        log.info(f"report: {written['left_out']}")
    return written


def email(config: Config, written: dict, force: bool, log: logging.Logger) -> str:
    """Send (or dry-run) the report to the recipients who have not had this period's report."""
    mode, recipients, eml = config.email["mode"], config.email["recipients"], written["eml"]
    if mode == "off":
        return "off"
    try:
        if mode == "dry-run":
            if not recipients:
                log.info(f"email: dry run, no recipients: nothing sent; the report email is {eml}")
                return "dry run: nothing sent"
            try:
                sender = mail.sender(config.email["sender"])
            except mail.MailError:  # a dry run shows the message before a sender is configured
                sender = "echoroom@localhost"
            out = config.state_dir / "outgoing.eml"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(bytes(mail.addressed(eml, recipients, sender)))
            log.info(f"email: dry run: nothing sent; the message for {', '.join(recipients)} is in {out}")
            return f"dry run: nothing sent, addressed copy in {out}"
        sender = mail.sender(config.email["sender"], how="set email.sender in the config")
        period, digest, ledger = written["period"], written["content_hash"], Ledger(config.state_dir)
        due = _due(ledger, period, digest, recipients, force, log)
        if not due:
            log.info("email: nothing to send")
            return "already sent"
        smtp = config.smtp
        port = mail.port(smtp["security"], smtp["port"])
        message = mail.addressed(eml, due, sender)
        accepted = mail.send(message, smtp["host"], port, smtp["security"], cafile=smtp["cafile"],
                             timeout=float(smtp["timeout"]))
        ledger.record(period, accepted, digest, message["Message-ID"])
        log.info(f"email: sent the report for {period} to {', '.join(accepted)} via {smtp['host']}:{port}")
        refused = [r for r in due if r not in accepted]
        if refused:
            raise StepError(Exit.EMAIL, f"the server refused {', '.join(refused)}; the others got it")
        return f"sent to {len(accepted)} recipient(s)"
    except (mail.MailError, OSError, ValueError) as exc:  # OSError: smtplib and socket failures
        raise StepError(Exit.EMAIL, f"{type(exc).__name__}: {exc}") from None


def _due(ledger: Ledger, period: str, digest: str, recipients: list[str], force: bool,
         log: logging.Logger) -> list[str]:
    """The recipients who have not had this period's report (all of them with ``force``)."""
    if force:
        return list(recipients)
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
    return due
