"""The scheduled pipeline's configuration: one TOML file, every key declared once in ``KEYS``.

    database = "echoroom.duckdb"
    [[inputs]]
    paths = ["exports/*.txt"]
    corpus = "corpus/whatsapp.parquet"
    timezone = "Europe/London"
    [report]
    days = 7

``KEYS`` holds each key's section, type, default and help; the loader, the error messages and the
reference table in docs/operations.md (a test compares them) all come from it. The report and
scoring keys take their defaults from ``ReportSettings`` and the scoring job's ``Settings``, so the
two cannot drift. Secrets never live in the file: it may only name the environment variable that
holds one (``pseudonymize_key_env``), and SMTP credentials come from ``ECHOROOM_SMTP_USER`` and
``ECHOROOM_SMTP_PASSWORD``. Relative paths are relative to the config file's folder, so a crontab
or a systemd unit (whose working directory is ``$HOME`` or ``/``) finds the same files as you do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from echoroom import mail
from echoroom.ingest import IngestError, Options
from echoroom.report.settings import ReportError, ReportSettings
from echoroom.scoring.settings import ScoreSettings

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"
EMAIL_MODES = ("send", "dry-run", "off")
LOG_LEVELS = ("debug", "info", "warning")
SECURITIES = ("starttls", "ssl", "none")
_ANY_TIME = (str, dt.date, dt.datetime)
# Keys people reach for by habit that must not hold a value here: the error says where it goes.
_SECRET_HINTS = {"password": "ECHOROOM_SMTP_PASSWORD", "user": "ECHOROOM_SMTP_USER",
                 "username": "ECHOROOM_SMTP_USER", "pseudonymize_key": "pseudonymize_key_env"}


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Key:
    section: str          # "" top level; "inputs" is an array of tables ([[inputs]])
    name: str
    kinds: tuple          # accepted TOML value types; None is allowed when the default is None
    default: object
    help: str
    choices: tuple = ()
    required: bool = False

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}" if self.section else self.name


def _report(name: str, kinds: tuple, help: str, **kw) -> Key:
    return Key("report", name, kinds, ReportSettings.__dataclass_fields__[name].default, help, **kw)


def _scoring(name: str, kinds: tuple, help: str, **kw) -> Key:
    return Key("scoring", name, kinds, ScoreSettings.__dataclass_fields__[name].default, help, **kw)


KEYS: tuple[Key, ...] = (
    Key("", "database", (str,), "echoroom.duckdb", "DuckDB file scored into; its lock is DATABASE.lock"),
    Key("", "lenses", (str,), "", "folder holding author/ and reader/ lenses; empty: the shipped ones (or $ECHOROOM_LENSES)"),
    Key("", "output_dir", (str,), "report", "folder for report.html, report.eml and settings.json"),
    Key("", "state_dir", (str,), "", "sent-email ledger and last_run.json; empty: DATABASE.state beside the database"),
    Key("", "log_file", (str,), "", "also append the log to this file; empty: stderr only"),
    Key("", "log_level", (str,), "info", "least severe log level written", choices=LOG_LEVELS),
    Key("inputs", "paths", (list,), None, "export files, folders, zips or globs for this input", required=True),
    Key("inputs", "corpus", (str,), None, "corpus Parquet file this input is ingested to (rewritten only when it changes)", required=True),
    Key("inputs", "format", (str,), None, "read every path as this format; unset: detect from content"),
    Key("inputs", "timezone", (str,), None, "IANA zone of exports without UTC offsets (WhatsApp), e.g. Europe/London"),
    Key("inputs", "pseudonymize_key_env", (str,), None, "name of the environment variable holding the sender pseudonymisation key; unset: real names"),
    Key("inputs", "on_error", (str,), "stop", "at a malformed record: stop, or skip it and count it", choices=("stop", "skip")),
    Key("inputs", "date_order", (str,), None, "WhatsApp date order when detection cannot tell", choices=("dmy", "mdy", "ymd")),
    Key("inputs", "conversation", (str,), None, "conversation name for a single WhatsApp chat or table"),
    Key("inputs", "columns", (dict,), None, "CSV/JSONL/Parquet column mapping, e.g. {text = \"body\"}"),
    _scoring("processes", (int,), "scoring processes; more than 1 runs `accelerate launch`"),
    _scoring("chunk_rows", (int,), "rows per scoring unit (one resumable shard each)"),
    _scoring("batch_tokens", (int,), "padded tokens per model batch"),
    _scoring("max_batch", (int,), "texts per model batch at most"),
    _scoring("threads", (int,), "torch threads per process; 0: CPU cores / processes"),
    _scoring("quantize", (bool,), "int8 encoder on CPU (stored as its own lens version)"),
    _scoring("device", (str,), "auto, cpu or cuda"),
    _report("start", _ANY_TIME, "first day or time in the report, inclusive (UTC unless it names a zone)"),
    _report("end", _ANY_TIME, "end day or time, exclusive"),
    _report("days", (int,), "the N days before end (default end: today 00:00 UTC); unset with start unset: all messages"),
    _report("conversation", (str,), "only this conversation id"),
    _report("channel", (str,), "only this channel"),
    _report("sender", (str,), "only this sender"),
    _report("min_support", (int,), "fewest messages a group, emotion or term needs to be ranked"),
    _report("top", (int,), "rows per ranking (1 to 100)"),
    _report("grain", (str,), "shift over time per day or week; auto picks by the span"),
    _report("include_text", (bool,), "message text in the email too (it is always in report.html)"),
    _report("title", (str,), "report title and email subject"),
    Key("email", "mode", (str,), "dry-run", "send: email the report; dry-run: write it addressed, send nothing; off", choices=EMAIL_MODES),
    Key("email", "recipients", (list,), [], "addresses the report goes to (required to send)"),
    Key("email", "sender", (str,), None, "From address; unset: $ECHOROOM_SMTP_FROM, else $ECHOROOM_SMTP_USER"),
    Key("smtp", "host", (str,), "localhost", "SMTP server"),
    Key("smtp", "port", (int,), 0, "SMTP port; 0: 587 for starttls, 465 for ssl, 25 for none"),
    Key("smtp", "security", (str,), "starttls", "starttls, ssl, or none (only to a relay on this machine)", choices=SECURITIES),
    Key("smtp", "cafile", (str,), None, "CA certificates to trust for the server; unset: the system's"),
    Key("smtp", "timeout", (int, float), 30.0, "seconds to wait for the SMTP server"),
)
SECTIONS = ("", "inputs", "scoring", "report", "email", "smtp")


@dataclass(frozen=True)
class Input:
    paths: tuple[str, ...]   # absolute, globs kept as written
    corpus: Path
    options: Options


@dataclass(frozen=True)
class Config:
    source: str                      # the file (or "built-in demo config"), for messages
    database: Path
    lenses: Path | None
    output_dir: Path
    state_dir: Path
    log_file: Path | None
    log_level: str
    inputs: tuple[Input, ...]
    scoring: ScoreSettings
    report: ReportSettings
    email: dict
    smtp: dict

    @property
    def lock_path(self) -> Path:
        return self.database.with_name(self.database.name + ".lock")


def _fail(source: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {problem}")


def _typed(source: str, key: Key, where: str, value):
    if value is None:
        return None
    # TOML booleans are ints to Python: an int key must not take `true`, a float key takes ints.
    ok = isinstance(value, key.kinds) and not (isinstance(value, bool) and bool not in key.kinds)
    if not ok:
        names = " or ".join("date/time" if k in (dt.date, dt.datetime) else k.__name__ for k in key.kinds)
        raise _fail(source, where, f"expected {names}, found {type(value).__name__} {value!r}")
    if key.choices and value not in key.choices:
        raise _fail(source, where, f"{value!r} is not one of {', '.join(key.choices)}")
    if isinstance(value, list) and not all(isinstance(v, str) and v for v in value):
        raise _fail(source, where, f"expected a list of non-empty strings, found {value!r}")
    if isinstance(value, dict) and not all(isinstance(v, str) for v in value.values()):
        raise _fail(source, where, f"expected a table of strings, found {value!r}")
    return value


def _section(source: str, data: dict, section: str, where: str) -> dict:
    """The section's values with defaults filled in; unknown and mistyped keys are errors."""
    keys = {k.name: k for k in KEYS if k.section == section}
    nested = set(SECTIONS) if section == "" else set()
    for name in data:
        if name in nested:
            continue
        if name not in keys:
            if name in _SECRET_HINTS:
                raise _fail(source, f"{where}{name}", "secrets are never read from the config file; "
                            f"use {_SECRET_HINTS[name]} (an environment variable, or the key naming one)")
            raise _fail(source, f"{where}{name}", f"unknown key; known keys here: {', '.join(sorted(keys))}")
    values = {}
    for name, key in keys.items():
        if name not in data:
            if key.required:
                raise _fail(source, f"{where}{name}", "missing; it is required")
            values[name] = key.default
        else:
            values[name] = _typed(source, key, f"{where}{name}", data[name])
    return values


