"""Sending the report: a real SMTP exchange with aiosmtpd on loopback, over STARTTLS and over
TLS from the start, with login; the received message is parsed and checked as a mail client would."""

from __future__ import annotations

import email.policy
import re
import smtplib
import socket
import ssl
import subprocess
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from echoroom import cli, mail
from echoroom.report.render import build
from echoroom.report.settings import ReportSettings

import report_fixtures as F
from html_dom import parse

USER, PASSWORD = "analyst@example.com", "correct horse battery staple"


@pytest.fixture(scope="module")
def report_eml(tmp_path_factory, lens_root) -> Path:
    folder = tmp_path_factory.mktemp("mail")
    db = F.scored_db(folder / "db", lens_root, F.corpus_rows())
    return build(ReportSettings(db=str(db), out=str(folder / "out"), min_support=1, quiet=True))["eml"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, trusted by the client through --cafile."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


class Inbox:
    """An aiosmtpd handler that keeps what it receives, and the login it accepted."""

    def __init__(self):
        self.received: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        # handled=False: aiosmtpd then answers 535 itself (handled=True would leave the client waiting)
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(certificate):
    """Start an SMTP server on loopback; ``server("starttls" | "ssl")`` -> (inbox, port)."""
    started = []

    def start(security: str):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*map(str, certificate))
        inbox, port = Inbox(), free_port()
        options = dict(authenticator=inbox.authenticate)
        if security == "ssl":
            # aiosmtpd 1.4 does not count TLS from the first byte as TLS for AUTH, so it must be
            # told not to require STARTTLS before login; the whole session is encrypted anyway.
            controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context,
                                    auth_require_tls=False, **options)
        else:
            controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                                    require_starttls=True, auth_require_tls=True, **options)
        controller.start()
        started.append(controller)
        return inbox, port

    yield start
    for controller in started:
        controller.stop()


def check_received(inbox: Inbox, to: list[str]):
    assert len(inbox.received) == 1
    mail_from, rcpt_tos, raw = inbox.received[0]
    assert (mail_from, rcpt_tos) == ("reports@example.com", to)
    assert inbox.logins == [(USER.encode(), PASSWORD.encode())]
    message = message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == ", ".join(to) and message["Subject"].startswith(ReportSettings().title)
    assert message.get_content_type() == "multipart/related"
    images = {p["Content-ID"].strip("<>"): p.get_content() for p in message.walk()
              if p.get_content_type() == "image/png"}
    assert images and all(png.startswith(b"\x89PNG") for png in images.values())
    html = message.get_body(preferencelist=("html",)).get_content()
    assert {img.attrs["src"][4:] for img in parse(html).iter("img")} == set(images)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "EMOTIONS MOST OFTEN READ AS ANOTHER" in text and "message text left out" in text


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_send_over_tls_with_login(security, server, certificate, report_eml, monkeypatch):
    inbox, port = server(security)
    monkeypatch.setenv(mail.USER_ENV, USER)
    monkeypatch.setenv(mail.PASSWORD_ENV, PASSWORD)
    message = mail.address(mail.read(report_eml), ["a@example.com", "b@example.com"], "reports@example.com")
    accepted = mail.send(message, "127.0.0.1", port, security, cafile=str(certificate[0]))
    assert accepted == ["a@example.com", "b@example.com"]
    check_received(inbox, ["a@example.com", "b@example.com"])


def test_cli_email_sends_and_dry_runs(server, certificate, report_eml, monkeypatch, tmp_path, capsys):
    inbox, port = server("starttls")
    monkeypatch.setenv(mail.USER_ENV, USER)
    monkeypatch.setenv(mail.PASSWORD_ENV, PASSWORD)
    assert cli.main(["email", "--eml", str(report_eml), "--to", "a@example.com", "--from", "reports@example.com",
                     "--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--cafile", str(certificate[0])]) == 0
    check_received(inbox, ["a@example.com"])
    out = tmp_path / "outgoing.eml"
    assert cli.main(["email", "--eml", str(report_eml), "--to", "x@example.com,y@example.com",
                     "--from", "reports@example.com", "--dry-run", "--out", str(out)]) == 0
    written = message_from_bytes(out.read_bytes(), policy=email.policy.default)
    assert written["To"] == "x@example.com, y@example.com" and len(inbox.received) == 1
    assert "dry run: nothing sent" in capsys.readouterr().out


