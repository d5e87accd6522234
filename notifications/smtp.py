"""E-mail through the one configured SMTP account, reusing the connection.

Apprise's `mailto://` opens a connection per message (~50 msg/s measured); a pooled
`smtplib` connection is several times faster and is what bulk waves need.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import re
import smtplib
import ssl
from email import policy
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import Message as MimeMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

from config.settings import MailTransport
from notifications.port import DeliveryError, Message

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")


def clean_header(value: str) -> str:
    """No CR, LF or other control characters: a name can never inject a header."""
    return _UNSAFE.sub(" ", value).strip()


# Headers are encoded once, here, and the message is assembled with the `compat32` MIME
# classes: the `email.policy` header objects parse every header on assignment and refold
# it in pure Python on output, which cost more per message (~7 ms) than the SMTP exchange.
# Python's newer header folder also drops the space between two encoded words it splits a
# long Vietnamese subject into ("đánh giá" arrives as "đánhgiá"); `Header` keeps the
# spaces inside the encoded words, and folding only at SMTP's own 998-character line limit
# keeps a subject in one piece.
POLICY = policy.compat32.clone(max_line_length=998)


def _header(value: str, name: str) -> str | Header:
    """ASCII as it is; otherwise one RFC 2047 encoded word when it fits on the line (what
    `Header` writes, without measuring it character by character), else a `Header`."""
    value = clean_header(value)
    if value.isascii():
        return value
    word = f"=?utf-8?b?{base64.b64encode(value.encode()).decode()}?="
    if len(name) + 2 + len(word) <= POLICY.max_line_length:  # type: ignore[operator]
        return word
    return Header(value, "utf-8", header_name=name)


@functools.lru_cache(maxsize=4096)  # the sender's own address is in every message
def _address(name: str, addr_spec: str) -> str:
    """`Name <address>`, a non-ASCII name RFC 2047-encoded; ValueError for a bad address."""
    address = Address(addr_spec=clean_header(addr_spec))  # refuses what is not an address
    return formataddr((clean_header(name), address.addr_spec), charset="utf-8")


def _text(content: str, subtype: str) -> MIMEText:
    """A UTF-8 part (base64), ending with a newline like `set_content` makes it."""
    return MIMEText(content if content.endswith("\n") else content + "\n", subtype, "utf-8",
                    policy=POLICY)


def build_email(message: Message, transport: MailTransport) -> MimeMessage:
    """The e-mail: multipart/alternative (plain text, HTML) or plain text alone."""
    mail: MimeMessage = _text(message.text, "plain")
    if message.html is not None:
        parts = [mail, _text(message.html, "html")]
        for part in parts:
            del part["MIME-Version"]  # once, at the top
        mail = MIMEMultipart("alternative", _subparts=parts, policy=POLICY)
    mail["From"] = _address(transport.sender_name, transport.sender)
    mail["To"] = _address(message.to_name, message.to_address)
    mail["Subject"] = _header(message.subject, "Subject")  # type: ignore[assignment]
    mail["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        mail[clean_header(name)] = _header(value, name)  # type: ignore[assignment]
    return mail


class SmtpNotifier:
    """One connection, opened on first use and reused until `close()` or an error."""

    def __init__(self, transport: MailTransport) -> None:
        self.transport = transport
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        t = self.transport
        if t.ssl:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(t.host, t.port, timeout=t.timeout_seconds,
                                                  context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(t.host, t.port, timeout=t.timeout_seconds)
            if t.starttls:
                conn.starttls(context=ssl.create_default_context())
        if t.username:
            conn.login(t.username, t.password.get_secret_value() if t.password else "")
        return conn

    def send(self, message: Message) -> None:
        try:
            mail = build_email(message, self.transport)
        except (ValueError, IndexError, HeaderParseError) as exc:  # a refused address
            raise DeliveryError(f"invalid address: {exc}", permanent=True) from exc
        try:
            if self._conn is None:
                self._conn = self._connect()
            self._conn.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _msg in exc.recipients.values()]
            raise DeliveryError(f"recipient refused: {codes}",
                                permanent=all(c >= 500 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:300],
                                permanent=exc.smtp_code >= 500) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from exc

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._conn.quit()
            self._conn = None


__all__ = ["SmtpNotifier", "build_email", "clean_header", "format_datetime"]
