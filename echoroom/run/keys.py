"""Every key of the pipeline config, declared once, with its type, default and help.

The ``[report]`` and ``[scoring]`` keys are not declared here: they are the fields of
``ReportSettings`` and ``ScoreSettings``, taken with their defaults, help and choices, and checked
by those classes. The other keys belong to the pipeline alone and are declared below. The loader
(``echoroom.run.config``), its error messages and the reference table in docs/operations.md (a
test compares them) all come from ``KEYS``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from dataclasses import dataclass

from echoroom import mail
from echoroom import settings as S
from echoroom.report.settings import ReportSettings
from echoroom.scoring.settings import ScoreSettings

EMAIL_MODES = ("send", "dry-run", "off")
LOG_LEVELS = ("debug", "info", "warning")
SECTIONS = ("", "inputs", "scoring", "report", "email", "smtp")
# Keys people reach for by habit that must not hold a value here: the error says where it goes.
SECRET_HINTS = {"password": "ECHOROOM_SMTP_PASSWORD", "user": "ECHOROOM_SMTP_USER",
                "username": "ECHOROOM_SMTP_USER", "pseudonymize_key": "pseudonymize_key_env"}
# The settings the pipeline fills in itself, per run (the corpora it ingested, its database and
# output folder), or that make no sense in a scheduled run (a progress bar, a corpus column mapping:
# the pipeline's corpora have the canonical columns): everything else is a config key.
PIPELINE_OWNED = {ReportSettings: ("db", "out", "quiet"),
                  ScoreSettings: ("inputs", "db", "columns", "lenses", "work_dir", "keep_shards", "progress")}
# A TOML date or date-time is as good as the ISO text the settings take.
_ANY_TIME = (str, dt.date, dt.datetime)
_TOML_KINDS = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}


@dataclass(frozen=True)
class Key:
    section: str          # "" top level; "inputs" is an array of tables ([[inputs]])
    name: str
    kinds: tuple          # accepted TOML value types
    default: object
    help: str
    choices: tuple = ()
    required: bool = False
    settings: type | None = None  # the settings class that declares and checks it; None: the loader checks

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}" if self.section else self.name


def _declared_by(section: str, cls: type) -> tuple[Key, ...]:
    """The config keys of a settings class: its fields, less those the pipeline fills in."""
    hints = typing.get_type_hints(cls)
    return tuple(
        Key(section, f.name, _ANY_TIME if f.name in ("start", "end") else _TOML_KINDS[S.base_type(hints[f.name])],
            f.default, S.help_of(f), S.choices_of(f), settings=cls)
        for f in dataclasses.fields(cls) if f.name not in PIPELINE_OWNED[cls])


KEYS: tuple[Key, ...] = (
    Key("", "database", (str,), "echoroom.duckdb", "DuckDB file scored into; its lock is DATABASE.lock"),
    Key("", "lenses", (str,), "", "folder holding author/ and reader/ lenses; empty: the shipped ones "
        "(or $ECHOROOM_LENSES)"),
    Key("", "output_dir", (str,), "report", "folder for report.html, report.eml and settings.json"),
    Key("", "state_dir", (str,), "", "sent-email ledger and last_run.json; empty: DATABASE.state beside the "
        "database"),
    Key("", "log_file", (str,), "", "also append the log to this file; empty: stderr only"),
    Key("", "log_level", (str,), "info", "least severe log level written", choices=LOG_LEVELS),
    Key("inputs", "paths", (list,), None, "export files, folders, zips or globs for this input", required=True),
    Key("inputs", "corpus", (str,), None, "corpus Parquet file this input is ingested to (rewritten only when "
        "it changes)", required=True),
    Key("inputs", "format", (str,), None, "read every path as this format; unset: detect from content"),
    Key("inputs", "timezone", (str,), None, "IANA zone of exports without UTC offsets (WhatsApp), e.g. "
        "Europe/London; unset: this machine's zone"),
    Key("inputs", "pseudonymize_key_env", (str,), None, "name of the environment variable holding the sender "
        "pseudonymisation key; unset: real names"),
    Key("inputs", "on_error", (str,), "stop", "at a malformed record: stop, or skip it and count it",
        choices=("stop", "skip")),
    Key("inputs", "date_order", (str,), None, "WhatsApp date order when detection cannot tell",
        choices=("dmy", "mdy", "ymd")),
    Key("inputs", "conversation", (str,), None, "conversation name for a single WhatsApp chat or table"),
    Key("inputs", "columns", (dict,), None, "CSV/JSONL/Parquet column mapping, e.g. {text = \"body\"}"),
    *_declared_by("scoring", ScoreSettings),
    *_declared_by("report", ReportSettings),
    Key("email", "mode", (str,), "dry-run", "send: email the report; dry-run: write it addressed, send "
        "nothing; off", choices=EMAIL_MODES),
    Key("email", "recipients", (list,), [], "addresses the report goes to (required to send)"),
    Key("email", "sender", (str,), None, f"From address; unset: ${mail.FROM_ENV}, else ${mail.USER_ENV}"),
    Key("smtp", "host", (str,), "localhost", "SMTP server"),
    Key("smtp", "port", (int,), 0, f"SMTP port; 0: {mail.port_help()}"),
    Key("smtp", "security", (str,), "starttls", "how the connection is encrypted; none: plain SMTP, only to a relay "
        "on this machine", choices=mail.SECURITY),
    Key("smtp", "cafile", (str,), None, "CA certificates to trust for the server; unset: the system's"),
    Key("smtp", "timeout", (int, float), 30.0, "seconds to wait for the SMTP server"),
)


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
