"""The report as an email: composing the email-safe MIME message, and sending it over SMTP.

Structure (what Outlook itself writes, and what Gmail, Apple Mail and Thunderbird show inline)::

    multipart/related; type="multipart/alternative"
    ├── multipart/alternative
    │   ├── text/plain      the plain-text report
    │   └── text/html       inline styles, table layout, <img src="cid:...">
    ├── image/png           Content-ID <matrix.<hash>@echoroom>, inline
    └── ...

Credentials come from the environment only (``ECHOROOM_SMTP_USER``, ``ECHOROOM_SMTP_PASSWORD``), so
they are never in a command line, a settings file or a report.
"""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
import ipaddress
import os
import smtplib
import ssl
import struct
from email.message import EmailMessage
from pathlib import Path

from echoroom.report import ReportError, render

# Gmail clips an HTML body past 102 KB behind a "view entire message" link; stay under that.
MAX_HTML_BYTES = 100_000
SECURITY = ("starttls", "ssl", "none")
USER_ENV, PASSWORD_ENV = "ECHOROOM_SMTP_USER", "ECHOROOM_SMTP_PASSWORD"


def _png_width(png: bytes, scale: float) -> int:
    # The IHDR chunk starts every PNG: width is the big-endian uint32 at byte 16.
    return round(struct.unpack(">I", png[16:20])[0] / scale)


def compose(letter: dict, images: list[tuple[str, str, bytes]], subject: str,
            scale: float = 2.0) -> EmailMessage:
    """The email for a report context (``echoroom.report.context``) and its charts as
    ``(name, title, png)``, drawn at ``scale`` pixels per CSS pixel."""
    cids = {name: f"{name}.{hashlib.sha256(png).hexdigest()[:16]}@echoroom" for name, _, png in images}
    charts = [{"id": name, "title": title, "cid": cids[name], "width": _png_width(png, scale)}
              for name, title, png in images]
    values = dict(letter, charts=charts, omitted=0)
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

    body = EmailMessage(policy=email.policy.SMTP)
    body.set_content(text, subtype="plain", charset="utf-8")
    body.add_alternative(html, subtype="html", charset="utf-8")
    del body["MIME-Version"]  # a part, not a message

    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain="echoroom")
    message["MIME-Version"] = "1.0"
    # RFC 2387 asks for the root part's type on multipart/related. (EmailMessage.make_related
    # refuses to wrap a multipart/alternative, so the parts are assembled by hand.)
    message["Content-Type"] = 'multipart/related; type="multipart/alternative"'
    message.attach(body)
    for name, _, png in images:
        message.add_related(png, maintype="image", subtype="png", cid=f"<{cids[name]}>",
                            disposition="inline", filename=f"{name}.png")
    return message


def read(path: str | Path) -> EmailMessage:
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, _class=EmailMessage, policy=email.policy.SMTP)


def address(message: EmailMessage, to: list[str], sender: str) -> EmailMessage:
    """The message with its envelope headers set (a report .eml is written unaddressed)."""
    if not to:
        raise ReportError("no recipients: give --to ADDRESS (repeat it, or separate with commas)")
    for header in ("To", "From"):
        del message[header]
    message["From"] = sender
    message["To"] = ", ".join(to)
    return message


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send(message: EmailMessage, host: str, port: int, security: str = "starttls",
         cafile: str | None = None, timeout: float = 30.0) -> list[str]:
    """Send an addressed message; return the recipients the server accepted."""
    if security not in SECURITY:
        raise ReportError(f"security {security!r}: expected one of {', '.join(SECURITY)}")
    if security == "none" and not _loopback(host):
        raise ReportError(f"refusing to send to {host} without TLS: use --starttls or --ssl "
                          "(unencrypted SMTP is only allowed to a relay on this machine)")
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if bool(user) != bool(password):
        raise ReportError(f"set both {USER_ENV} and {PASSWORD_ENV}, or neither for a server without login")
    if user and security == "none":
        raise ReportError("refusing to send a password without TLS: use --starttls or --ssl")
    context = ssl.create_default_context(cafile=cafile)
    if security == "ssl":
        client = smtplib.SMTP_SSL(host, port, context=context, timeout=timeout)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        client.ehlo()
        if security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if user:
            client.login(user, password)
        recipients = [a for _, a in email.utils.getaddresses(message.get_all("To", []))]
        refused = client.send_message(message, to_addrs=recipients)
    return [r for r in recipients if r not in refused]
