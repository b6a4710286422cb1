"""The ``echoroom`` command. Each subcommand parses its options here and calls the library.

What ``echoroom --help`` says is ``DESCRIPTION`` and ``EPILOG`` below, written for the person
running it; this docstring is for whoever maintains the module.

The options of ``score`` and ``report`` are derived from ``ScoreSettings`` and ``ReportSettings``
(``echoroom.settings.add_options``), so they have the settings' names, defaults, help and choices.
Imports of heavy modules (torch, transformers) happen inside the subcommand that needs them, so
``echoroom --help`` and the light subcommands start fast.
"""

from __future__ import annotations

import argparse
import sys

from echoroom import mail
from echoroom import settings as S
from echoroom.ingest.session import FORMATS
from echoroom.report.settings import ReportSettings
from echoroom.run.keys import KEYS
from echoroom.scoring.settings import ScoreSettings

DESCRIPTION = ("The Echo Room: read every chat message through two emotion lenses (what the writer\n"
               "meant, what a reader takes from it) and report where meaning shifts.")
EPILOG = """typical flow:
  echoroom ingest chat.txt --out corpus.parquet        chat exports -> one corpus file
  echoroom score corpus.parquet --db echoroom.duckdb   both lenses, stored in DuckDB
  echoroom report --db echoroom.duckdb --out report    report.html (open it) and report.eml
  echoroom run                                         all of it on the demo chats, into out/demo
  echoroom sql --list                                  the saved queries over a scored database
  echoroom export --db echoroom.duckdb --out lake      Parquet for Spark, Trino, DuckDB (new runs only)

Each command has its own --help. Documentation: README.md and docs/."""


def _predict(args) -> int:
    from echoroom.labels import LABELS
    from echoroom.lenses import default_lens_folders, shift
    from echoroom.lenses.model import LensSet

    lenses = LensSet(default_lens_folders(args.lenses))
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    probs = lenses.predict(texts)
    for i, text in enumerate(texts):
        print(f"\n{text}")
        for name in lenses.names:
            row = probs[name][i]
            order = row.argsort()[::-1]
            labels = ", ".join(lenses.label_sets(name, row[None])[0])
            print(f"  {name:<7} {LABELS[order[0]]:<9} {row[order[0]]:.2f}   labels: {labels}")
            bars = "  ".join(f"{LABELS[j]} {row[j]:.2f}" for j in order[:5])
            print(f"          {bars}")
            scales = [f"{s} {probs[f'{name}_{s}'][i]:.2f}" for s in lenses.infos[name].scales]
            if scales:
                print(f"          {'  '.join(scales)}")
        gap = probs["author_valence"][i] - probs["reader_valence"][i] if "reader_valence" in probs else None
        sarcasm = probs["author_sarcasm"][i] if "author_sarcasm" in probs else None
        said = shift.describe(probs["author"][i], probs["reader"][i], gap, sarcasm, lenses.infos["author"].shift)
        print(f"  shift   {said['kind']:<10} score {said['score']:.2f}"
              + (f"   valence gap {gap:+.2f}" if gap is not None else "")
              + (f"   sarcasm {sarcasm:.2f}" if sarcasm is not None else ""))
    return 0


def _score(args) -> int:
    import subprocess

    from echoroom.scoring.settings import launch_command

    if not hasattr(args, "progress"):
        # A bar on a terminal; under cron or in a log file, only the run's start and end lines.
        args.progress = sys.stderr.isatty()
    settings = S.from_options(ScoreSettings, args)
    if settings.processes > 1:
        # Several processes: the scoring job under `accelerate launch` (gloo on CPU, NCCL on GPUs).
        return subprocess.call(launch_command(settings))
    from transformers.utils import logging as hf_logging

    from echoroom.scoring.run import start
    from echoroom.store import StoreError

    hf_logging.disable_progress_bar()  # its "Loading weights" bar says nothing about the messages
    try:
        start(settings)
    except StoreError as exc:  # the database, not the input: its own exit code (docs/operations.md)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (ValueError, FileNotFoundError) as exc:  # bad input: the message is the fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _ingest(args) -> int:
    from echoroom.ingest import IngestError, Options, ingest
    from echoroom.ingest.session import key_from_env
    from echoroom.ingest.source import expand

    try:
        try:
            key = key_from_env(args.pseudonymize_key_env)
        except IngestError as exc:
            raise IngestError(f"--pseudonymize-key-env {exc}") from None
        columns = {}
        for pair in args.column:
            name, sep, source = pair.partition("=")
            if not sep or not name or not source:
                raise IngestError(f"--column expects NAME=SOURCE_COLUMN, got {pair!r}")
            columns[name.strip()] = source.strip()
        options = Options(format=args.format, timezone=args.timezone, pseudonymize_key=key, on_error=args.on_error,
                          date_order=args.date_order, conversation=args.conversation, columns=columns,
                          platform=args.platform, batch_size=args.batch_size)
        summary = ingest(expand(args.exports), args.out, options)
    except IngestError as exc:  # the message names the file, line and fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{summary}\ncorpus: {args.out}")
    return 0


