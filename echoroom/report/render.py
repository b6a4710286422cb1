"""The shift report: run the report queries over one DuckDB file and render its two outputs.

One run reads the messages in scope once (``queries/report_scope.sql``), runs the named queries
over that snapshot, and turns their rows into ready-to-display values. The same values feed the
interactive HTML report (Vega-Lite charts, the JavaScript inlined) and the email (PNG charts by
Content-ID, see ``echoroom.mail``). Templates live in ``reports/`` and only display.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
import time
from functools import lru_cache
from pathlib import Path

import jinja2

from echoroom import mail
from echoroom import settings as S
from echoroom.report import charts, drill, filters
from echoroom.report.data import gather, open_scope, previous_summary
from echoroom.report.settings import ReportError, ReportSettings
from echoroom.report.view import context, neutralise

_PACKAGE = Path(__file__).resolve().parents[1]
# A wheel ships the templates inside the package (echoroom/reports, pyproject.toml's package-dir);
# a checkout keeps them in the top-level reports/ beside echoroom/.
TEMPLATES_DIR = _PACKAGE / "reports" if (_PACKAGE / "reports").is_dir() else _PACKAGE.parent / "reports"
# Gmail clips an HTML body past 102 KB behind a "view entire message" link; stay under that.
MAX_HTML_BYTES = 100_000
EMAIL_TERMS = 20


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one template environment. HTML is always autoescaped; the plain-text email part
    (``*.txt.j2``) is not, because HTML entities would show literally in a text reader."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"),
                                            disabled_extensions=("txt.j2",), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )


def render(template: str, values: dict) -> str:
    return environment().get_template(template).render(**values)


@lru_cache(maxsize=1)
def vega_javascript() -> str:
    """Vega, Vega-Lite and Vega-Embed as one self-contained script, from the installed vl-convert
    (the same versions that draw the email's PNGs); nothing is fetched when the report opens."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()
    # Inlined in a <script> element, the bundle must not be able to close it early.
    if "</script" in bundle.lower():
        raise ReportError("the vl-convert JavaScript bundle contains '</script' and cannot be inlined")
    return bundle


def letter(values: dict, images: list[tuple[str, str, bytes]], subject: str, scale: float = 1.5):
    """The report email: ``values`` (``view.context``) rendered into its HTML and text parts, with
    the charts as ``(name, title, png)`` drawn at ``scale`` pixels per CSS pixel."""
    cids = {name: mail.content_id(name, png) for name, _, png in images}
    charts_ = [{"id": name, "title": title, "cid": cids[name], "width": _png_width(png, scale)}
               for name, title, png in images]
    # The email lists the strongest terms only; each term row costs about 700 bytes of inline style.
    values = dict(values, charts=charts_, omitted=0, terms=values["terms"][:EMAIL_TERMS],
                  terms_omitted=max(0, len(values["terms"]) - EMAIL_TERMS))
    html = render("email.html.j2", values)
    # Too big for the inbox: drop the longest part first, the tail of the message table.
    while len(html.encode()) > MAX_HTML_BYTES and values["divergent"]:
        keep = len(values["divergent"]) // 2
        values = dict(values, divergent=values["divergent"][:keep],
                      omitted=values["omitted"] + len(values["divergent"]) - keep)
        html = render("email.html.j2", values)
    if len(html.encode()) > MAX_HTML_BYTES:
        raise ReportError(f"the email body is {len(html.encode()):,} bytes, over {MAX_HTML_BYTES:,}: "
                          "lower --top")
    text = render("email.txt.j2", values)
    return mail.compose(subject, text, html, [(name, png, cids[name]) for name, _, png in images])


def _png_width(png: bytes, scale: float) -> int:
    # The IHDR chunk starts every PNG: width is the big-endian uint32 at byte 16.
    return round(struct.unpack(">I", png[16:20])[0] / scale)


def period_key(settings: ReportSettings, summary: dict) -> str:
    """The report's period as the email ledger's key. With no end the report runs to the last
    message, so that message's time ends the period: new messages make a new report to send."""
    start, end = settings.period()
    if end is None:
        last = summary["last_at"]
        end_text = f"last message {last.astimezone(dt.timezone.utc).isoformat() if last else 'none'}"
    else:
        end_text = end.isoformat()
    scope = [f"{k}={v}" for k, v in settings.filters().items() if k not in ("start", "end") and v]
    return " ".join([f"{start.isoformat() if start else 'first message'} .. {end_text}", *scope])


def content_hash(values: dict) -> str:
    """A hash of what the report says, without the time it was made and the list of scoring runs
    (every run adds one, even when it had nothing new to score): the same findings, the same hash."""
    said = {k: v for k, v in values.items() if k not in ("generated", "runs")}
    return hashlib.sha256(json.dumps(said, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build(settings: ReportSettings) -> dict:
    """Write report.html, report.eml and settings.json under ``settings.out``.

    Returns their paths and what the pipeline's email step needs, so nobody queries again:
    ``messages`` in scope, the ``period`` key and the ``content_hash`` of the email's values; and
    ``left_out``, the line saying how many messages were not scored for their language (or None).
    """
    con = open_scope(settings)
    try:
        data = neutralise(gather(con, settings))  # the charts show names and terms too
    finally:
        con.close()
    previous = previous_summary(settings)
    specs = charts.build(data, settings.min_support)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)

    page = context(data, settings, previous, include_text=True)
    page["charts"] = [{"id": name, "title": title, "spec": spec} for name, title, spec in specs]
    page["javascript"] = vega_javascript()
    page["drill"] = drill.embedded(data)
    page["filters"] = filters.embedded(data, settings.min_support, settings.top)
    html_path = out / "report.html"
    html_path.write_text(render("report.html.j2", page), encoding="utf-8")

    values = context(data, settings, previous, include_text=settings.include_text)
    message = letter(values, charts.pngs(specs, scale=1.5), f"{values['title']}: {values['period']}")
    eml_path = out / "report.eml"
    eml_path.write_bytes(bytes(message))

    settings_path = out / "settings.json"
    settings_path.write_text(S.to_json(settings) + "\n")
    return {"html": html_path, "eml": eml_path, "settings": settings_path,
            "messages": data["summary"]["messages"], "period": period_key(settings, data["summary"]),
            "content_hash": content_hash(values), "left_out": values["left_out"]}


def make(settings: ReportSettings) -> dict:
    """``build``, saying what it does unless ``settings.quiet``: the effective settings first, then
    what was written and how long it took. ``echoroom report`` and ``jobs/report.py`` both call it."""
    if not settings.quiet:
        print("report settings:\n" + S.describe(settings), flush=True)
    t0 = time.perf_counter()
    written = build(settings)
    if not settings.quiet:
        print(f"{written['messages']:,} messages in scope; wrote {written['html']}, {written['eml']} "
              f"and {written['settings']} in {time.perf_counter() - t0:.1f} s")
    return written
