"""E-mail through the one configured SMTP account, reusing the connection.

Apprise's `mailto://` opens a connection per message (~50 msg/s measured); a pooled
`smtplib` connection is several times faster and is what bulk waves need.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from config.settings import MailTransport
from notifications.port import DeliveryError, Message

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")


def clean_header(value: str) -> str:
    """No CR, LF or other control characters: a name can never inject a header."""
    return _UNSAFE.sub(" ", value).strip()


# Python's header folder drops the space between two encoded words it splits a long
# Vietnamese subject into ("đánh giá" arrives as "đánhgiá"); folding only at SMTP's own
# 998-character line limit keeps every subject whole.
POLICY = policy.SMTP.clone(max_line_length=998)


def build_email(message: Message, transport: MailTransport) -> EmailMessage:
    mail = EmailMessage(policy=POLICY)
    mail["From"] = Address(clean_header(transport.sender_name),
                           addr_spec=clean_header(transport.sender))
    mail["To"] = Address(clean_header(message.to_name), addr_spec=clean_header(message.to_address))
    mail["Subject"] = clean_header(message.subject)
    mail["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        if name == "Date":
            mail["Date"] = value
        else:
            mail[clean_header(name)] = clean_header(value)
    mail.set_content(message.text, charset="utf-8")
    if message.html is not None:
        mail.add_alternative(message.html, subtype="html", charset="utf-8")
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
        except (ValueError, IndexError) as exc:  # an address the e-mail library refuses
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