def _report(args) -> int:
    from echoroom.report.render import make
    from echoroom.report.settings import ReportError
    from echoroom.store import StoreError

    settings = S.from_options(ReportSettings, args)  # a bad value: main names it as an option
    try:
        make(settings)
    except (ReportError, FileNotFoundError, StoreError) as exc:  # the message says what to change
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _email(args) -> int:
    from pathlib import Path

    to = [a.strip() for item in args.to for a in item.split(",") if a.strip()]
    try:
        sender = mail.sender(args.sender, how="give --from ADDRESS")
        for option, address in [("--to", a) for a in to] + [("--from", sender)]:
            try:  # checked here too, to name the option
                mail.check_address(address)
            except mail.MailError as exc:
                raise mail.MailError(f"{option} {exc}") from None
        message = mail.addressed(args.eml, to, sender)
        if args.dry_run:
            out = Path(args.out or Path(args.eml).with_suffix(".outgoing.eml"))
            out.write_bytes(bytes(message))
            print(f"dry run: nothing sent; the message for {', '.join(to)} is in {out}")
            return 0
        port = mail.port(args.security, args.smtp_port)
        accepted = mail.send(message, args.smtp_host, port, args.security, cafile=args.cafile)
    except (mail.MailError, FileNotFoundError, OSError) as exc:  # OSError: smtplib and socket failures
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"sent {args.eml} to {', '.join(accepted)} via {args.smtp_host}:{port}")
    return 0


def _run(args) -> int:
    from echoroom.run import pipeline

    return pipeline.main(args.config, wait=args.wait, force_email=args.force_email)


def _sql(args) -> int:
    from echoroom import catalog

    if args.list:
        names = catalog.saved()
        width = max(map(len, names))
        print("\n".join(f"{n:<{width}}  {doc}" for n, doc in names.items()))
        print("\nUnset parameters are NULL: no filter, every row. Each query's file in queries/ documents "
              "its parameters and columns.")
        return 0
    if bool(args.query) == bool(args.sql):
        print("error: give a saved query NAME (see --list) or --sql \"SELECT ...\", not both", file=sys.stderr)
        return 2
    try:
        columns, rows = catalog.execute(args.db, name=args.query, sql=args.sql, params=catalog.parse_params(args.param))
    except (ValueError, FileNotFoundError) as exc:  # the message names the query and parameters
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.csv:
        catalog.print_csv(columns, rows)
    else:
        print(catalog.table(columns, rows))
    return 0