def test_wrong_password_is_reported(server, certificate, report_eml, monkeypatch):
    _, port = server("starttls")
    monkeypatch.setenv(mail.USER_ENV, USER)
    monkeypatch.setenv(mail.PASSWORD_ENV, "wrong")
    message = mail.address(mail.read(report_eml), ["a@example.com"], "r@example.com")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        mail.send(message, "127.0.0.1", port, "starttls", cafile=str(certificate[0]), timeout=5)


def test_untrusted_certificate_is_refused(server, report_eml):
    _, port = server("starttls")
    message = mail.address(mail.read(report_eml), ["a@example.com"], "r@example.com")
    with pytest.raises(ssl.SSLCertVerificationError):
        mail.send(message, "127.0.0.1", port, "starttls")


@pytest.mark.parametrize("security, host, env, match", [
    ("none", "smtp.example.com", {}, "refusing to send to smtp.example.com without TLS"),
    ("none", "127.0.0.1", {mail.USER_ENV: USER, mail.PASSWORD_ENV: PASSWORD}, "refusing to send a password"),
    ("starttls", "127.0.0.1", {mail.USER_ENV: USER}, "set both ECHOROOM_SMTP_USER and ECHOROOM_SMTP_PASSWORD"),
    ("smoke", "127.0.0.1", {}, "expected one of starttls, ssl, none"),
])
def test_unsafe_or_incomplete_settings_are_refused(security, host, env, match, report_eml, monkeypatch):
    for name in (mail.USER_ENV, mail.PASSWORD_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    message = mail.address(mail.read(report_eml), ["a@example.com"], "r@example.com")
    with pytest.raises(mail.MailError, match=match):
        mail.send(message, host, 25, security)


def test_recipients_are_required(report_eml):
    with pytest.raises(mail.MailError, match="no recipients"):
        mail.address(mail.read(report_eml), [], "r@example.com")


@pytest.mark.parametrize("to, sender", [(["a@example.com\nBcc: x@example.net"], "r@example.com"),
                                        (["a@example.com"], "r@example.com\r\nBcc: x@example.net")])
def test_addressing_refuses_a_line_break_whoever_calls_it(report_eml, to, sender):
    # The pipeline addresses the email through the same function as the CLI.
    with pytest.raises(mail.MailError, match="an address cannot contain a line break"):
        mail.address(mail.read(report_eml), to, sender)


@pytest.mark.parametrize("option, value, shown", [
    ("--to", "a@example.com\nBcc: evil@example.net", r"--to 'a@example.com\\nBcc: evil@example.net'"),
    ("--to", "a@example.com,b@example.com\r\nX-Evil: 1", r"--to 'b@example.com\\r\\nX-Evil: 1'"),
    ("--from", "r@example.com\nBcc: evil@example.net", r"--from 'r@example.com\\nBcc: evil@example.net'"),
])
def test_cli_email_refuses_a_line_break_in_an_address(option, value, shown, report_eml, tmp_path, capsys):
    """The header injection is blocked, with a clear error naming the address, exit 2, nothing written."""
    args = {"--to": "a@example.com", "--from": "r@example.com", option: value}
    out = tmp_path / "outgoing.eml"
    assert cli.main(["email", "--eml", str(report_eml), "--to", args["--to"], "--from", args["--from"],
                     "--dry-run", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"^error: {shown}: an address cannot contain a line break", err), err
    assert "Traceback" not in err and not out.exists()
