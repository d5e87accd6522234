"""A party's calendar feed through the portal, on SQLite and PostgreSQL, from the link of
a real request e-mail (the SMTP sink): it parses with `icalendar`, moves its event when an
extension is granted, cancels it when an amendment withdraws the obligation; a tampered
or revoked link gets the portal's one refusal page; GET and HEAD write nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

import schemathesis
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlmodel import select

from config.bootstrap import bootstrap
from config.settings import Settings
from core.calendar import local_instant
from models.links import feed_nonces, issue_feeds, token_for
from models.migrate import upgrade
from models.tables import Contact, FeedLink, Party
from notifications.send import send_pending
from portal.app import create_app
from services.calendar import FeedUnknown, revoke_party_feeds
from services.imports import import_agreement
from services.ladder import fire_steps
from tests.conftest import QT, FixedClock
from tests.integration.test_portal_attacks import dump

TZ = "Asia/Ho_Chi_Minh"
KEY = "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt/2022"
FOCAL = "hoa.lt@sogddt.quangtri.example"
PORTAL = "http://127.0.0.1:8600"
SUPPORT = "    support: [so-gddt, tinh-doan, hlhpn, hnd, ldld, bchqs, cong-an]"


def _request_mail(mailer, smtp, clock) -> tuple[str, str]:
    """The QT agreement imported, its ladder run on 16/11/2022 (the request for the 2022
    report due 15/12) and the mail sent: the focal contact's plain text."""
    clock.at = local_instant(date(2022, 5, 18), clock_time(0, 0), TZ)
    import_agreement(mailer, QT.read_bytes(), str(QT))
    clock.at = local_instant(date(2022, 11, 16), clock_time(9, 0), TZ)
    fire_steps(mailer, clock.at)
    report = send_pending(mailer, clock.at, worker="w1")
    assert report.dead == 0
    (msg,) = [m for m in smtp.sink.messages if m["To"].addresses[0].addr_spec == FOCAL]
    return (msg.get_body(("plain",)).get_content().replace("\r\n", "\n"),
            msg.get_body(("html",)).get_content())


def _feed(client: TestClient, path: str) -> dict[str, object]:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-disposition"] == 'inline; filename="QT-KHKT-2021-2025-so-gddt.ics"'
    cal = Calendar.from_ical(r.content)
    assert str(cal["X-WR-CALNAME"]) == "Hạn báo cáo — Sở GD&ĐT (QT-KHKT-2021-2025)"
    return {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}


