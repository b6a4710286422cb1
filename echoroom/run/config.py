"""The scheduled pipeline's configuration: one TOML file, read and checked against ``KEYS``.

    database = "echoroom.duckdb"
    [[inputs]]
    paths = ["exports/*.txt"]
    corpus = "corpus/whatsapp.parquet"
    timezone = "Europe/London"
    [report]
    days = 7

The keys are declared once, in ``echoroom.run.keys`` (the ``[report]`` and ``[scoring]`` keys are
the fields of ``ReportSettings`` and ``ScoreSettings``, which check their own values). Secrets never
live in the file: it may only name the environment variable that holds one
(``pseudonymize_key_env``), and SMTP credentials come from ``ECHOROOM_SMTP_USER`` and
``ECHOROOM_SMTP_PASSWORD``. Relative paths are relative to the config file's folder, so a crontab
or a systemd unit (whose working directory is ``$HOME`` or ``/``) finds the same files as you do.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tomllib

from echoroom import mail
from echoroom.ingest import IngestError, Options
from echoroom.ingest.session import key_from_env
from echoroom.report.settings import ReportSettings
from echoroom.run.keys import KEYS, SECRET_HINTS, SECTIONS, Key
from echoroom.scoring.settings import ScoreSettings
from echoroom.settings import SettingError

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


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
    if key.choices and key.settings is None and value not in key.choices:
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
            if name in SECRET_HINTS:
                raise _fail(source, f"{where}{name}", "secrets are never read from the config file; "
                            f"use {SECRET_HINTS[name]} (an environment variable, or the key naming one)")
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


def _settings(source: str, section: str, cls: type, **values):
    """``cls(**values)``; its own checks' errors name the config key (``report.top: top=0: ...``)."""
    try:
        return cls(**values)
    except SettingError as exc:
        raise _fail(source, f"{section}.{exc.key}", exc.said(str)) from None


def _input(source: str, base: Path, i: int, raw) -> Input:
    where = f"inputs[{i}]."
    if not isinstance(raw, dict):
        raise _fail(source, f"inputs[{i}]", "expected a table ([[inputs]])")
    v = _section(source, raw, "inputs", where)
    if not v["paths"]:
        raise _fail(source, f"{where}paths", "empty; name at least one export file, folder or glob")
    try:
        key = key_from_env(v["pseudonymize_key_env"])
    except IngestError as exc:
        raise _fail(source, f"{where}pseudonymize_key_env", str(exc)) from None
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

    # inputs and db are the pipeline's to fill in, per run: a placeholder until then.
    scoring = _settings(source, "scoring", ScoreSettings, inputs="-",
                        **_section(source, data.get("scoring", {}), "scoring", "scoring."))
    report_values = _section(source, data.get("report", {}), "report", "report.")
    for name in ("start", "end"):
        if isinstance(report_values[name], (dt.date, dt.datetime)):
            report_values[name] = report_values[name].isoformat()
    database = _path(base, top["database"])
    report = _settings(source, "report", ReportSettings, db=str(database),
                       out=str(_path(base, top["output_dir"])), quiet=True, **report_values)

    email = _section(source, data.get("email", {}), "email", "email.")
    smtp = _section(source, data.get("smtp", {}), "smtp", "smtp.")
    addresses = [(f"email.recipients[{i}]", a) for i, a in enumerate(email["recipients"])]
    for key, addr in addresses + ([("email.sender", email["sender"])] if email["sender"] else []):
        try:  # mail refuses it too, but only at send time, after a whole run: say it now
            mail.check_address(addr)
        except mail.MailError as exc:
            raise _fail(source, key, str(exc)) from None
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
    state_dir = _path(base, top["state_dir"]) if top["state_dir"] else database.with_name(database.name + ".state")
    log_file = _path(base, top["log_file"]) if top["log_file"] else None
    _writable(source, "state_dir", state_dir, folder=True)
    if log_file is not None:
        _writable(source, "log_file", log_file, folder=False)
    return Config(
        source=source, database=database,
        lenses=_path(base, top["lenses"]) if top["lenses"] else None,
        output_dir=_path(base, top["output_dir"]), state_dir=state_dir, log_file=log_file,
        log_level=top["log_level"], inputs=inputs, scoring=scoring, report=report, email=email, smtp=smtp)


def _writable(source: str, key: str, path: Path, folder: bool) -> None:
    """Refuse a log file or state folder this process cannot write, before the run starts: found
    later, the log file is a traceback at its first line and the state folder a lost
    last_run.json. Nothing is created: a probe file is made (unnamed, O_TMPFILE where Linux has
    it) and gone at once, since permission bits say nothing to root or on a read-only mount."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if existing != path and not existing.is_dir():
        problem = f"{existing} is a file, not a folder"
    elif existing == path and folder != path.is_dir():
        problem = "a file, not a folder" if folder else "a folder, not a file"
    else:
        try:
            if existing == path and not folder:
                open(path, "a").close()  # appending nothing leaves its content and time alone
            else:
                tempfile.TemporaryFile(dir=existing).close()
        except OSError as exc:
            into = "to" if existing == path and not folder else "in"
            problem = f"cannot write {into} {existing}: {exc.strerror or exc}"
    if problem:
        empty = "stderr only" if key == "log_file" else "DATABASE.state beside the database"
        raise _fail(source, key, f"{str(path)!r}: {problem}; set {key} to a path this user can write "
                    f"(or leave it empty: {empty})")


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


def describe(config: Config) -> list[str]:
    """The effective config as plain lines for the log (paths resolved; no secrets in it)."""
    lines = [f"config: {config.source}", f"  database = {config.database}",
             f"  output_dir = {config.output_dir}", f"  state_dir = {config.state_dir}"]
    for i, x in enumerate(config.inputs):
        lines.append(f"  inputs[{i}] = {', '.join(x.paths)} -> {x.corpus}")
    for section, settings in (("scoring", config.scoring), ("report", config.report)):
        values = ", ".join(f"{k.name}={getattr(settings, k.name)}" for k in KEYS
                           if k.section == section and getattr(settings, k.name) is not None)
        lines.append(f"  {section} = {values}")
    lines.append(f"  email = mode={config.email['mode']}, recipients={len(config.email['recipients'])}")
    return lines