def _export(args) -> int:
    from echoroom import lake, store

    try:
        print(lake.export(args.db, args.out))
    except (lake.LakeError, store.StoreError, FileNotFoundError) as exc:  # the message names the file and fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="echoroom", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="show both lenses' emotions for some text")
    p.add_argument("text", nargs="*", help="texts to read (default: one per line on stdin)")
    p.add_argument("--lenses", help="folder holding author/ and reader/ lens folders")
    p.set_defaults(func=_predict)

    p = sub.add_parser("score", help="score Parquet corpora through both lenses into DuckDB",
                       description="Options are the scoring job's settings (docs/scoring.md).")
    S.add_options(p, ScoreSettings, required=("db",), positional={"inputs": "INPUT"})
    p.set_defaults(func=_score)

    p = sub.add_parser("ingest", help="turn chat exports into a corpus Parquet file",
                       description="Formats: " + ", ".join(FORMATS) + " (detected from content). See docs/ingest.md.")
    p.add_argument("exports", nargs="+", metavar="EXPORT", help="export files, folders, zips or quoted globs")
    p.add_argument("--out", required=True, help="corpus Parquet file to write (replaced)")
    # The options an [[inputs]] table of the pipeline config also takes: declared there, once.
    inputs = {k.name: k for k in KEYS if k.section == "inputs"}
    for name in ("format", "timezone", "pseudonymize_key_env", "on_error", "date_order", "conversation"):
        key = inputs[name]
        p.add_argument(S.flag(name), dest=name, default=key.default, choices=key.choices or None,
                       help=key.help + (f" (default: {key.default})" if key.default else ""))
    p.add_argument("--column", action="append", default=[], metavar="NAME=SOURCE",
                   help="CSV/JSONL/Parquet column mapping, e.g. --column text=body (repeatable)")
    p.add_argument("--platform", help="platform of CSV/JSONL/Parquet rows (default: tabular)")
    p.add_argument("--batch-size", type=int, default=10_000, help="rows per Parquet row group")
    p.set_defaults(func=_ingest)

    p = sub.add_parser("report", help="write the shift report: report.html and report.eml",
                       description="See docs/reports.md for each section and query.")
    S.add_options(p, ReportSettings, required=("db", "out"))
    p.set_defaults(func=_report)

    p = sub.add_parser("email", help="send a report .eml over SMTP (or write it addressed, --dry-run)",
                       description="Credentials come from ECHOROOM_SMTP_USER and ECHOROOM_SMTP_PASSWORD.")
    p.add_argument("--eml", required=True, help="the report.eml written by `echoroom report`")
    p.add_argument("--to", action="append", required=True, help="recipient (repeatable, or comma-separated)")
    p.add_argument("--from", dest="sender", help="sender address (default: ECHOROOM_SMTP_FROM, else the user)")
    p.add_argument("--smtp-host", dest="smtp_host", default="localhost", help="SMTP server (default localhost)")
    p.add_argument("--smtp-port", dest="smtp_port", type=int, help=f"port (default: {mail.port_help()})")
    security = p.add_mutually_exclusive_group()
    security.add_argument("--starttls", dest="security", action="store_const", const="starttls",
                          help="upgrade the connection with STARTTLS (the default)")
    security.add_argument("--ssl", dest="security", action="store_const", const="ssl",
                          help="connect over TLS from the start (SMTPS)")
    security.add_argument("--no-tls", dest="security", action="store_const", const="none",
                          help="plain SMTP, only to a relay on this machine")
    p.add_argument("--cafile", help="CA certificates to trust for the server (default: the system's)")
    p.add_argument("--dry-run", dest="dry_run", action="store_true", help="write the addressed .eml, send nothing")
    p.add_argument("--out", help="with --dry-run: where to write it (default: EML.outgoing.eml)")
    p.set_defaults(func=_email, security="starttls")

    p = sub.add_parser("run", help="the scheduled pipeline: ingest, score what is new, report, email",
                       description="Without --config: the built-in demo (echoroom/demo chats -> out/demo). "
                       "Exit codes, the lock and the config keys: docs/operations.md.")
    p.add_argument("--config", help="TOML config file (see examples/echoroom.toml)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="if another run holds the lock, wait up to this long (default: exit 75 at once)")
    p.add_argument("--force-email", dest="force_email", action="store_true",
                   help="email the report even to recipients who had this period's report")
    p.set_defaults(func=_run)

    p = sub.add_parser("sql", help="run a saved query by name, or read-only SQL, on a scored database",
                       description="Examples over message_lenses: docs/sql-examples.md.")
    p.add_argument("query", nargs="?", metavar="NAME", help="a saved query in queries/ (see --list)")
    p.add_argument("--db", default="out/demo/echoroom.duckdb", help="DuckDB file (default: the demo's)")
    p.add_argument("--sql", help="ad-hoc SQL instead of a saved query: the database is opened read-only and "
                   "DuckDB's external access is off (no reading or writing other files, no COPY TO, "
                   "no INSTALL or LOAD of extensions)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="bind $NAME (repeatable); unset parameters are NULL, i.e. no filter")
    p.add_argument("--list", action="store_true", help="list the saved report queries and what they return")
    p.add_argument("--csv", action="store_true", help="CSV on stdout instead of a table")
    p.set_defaults(func=_sql)

    p = sub.add_parser("export", help="write the scored messages as Hive-partitioned Parquet (docs/lake.md)")
    p.add_argument("--db", required=True, help="the scored DuckDB file (only read)")
    p.add_argument("--out", required=True, metavar="DIR", help="the lake folder (runs already in it are skipped)")
    p.set_defaults(func=_export)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except S.SettingError as exc:  # named as this command's options are: --min-support=0: ...
        print(f"error: {exc.said(S.flag)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