def test_a_partys_feed_parses_moves_with_an_extension_and_cancels_on_withdrawal(
        mailer, smtp, clock):
    text, html = _request_mail(mailer, smtp, clock)
    assert "Lịch hạn báo cáo cho điện thoại" in text
    (feed_url,) = set(re.findall(rf"{PORTAL}(/c/[\w-]+)", text))
    assert f'href="{PORTAL}{feed_url}"' in html
    reply_links = set(re.findall(rf"{PORTAL}(/r/[\w-]+)", text))
    client = TestClient(create_app(mailer))

    before = dump(mailer)
    events = _feed(client, feed_url)
    head = client.head(feed_url)
    assert head.status_code == 200 and head.content == b""
    assert dump(mailer) == before  # GET and HEAD read only

    # every obligation of Sở GD&ĐT (none of another party), each once
    assert events and all(re.search(r"/so-gddt(/|@)", uid) for uid in events)
    ev = events[f"{KEY}@phoihop"]
    assert ev.decoded("DTSTART") == date(2022, 12, 15) and str(ev["STATUS"]) == "CONFIRMED"
    assert str(ev["SUMMARY"]) == ("Hạn báo cáo: Đẩy mạnh phong trào học tập suốt đời trong "
                                  "gia đình, dòng họ, cộng đồng, đơn vị (năm 2022)")
    assert "Hạn: 15/12/2022" in str(ev["DESCRIPTION"])
    # the reply link of the e-mail is the event's (the focal contact's own link)
    assert str(ev["URL"]).removeprefix(PORTAL) in reply_links
    assert f"Trả lời tại (không cần tài khoản): {ev['URL']}" in str(ev["DESCRIPTION"])
    # alarms at the request (15/11, 08:00 in Hồ Chí Minh City) and the two reminders
    fired = [local_instant(date(2022, 12, 15), clock_time(0, 0), TZ) + a.decoded("TRIGGER")
             for a in ev.walk("VALARM")]
    assert fired == [datetime(2022, 11, 15, 1, 0, tzinfo=UTC),
                     datetime(2022, 12, 8, 1, 0, tzinfo=UTC),
                     datetime(2022, 12, 15, 1, 0, tzinfo=UTC)]
    first_sequence, first_modified = int(ev["SEQUENCE"]), ev.decoded("LAST-MODIFIED")

    # the reply page shows the same feed link
    page = client.get(str(ev["URL"]).removeprefix(PORTAL)).text
    assert "Lịch hạn báo cáo của đơn vị" in page and f"{PORTAL}{feed_url}" in page

    # an extension of 8 days, to Friday 23/12, granted at once (the first, within 14 days)
    clock.at = local_instant(date(2022, 12, 1), clock_time(10, 30), TZ)
    reply_path = str(ev["URL"]).removeprefix(PORTAL)
    form = dict(re.findall(r'name="(csrf|form_nonce)" value="([^"]+)"',
                           client.get(reply_path).text))
    r = client.post(reply_path, data=form | {"status": "extension", "until": "2022-12-23"})
    assert r.status_code == 200, r.text
    moved = _feed(client, feed_url)[f"{KEY}@phoihop"]
    assert moved.decoded("DTSTART") == date(2022, 12, 23)
    assert moved.decoded("DTEND") == date(2022, 12, 24)
    assert int(moved["SEQUENCE"]) > first_sequence
    assert moved.decoded("LAST-MODIFIED") == clock.at > first_modified
    assert str(moved["STATUS"]) == "CONFIRMED" and "Hạn: 23/12/2022" in str(moved["DESCRIPTION"])
    assert moved.walk("VALARM")[-1].decoded("TRIGGER") == timedelta(hours=8)  # on 23/12

    # an amendment takes Sở GD&ĐT off the commitment: the event is cancelled, no alarm
    clock.at = local_instant(date(2022, 12, 5), clock_time(14, 0), TZ)
    source = QT.read_text(encoding="utf-8")
    assert SUPPORT in source
    amended = source.replace(SUPPORT, SUPPORT.replace("so-gddt, ", ""))
    assert import_agreement(mailer, amended.encode(), str(QT)).outcome == "amended"
    gone = _feed(client, feed_url)[f"{KEY}@phoihop"]
    assert str(gone["STATUS"]) == "CANCELLED" and gone.walk("VALARM") == []
    assert str(gone["SUMMARY"]).startswith("[Đã rút khỏi chương trình] ")
    assert int(gone["SEQUENCE"]) > int(moved["SEQUENCE"])
    assert gone.decoded("LAST-MODIFIED") == clock.at
    assert gone.decoded("DTSTART") == date(2022, 12, 23)