def _path(base: Path, raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base / path


def _from_validation(source: str, section: str, exc: Exception) -> ConfigError:
    # The settings classes name the bad key as --key=...: say it as the config key instead.
    found = re.match(r"--(\w+)", str(exc))
    key = f"{section}.{found.group(1)}" if found else section
    return _fail(source, key, re.sub(r"--(\w+)", r"\1", str(exc)))


def _input(source: str, base: Path, i: int, raw) -> Input:
    where = f"inputs[{i}]."
    if not isinstance(raw, dict):
        raise _fail(source, f"inputs[{i}]", "expected a table ([[inputs]])")
    v = _section(source, raw, "inputs", where)
    if not v["paths"]:
        raise _fail(source, f"{where}paths", "empty; name at least one export file, folder or glob")
    key = None
    if v["pseudonymize_key_env"]:
        key = os.environ.get(v["pseudonymize_key_env"])
        if not key:
            raise _fail(source, f"{where}pseudonymize_key_env", f"names {v['pseudonymize_key_env']}, which "
                        "is not set or empty in the environment; export a long random secret in it")
        key = key.encode("utf-8")
    try:
        options = Options(format=v["format"], timezone=v["timezone"], pseudonymize_key=key,
                          on_error=v["on_error"], date_order=v["date_order"],
                          conversation=v["conversation"], columns=v["columns"] or {})
    except IngestError as exc:
        raise _fail(source, f"inputs[{i}]", str(exc)) from None
    return Input(tuple(str(_path(base, p)) for p in v["paths"]), _path(base, v["corpus"]), options)


def from_dict(data: dict, source: str, base: Path) -> Config:
    """Validate a parsed config; relative paths are taken relative to ``base``."""
    top = _section(source, data, "", "")
    for name in SECTIONS[2:]:
        if not isinstance(data.get(name, {}), dict):
            raise _fail(source, name, f"expected a table ([{name}])")
    raw_inputs = data.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise _fail(source, "inputs", "missing; add at least one [[inputs]] table with paths and corpus")
    inputs = tuple(_input(source, base, i, raw) for i, raw in enumerate(raw_inputs))
    corpora = [str(x.corpus) for x in inputs]
    if len(set(corpora)) != len(corpora):
        raise _fail(source, "inputs", f"two inputs write the same corpus file: {corpora}")

    scoring_values = _section(source, data.get("scoring", {}), "scoring", "scoring.")
    try:
        # inputs and db are the pipeline's to fill in, per run: a placeholder until then.
        scoring = ScoreSettings(inputs="-", **scoring_values)
    except ValueError as exc:
        raise _from_validation(source, "scoring", exc) from None

    report_values = _section(source, data.get("report", {}), "report", "report.")
    for name in ("start", "end"):
        if isinstance(report_values[name], (dt.date, dt.datetime)):
            report_values[name] = report_values[name].isoformat()
    database = _path(base, top["database"])
    try:
        report = ReportSettings(db=str(database), out=str(_path(base, top["output_dir"])), quiet=True,
                                **report_values)
    except ReportError as exc:
        raise _from_validation(source, "report", exc) from None

    email = _section(source, data.get("email", {}), "email", "email.")
    smtp = _section(source, data.get("smtp", {}), "smtp", "smtp.")
    if email["mode"] == "send" and not email["recipients"]:
        raise _fail(source, "email.recipients", "empty, but email.mode is send; add addresses or set mode")
    if smtp["security"] == "none" and email["mode"] == "send":
        # mail.send refuses this too, but only at send time, after a whole run: say it now.
        if not mail.loopback(smtp["host"]):
            raise _fail(source, "smtp.security", f"none sends in clear text, allowed only to a relay on "
                        f"this machine, not to {smtp['host']}; use starttls or ssl")
    if not 0 <= smtp["port"] <= 65535:
        raise _fail(source, "smtp.port", f"{smtp['port']} is not a port number (0 picks the usual one)")
    if smtp["cafile"]:
        smtp["cafile"] = str(_path(base, smtp["cafile"]))
    return Config(
        source=source, database=database,
        lenses=_path(base, top["lenses"]) if top["lenses"] else None,
        output_dir=_path(base, top["output_dir"]),
        state_dir=_path(base, top["state_dir"]) if top["state_dir"]
        else database.with_name(database.name + ".state"),
        log_file=_path(base, top["log_file"]) if top["log_file"] else None,
        log_level=top["log_level"], inputs=inputs, scoring=scoring, report=report, email=email, smtp=smtp)


def load(path: str | os.PathLike) -> Config:
    """Read and validate a config file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (see examples/echoroom.toml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(data, str(path), path.resolve().parent)


DEMO_TOML = """
# The built-in demo: `echoroom run` without --config. Three WhatsApp chats we wrote ourselves
# (echoroom/demo/*.txt) -> out/demo/ in the current folder. The email is a dry run.
database = "out/demo/echoroom.duckdb"
output_dir = "out/demo"
state_dir = "out/demo/state"

[[inputs]]
paths = []                      # filled in with echoroom/demo/*.txt, wherever it is installed
corpus = "out/demo/corpus.parquet"
format = "whatsapp"
timezone = "Europe/London"

[report]
title = "The Echo Room demo: where meaning shifts"
include_text = true

[email]
mode = "dry-run"
"""


def demo() -> Config:
    """The built-in demo config: the shipped demo chats, outputs under ./out/demo."""
    data = tomllib.loads(DEMO_TOML)
    data["inputs"][0]["paths"] = [str(DEMO_DIR / "*.txt")]
    return from_dict(data, "built-in demo config", Path.cwd())


def reference_table() -> str:
    """The Markdown table of every key, as docs/operations.md shows it."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for k in KEYS:
        section = "[[inputs]]" if k.section == "inputs" else f"[{k.section}]" if k.section else "(top)"
        kinds = " or ".join("date/time" if t in (dt.date, dt.datetime) else t.__name__
                            for t in k.kinds if t is not dt.datetime)
        default = "required" if k.required else "unset" if k.default is None else f"`{k.default!r}`"
        choices = f" (one of: {', '.join(k.choices)})" if k.choices else ""
        rows.append(f"| {section} `{k.name}` | {kinds} | {default} | {k.help}{choices} |")
    return "\n".join(rows)


def describe(config: Config) -> list[str]:
    """The effective config as plain lines for the log (paths resolved; no secrets in it)."""
    lines = [f"config: {config.source}", f"  database = {config.database}",
             f"  output_dir = {config.output_dir}", f"  state_dir = {config.state_dir}"]
    for i, x in enumerate(config.inputs):
        lines.append(f"  inputs[{i}] = {', '.join(x.paths)} -> {x.corpus}")
    lines.append("  scoring = " + ", ".join(f"{k.name}={getattr(config.scoring, k.name)}" for k in KEYS
                                            if k.section == "scoring"))
    report = {f.name: getattr(config.report, f.name) for f in dataclasses.fields(config.report)
              if f.name not in ("db", "out", "quiet")}
    lines.append("  report = " + ", ".join(f"{k}={v}" for k, v in report.items() if v is not None))
    lines.append(f"  email = mode={config.email['mode']}, recipients={len(config.email['recipients'])}")
    return lines
