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
from email.message import EmailMessage
from pathlib import Path

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
USER_ENV, PASSWORD_ENV, FROM_ENV = "ECHOROOM_SMTP_USER", "ECHOROOM_SMTP_PASSWORD", "ECHOROOM_SMTP_FROM"


class MailError(ValueError):
    """An email that cannot be addressed or sent as asked; the message says what to change."""


def content_id(name: str, png: bytes) -> str:
    """A Content-ID that changes with the image, so no mail client shows a cached old chart."""
    return f"{name}.{hashlib.sha256(png).hexdigest()[:16]}@echoroom"


def port(security: str, port: int | None = None) -> int:
    """The port to use: the one given, else the usual one for the security mode."""
    return port or DEFAULT_PORTS[security]


def port_help() -> str:
    """What port 0 means, for the options and config keys that take a port."""
    return ", ".join(f"{number} for {mode}" for mode, number in DEFAULT_PORTS.items())


def sender(explicit: str | None = None, how: str = "give a sender address") -> str:
    """The From address: the one given, else $ECHOROOM_SMTP_FROM, else the SMTP user.
    ``how`` tells the caller's user how to give one (an option, a config key)."""
    found = explicit or os.environ.get(FROM_ENV) or os.environ.get(USER_ENV)
    if not found:
        raise MailError(f"no sender address: {how}, or set {FROM_ENV} in the environment")
    return found


def addressed(eml: str | Path, to: list[str], sender: str) -> EmailMessage:
    """The report .eml at ``eml``, addressed from ``sender`` to ``to``."""
    return address(read(eml), to, sender)


def compose(subject: str, text: str, html: str, images: list[tuple[str, bytes, str]]) -> EmailMessage:
    """The MIME message for a rendered report: its text and HTML parts and its inline images as
    ``(name, png, content_id)``, the HTML referring to each as ``cid:<content_id>``."""
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
    for name, png, cid in images:
        message.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>",
                            disposition="inline", filename=f"{name}.png")
    return message


def read(path: str | Path) -> EmailMessage:
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, _class=EmailMessage, policy=email.policy.SMTP)


def check_address(address: str) -> str:
    """``address``, or MailError if it holds a line break or other control character: one would
    start a new header (Bcc: ...), which the email library refuses only with a traceback."""
    if any(ord(c) < 32 or ord(c) == 127 for c in address):
        raise MailError(f"{address!r}: an address cannot contain a line break or other control character")
    return address


def address(message: EmailMessage, to: list[str], sender: str) -> EmailMessage:
    """The message with its envelope headers set (a report .eml is written unaddressed)."""
    if not to:
        raise MailError("no recipients: give --to ADDRESS (repeat it, or separate with commas)")
    for a in (*to, sender):
        check_address(a)
    for header in ("To", "From"):
        del message[header]
    message["From"] = sender
    message["To"] = ", ".join(to)
    return message


def loopback(host: str) -> bool:
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
        raise MailError(f"security {security!r}: expected one of {', '.join(SECURITY)}")
    if security == "none" and not loopback(host):
        raise MailError(f"refusing to send to {host} without TLS: use --starttls or --ssl "
                          "(unencrypted SMTP is only allowed to a relay on this machine)")
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if bool(user) != bool(password):
        raise MailError(f"set both {USER_ENV} and {PASSWORD_ENV}, or neither for a server without login")
    if user and security == "none":
        raise MailError("refusing to send a password without TLS: use --starttls or --ssl")
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
