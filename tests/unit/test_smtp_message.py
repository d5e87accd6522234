"""The e-mail as written to the wire, read back with the standard parser (no network)."""

from __future__ import annotations

import email
import io
from email.generator import BytesGenerator
from email.policy import default

import pytest

from config.settings import MailTransport
from notifications.port import DeliveryError, Message
from notifications.smtp import SmtpNotifier, build_email

TRANSPORT = MailTransport(sender="phoihop@hkh.quangtri.example",
                          sender_name="Hội Khuyến học tỉnh Quảng Trị")
SUBJECT = ("Đề nghị báo cáo: Kiểm tra, đánh giá kết quả xây dựng các mô hình học tập; duy trì "
           "chế độ thông tin, báo cáo định kỳ (6 tháng đầu năm 2022), hạn 15/07/2022")


def message(**changes: object) -> Message:
    fields: dict[str, object] = dict(
        to_address="hoa.lt@sogddt.quangtri.example", to_name="Lê Thị Hoa", subject=SUBJECT,
        text="Kính gửi Lê Thị Hoa,\n\nĐề nghị đồng chí báo cáo.\n",
        html="<p>Kính gửi <b>Lê Thị Hoa</b></p>", message_id="<0123abcd@phoihop>",
        headers={"Date": "Wed, 15 Jun 2022 01:00:00 +0000"})
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


def wire(m: Message) -> bytes:
    out = io.BytesIO()
    BytesGenerator(out).flatten(build_email(m, TRANSPORT), linesep="\r\n")  # as smtplib does
    return out.getvalue()


def read(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def test_headers_and_both_bodies_read_back_exactly():
    raw = wire(message())
    got = read(raw)
    assert got["Subject"] == SUBJECT
    assert got["From"].addresses[0].display_name == "Hội Khuyến học tỉnh Quảng Trị"
    assert got["From"].addresses[0].addr_spec == "phoihop@hkh.quangtri.example"
    assert str(got["To"]) == "Lê Thị Hoa <hoa.lt@sogddt.quangtri.example>"
    assert got["Message-ID"] == "<0123abcd@phoihop>"
    assert got["Date"].datetime.isoformat() == "2022-06-15T01:00:00+00:00"
    assert got.get_content_type() == "multipart/alternative"
    assert got.get_body(("plain",)).get_content() == message().text
    assert got.get_body(("html",)).get_content() == "<p>Kính gửi <b>Lê Thị Hoa</b></p>\n"
    assert raw.isascii() and raw.count(b"MIME-Version") == 1


def test_a_subject_longer_than_a_line_keeps_every_space():
    """Python's newer folder dropped the space between the encoded words it split into."""
    long = " ".join([SUBJECT] * 8)  # ~1,200 characters: must be folded
    raw = wire(message(subject=long))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert read(raw)["Subject"] == long


def test_ascii_stays_readable_and_names_with_specials_are_quoted():
    raw = wire(message(subject="Weekly digest", to_name='Tran, "Binh" (HKH)'))
    assert b"Subject: Weekly digest\r\n" in raw
    assert read(raw)["To"].addresses[0].display_name == 'Tran, "Binh" (HKH)'


def test_line_breaks_in_names_and_subjects_cannot_add_headers():
    raw = wire(message(to_name="Hoa\r\nBcc: victim@example.com", subject="Hi\nBcc: x@y.z"))
    got = read(raw)
    assert got["Bcc"] is None
    assert got["To"].addresses[0].display_name == "Hoa Bcc: victim@example.com"
    assert got["Subject"] == "Hi Bcc: x@y.z"


def test_plain_text_alone_is_a_single_part():
    got = read(wire(message(html=None)))
    assert got.get_content_type() == "text/plain" and not got.is_multipart()
    assert got.get_content() == message().text


# "a@b@c" and "@example.com" raised HeaderParseError, which was taken for an adapter bug
# and retried five times; a non-ASCII address needs SMTPUTF8, which this sender does not use.
@pytest.mark.parametrize("address", ["not an address", "a@b@c", "@example.com", "",
                                     "nguyễn@example.vn"])
def test_an_unusable_address_fails_permanently_before_any_connection(address):
    notifier = SmtpNotifier(MailTransport(port=1))  # nothing listens there: never reached
    with pytest.raises(DeliveryError) as caught:
        notifier.send(message(to_address=address))
    assert caught.value.permanent and "invalid address" in str(caught.value)


def test_the_encoding_does_not_depend_on_what_apprise_changed():
    """Apprise's e-mail plugin makes UTF-8 quoted-printable for the whole process on import;
    the bodies came back with the wire's CRLF once the suite had loaded it."""
    from email import charset

    import apprise.plugins.email  # noqa: F401  (the import is the change)

    assert charset.Charset("utf-8").body_encoding == charset.QP  # what Apprise left
    got = read(wire(message()))
    parts = [got.get_body((kind,)) for kind in ("plain", "html")]
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["base64", "base64"]
    assert parts[0].get_content() == message().text
    headers = wire(message()).split(b"\r\n\r\n")[0]
    assert b"Subject: =?utf-8?b?" in headers and b"=?utf-8?q?" not in headers.lower()