def test_a_tampered_or_revoked_feed_link_gets_the_one_refusal_page(mailer, smtp, clock):
    text, _html = _request_mail(mailer, smtp, clock)
    (feed_url,) = set(re.findall(rf"{PORTAL}(/c/[\w-]+)", text))
    client = TestClient(create_app(mailer))
    assert client.get(feed_url).status_code == 200
    unknown = client.get("/c/" + "A" * 43)
    tampered = client.get(feed_url[:-2] + ("AA" if not feed_url.endswith("AA") else "BB"))
    reply_as_feed = client.get("/c/" + re.search(rf"{PORTAL}/r/([\w-]+)", text).group(1))
    for refused in (unknown, tampered, reply_as_feed):
        assert refused.status_code == 404 and refused.text == unknown.text
        assert "text/html" in refused.headers["content-type"]
    # the feed token is stored hashed only
    with mailer.session() as s:
        stored = [(k.token_hash, k.nonce) for k in s.exec(select(FeedLink))]
    token = feed_url.removeprefix("/c/")
    assert stored and all(token not in row for row in stored)

    try:
        revoke_party_feeds(mailer, "QT-KHKT-2021-2025", "nobody", None, clock.at)
        raise AssertionError("an unknown party was accepted")
    except FeedUnknown:
        pass
    done = revoke_party_feeds(mailer, "QT-KHKT-2021-2025", "so-gddt", FOCAL, clock.at)
    assert done.links == 1 and done.party == "Sở Giáo dục và Đào tạo tỉnh Quảng Trị"
    revoked = client.get(feed_url)
    assert revoked.status_code == 404 and revoked.text == unknown.text
    # the reply page no longer shows it
    reply = re.search(rf"{PORTAL}(/r/[\w-]+)", text).group(1)
    assert "Lịch hạn báo cáo" not in client.get(reply).text


def test_the_feed_answers_as_its_schema_says(mailer, smtp, clock):
    text, _html = _request_mail(mailer, smtp, clock)
    (feed_url,) = set(re.findall(rf"{PORTAL}(/c/[\w-]+)", text))
    client = TestClient(create_app(mailer))
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operation = schema["/c/{token}"]["GET"]
    for token, code in ((feed_url.removeprefix("/c/"), 200), ("x" * 43, 404)):
        case = operation.Case(path_parameters={"token": token})
        response = case.call()
        assert response.status_code == code
        case.validate_response(response)  # every check, content type included


def test_calendar_revoke_through_the_command_line(tmp_path):
    """`phoihop calendar revoke`: a feed link issued in the data directory's database is
    refused afterwards; an unknown party is one line and exit 1, in the setting's
    language."""
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "160"}
    env.pop("PHOIHOP_DATABASE_URL", None)
    env.pop("PHOIHOP_CONFIG", None)

    def run(*args: str, lang: str = "vi") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                              text=True, env={**env, "PHOIHOP_LANGUAGE": lang}, timeout=60)

    assert run("import", str(QT)).returncode == 0
    clock = FixedClock(datetime.now(UTC))
    app = bootstrap(Settings(data_dir=tmp_path / "data"), clock=clock)
    try:
        upgrade(app.engine)
        with app.session(write=True) as s:
            party = s.exec(select(Party).where(Party.key == "so-gddt")).one()
            focal = s.exec(select(Contact).where(Contact.party_id == party.id,
                                                 Contact.role == "focal")).one()
            (lid,) = issue_feeds(s, app.secret_key, now=clock.at, wanted={
                (party.agreement_id, party.id, focal.id): clock.at + timedelta(days=30)
            }).values()
            token = token_for(app.secret_key, feed_nonces(s, [lid])[lid])
        client = TestClient(create_app(app))
        assert client.get(f"/c/{token}").status_code == 200
        done = run("calendar", "revoke", "QT-KHKT-2021-2025", "so-gddt")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == ("QT-KHKT-2021-2025 — Sở Giáo dục và Đào tạo tỉnh "
                                       "Quảng Trị: đã thu hồi 1 đường dẫn lịch")
        assert client.get(f"/c/{token}").status_code == 404
        again = run("calendar", "revoke", "QT-KHKT-2021-2025", "so-gddt", lang="en")
        assert again.stdout.strip().endswith(": 0 calendar link(s) revoked")
    finally:
        app.engine.dispose()
    unknown = run("calendar", "revoke", "QT-KHKT-2021-2025", "khong-co")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert unknown.stderr.strip() == ("QT-KHKT-2021-2025: không có đơn vị khong-co trong "
                                      "chương trình")
    nobody = run("calendar", "revoke", "QT-KHKT-2021-2025", "so-gddt", "--email", "x@y.example",
                 lang="en")
    assert nobody.returncode == 1
    assert nobody.stderr.strip() == ("QT-KHKT-2021-2025: no party so-gddt (x@y.example) in "
                                     "this agreement")
