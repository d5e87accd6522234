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
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email import charset, policy
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import Message as MimeMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

from notifications.port import DeliveryError, Message
from notifications.transport import MailTransport

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

# Our own UTF-8 charset, base64 for headers and bodies. `Charset("utf-8")` reads a registry
# that any import may change: Apprise's e-mail plugin switches UTF-8 to quoted-printable for
# the whole process, which made our bodies depend on whether Apprise had been imported.
UTF8 = charset.Charset("utf-8")
UTF8.header_encoding = UTF8.body_encoding = charset.BASE64


def _header(value: str, name: str) -> str | Header:
    """ASCII as it is; otherwise one RFC 2047 encoded word when it fits on the line (what
    `Header` writes, without measuring it character by character), else a `Header`."""
    value = clean_header(value)
    if value.isascii():
        return value
    word = f"=?utf-8?b?{base64.b64encode(value.encode()).decode()}?="
    if len(name) + 2 + len(word) <= POLICY.max_line_length:  # type: ignore[operator]
        return word
    return Header(value, UTF8, header_name=name)


@functools.lru_cache(maxsize=4096)  # the sender's own address is in every message
def _address(name: str, addr_spec: str) -> str:
    """`Name <address>`, a non-ASCII name RFC 2047-encoded; ValueError for a bad address."""
    address = Address(addr_spec=clean_header(addr_spec))  # refuses what is not an address
    return formataddr((clean_header(name), address.addr_spec), charset=UTF8)


def _text(content: str, subtype: str) -> MIMEText:
    """A UTF-8 part (base64), ending with a newline like `set_content` makes it."""
    return MIMEText(content if content.endswith("\n") else content + "\n", subtype,
                    UTF8, policy=POLICY)  # type: ignore[arg-type]


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


class _Deadline:
    """Ends a send attempt at its deadline by shutting its socket down.

    smtplib's timeout bounds each socket operation, not the exchange: a server that trickles
    a reply a byte at a time would hold a send for ever. One thread per notifier (until it
    is closed), armed around each attempt; `socket_of()` names the socket when it fires.
    """

    def __init__(self, socket_of: Callable[[], socket.socket | None]) -> None:
        self._socket_of = socket_of
        self._cond = threading.Condition()
        self._at: float | None = None
        self._watching: object | None = None  # the running thread's token
        self.fired = False

    def arm(self, seconds: float) -> None:
        with self._cond:
            self._at, self.fired = time.monotonic() + seconds, False
            if self._watching is None:
                self._watching = token = object()
                threading.Thread(target=self._watch, args=(token,), name="smtp-deadline",
                                 daemon=True).start()
            self._cond.notify()

    def disarm(self) -> bool:
        """Whether the deadline passed during the attempt."""
        with self._cond:
            self._at = None
            return self.fired

    def stop(self) -> None:
        with self._cond:
            self._watching, self._at = None, None
            self._cond.notify_all()

    def _watch(self, token: object) -> None:
        with self._cond:
            while self._watching is token:
                left = None if self._at is None else self._at - time.monotonic()
                if left is None or left > 0:
                    self._cond.wait(left)
                    continue
                self.fired = True
                sock = self._socket_of()
                if sock is None:  # still connecting (bounded by the socket timeout): look again
                    self._cond.wait(0.05)
                    continue
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
                self._at = None


class _SMTP_SSL(smtplib.SMTP_SSL):
    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        """The plain socket is visible (as `sock`) during the TLS handshake too."""
        self.sock = socket.create_connection((host, port), timeout, self.source_address)
        return self.context.wrap_socket(self.sock, server_hostname=self._host)  # type: ignore[attr-defined]


class SmtpNotifier:
    """One connection, opened on first use and reused until `close()` or an error.

    Every attempt (connecting included) ends within `deadline_seconds` (the outbox passes
    `send_deadline_seconds`); a failure to reach the server at all is `unreachable`.
    """

    def __init__(self, transport: MailTransport, deadline_seconds: float = 30.0) -> None:
        self.transport = transport
        self.deadline_seconds = deadline_seconds
        self._conn: smtplib.SMTP | None = None
        self._deadline = _Deadline(lambda: getattr(self._conn, "sock", None))

    def _connect(self) -> smtplib.SMTP:
        t = self.transport
        if t.ssl:
            self._conn = _SMTP_SSL(timeout=t.timeout_seconds,
                                   context=ssl.create_default_context())
        else:
            self._conn = smtplib.SMTP(timeout=t.timeout_seconds)
        conn = self._conn  # known before connecting: the deadline can shut its socket
        code, reply = conn.connect(t.host, t.port)
        if code != 220:
            raise smtplib.SMTPConnectError(code, reply)
        if t.starttls and not t.ssl:
            conn.starttls(context=ssl.create_default_context())
        if t.username:
            conn.login(t.username, t.password.get_secret_value() if t.password else "")
        return conn

    def send(self, message: Message) -> None:
        try:
            mail = build_email(message, self.transport)
        except (ValueError, IndexError, HeaderParseError) as exc:  # a refused address
            raise DeliveryError(f"invalid address: {exc}", permanent=True) from exc
        fresh = self._conn is None
        self._deadline.arm(self.deadline_seconds)
        try:
            conn = self._connect() if self._conn is None else self._conn
            conn.send_message(mail)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            late = self._deadline.disarm()
            self._drop()
            raise _delivery_error(exc, late, fresh, self.deadline_seconds) from exc
        if self._deadline.disarm():  # it fired as the reply came: the connection is gone
            self._drop()

    def _drop(self) -> None:
        """After an error: close without QUIT (a stalled server would not answer it)."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._deadline.arm(self.deadline_seconds)
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._conn.quit()
            self._deadline.disarm()
            self._drop()
        self._deadline.stop()


def _delivery_error(exc: Exception, late: bool, fresh: bool, deadline: float
                    ) -> DeliveryError:
    if late:
        return DeliveryError(f"no answer within the send deadline of {deadline:g} s",
                             unreachable=True)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return DeliveryError(f"recipient refused: {codes}",
                             permanent=all(c >= 500 for c in codes))
    if isinstance(exc, smtplib.SMTPDataError):  # the message refused (a 5xx: for good)
        return DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:300],
                             permanent=exc.smtp_code >= 500)
    if isinstance(exc, smtplib.SMTPResponseException):
        # the server refuses us, not this recipient (greeting, HELO, AUTH, MAIL FROM): no
        # message can pass until the server or the configuration changes; never `dead`
        return DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:300],
                             unreachable=True)
    # no answer, or the connection lost: on a connection opened for this attempt the server
    # is not reachable now; on a reused one it may only have closed an idle connection
    return DeliveryError(f"{type(exc).__name__}: {exc}"[:300], unreachable=fresh)


__all__ = ["SmtpNotifier", "build_email", "clean_header", "format_datetime"]
