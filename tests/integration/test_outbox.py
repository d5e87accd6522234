"""The outbox against a real SMTP server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

from sqlmodel import col, func, select

from core.calendar import local_instant
from models.links import hash_token
from models.tables import Contact, Link, OutboxMessage
from notifications.send import send_pending
from services.imports import import_agreement
from services.ladder import enqueue_fired, tick
from tests.conftest import QT

TZ = "Asia/Ho_Chi_Minh"


def requests_fired(app, clock):
    """Quảng Trị registered at signing; the ten 2022-H1 requests fired on 15/06/2022."""
    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    import_agreement(app, QT.read_bytes(), str(QT))
    fire(app, date(2022, 6, 15))
    return local_instant(date(2022, 6, 15), time(8, 0), TZ)


def fire(app, day: date) -> int:
    now = local_instant(day, time(8, 0), TZ)
    with app.session(write=True) as s:
        return enqueue_fired(s, app, tick(s, app, now), now)


def test_ladder_mail_is_sent_once_with_a_working_link(mailer, smtp, clock):
    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    import_agreement(mailer, QT.read_bytes(), str(QT))
    assert fire(mailer, date(2022, 6, 15)) == 10  # ten 2022-H1 requests, one focal each
    now = local_instant(date(2022, 6, 15), time(8, 0), TZ)
    report = send_pending(mailer, now, worker="w1")
    assert (report.sent, report.messages, report.dead) == (10, 10, 0)
    again = send_pending(mailer, now + timedelta(minutes=5), worker="w2")
    assert again.sent == 0 and len(smtp.sink.messages) == 10

    msg = next(m for m in smtp.sink.messages if m["To"].addresses[0].addr_spec ==
               "hoa.lt@sogddt.quangtri.example")
    assert msg["Subject"] == ("Đề nghị báo cáo: Kiểm tra, đánh giá kết quả xây dựng các mô hình "
                              "học tập; duy trì chế độ thông tin, báo cáo định kỳ "
                              "(6 tháng đầu năm 2022), hạn 15/07/2022")
    assert re.fullmatch(r"<[0-9a-f]{32}@phoihop>", msg["Message-ID"])
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Kính gửi Lê Thị Hoa" in text and "còn 30 ngày" in text
    token = re.search(r"http://127\.0\.0\.1:8600/r/([A-Za-z0-9_-]+)", text).group(1)
    assert token in html and len(token) >= 22
    with mailer.session() as s:
        link = s.exec(select(Link).where(Link.token_hash == hash_token(token))).one()
        stored = s.exec(select(OutboxMessage)).all()
    assert link.purpose == "reply"
    assert all(token not in (r.body_text + str(r.context)) for r in stored)


def test_digest_one_message_for_several_items(mailer, smtp, clock):
    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    import_agreement(mailer, QT.read_bytes(), str(QT))
    # the first tick since import: the two 2022 yearly requests (due 15/12) and, caught up,
    # the review-1 request (due 21/11, its request timed 22/10)
    fire(mailer, date(2022, 11, 15))
    send_pending(mailer, local_instant(date(2022, 11, 15), time(8, 1), TZ), worker="w1")
    to_hkh = [m for m in smtp.sink.messages
              if m["To"].addresses[0].addr_spec == "lan.ht@hkh.quangtri.example"]
    assert len(to_hkh) == 1
    assert to_hkh[0]["Subject"] == "[QT-KHKT-2021-2025] 3 việc cần báo cáo"
    body = to_hkh[0].get_body(("plain",)).get_content()
    assert body.count("/r/") == 3 and "Báo cáo đánh giá kỳ 1" in body


def test_permanent_failure_is_dead_and_reported_once(mailer, smtp, clock):
    smtp.sink.refuse["hoa.lt@sogddt.quangtri.example"] = "550 5.1.1 no such user"
    now = requests_fired(mailer, clock)
    first = send_pending(mailer, now, worker="w1")
    assert first.dead == 1 and first.sent == 10  # 9 requests + 1 report to the coordinator
    with mailer.session() as s:
        contact = s.exec(select(Contact).where(
            Contact.email == "hoa.lt@sogddt.quangtri.example")).one()
        reports = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "undeliverable")).all()
    assert contact.undeliverable_since is not None
    assert [r.recipient for r in reports] == ["duc.tm@hkh.quangtri.example"]
    notice = next(m for m in smtp.sink.messages if m["Subject"].startswith("Không gửi được"))
    assert "Lê Thị Hoa" in notice["Subject"]


def test_transient_failure_retries_with_backoff_then_sends(mailer, smtp, clock):
    smtp.sink.refuse["hoa.lt@sogddt.quangtri.example"] = "451 4.3.0 try later"
    now = requests_fired(mailer, clock)
    assert send_pending(mailer, now, worker="w1").retried == 1
    with mailer.session() as s:
        row = s.exec(select(OutboxMessage).where(
            OutboxMessage.recipient == "hoa.lt@sogddt.quangtri.example")).one()
    assert row.state == "retry_wait" and row.next_attempt_at > now
    assert send_pending(mailer, now, worker="w1").sent == 0  # not before its time
    del smtp.sink.refuse["hoa.lt@sogddt.quangtri.example"]
    assert send_pending(mailer, row.next_attempt_at, worker="w1").sent == 1


def test_expired_lease_is_unknown_then_resent_with_the_same_message_id(mailer, smtp, clock):
    now = requests_fired(mailer, clock)
    from models.outbox import claim

    with mailer.session(write=True) as s:  # claimed, then the worker died
        rows, _ = claim(s, now, "crashed-worker", 1, mailer.policy.lease_seconds)
    assert len(rows) == 1
    later = now + timedelta(seconds=mailer.settings.lease_seconds + 1)
    report = send_pending(mailer, later, worker="w2")
    assert report.unknown == 1 and report.sent == 10
    with mailer.session() as s:
        assert s.exec(select(func.count()).select_from(OutboxMessage).where(
            col(OutboxMessage.state) != "sent")).one() == 0


def test_review_host_notice_and_dossier_link_reach_the_mail_server(mailer, smtp, clock):
    from services.reviews import send_host_notice

    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    import_agreement(mailer, QT.read_bytes(), str(QT))
    now = local_instant(date(2024, 10, 21), time(8, 0), TZ)
    with mailer.session(write=True) as s:
        assert send_host_notice(s, mailer, "QT-KHKT-2021-2025", 2, now) == 3
    with mailer.session(write=True) as s:  # the same notice again records nothing
        assert send_host_notice(s, mailer, "QT-KHKT-2021-2025", 2, now) == 0
    assert send_pending(mailer, now, worker="w1").sent == 3
    to = sorted(m["To"].addresses[0].addr_spec for m in smtp.sink.messages)
    assert to == ["bithu@tinhdoan.quangtri.example", "duc.tm@hkh.quangtri.example",
                  "ngoc.ht@tinhdoan.quangtri.example"]
    subject = smtp.sink.messages[0]["Subject"]
    assert subject == "[QT-KHKT-2021-2025] Đơn vị chủ trì sơ kết kỳ 2: họp ngày 20/12/2024"
    body = smtp.sink.messages[0].get_body(("plain",)).get_content()
    assert "bản dự thảo hồ sơ ngày 13/12/2024 và bản chính thức ngày 20/12/2024" in body
    assert "Hạn nộp báo cáo đánh giá của các bên: 20/11/2024." in body


def test_a_later_message_reuses_the_live_link_of_its_obligation_and_contact(mailer, smtp,
                                                                            clock):
    requests_fired(mailer, clock)  # 15/06/2022: the ten requests, ten new links
    with mailer.session() as s:
        first = {(link.obligation_id, link.contact_id): (link.id, link.expires_at)
                 for link in s.exec(select(Link))}
    assert len(first) == 10
    fire(mailer, date(2022, 7, 8))  # the reminders, 7 days before 15/07: same pairs
    with mailer.session() as s:
        links = s.exec(select(Link)).all()
        reminders = s.exec(select(OutboxMessage).where(OutboxMessage.step == 1)).all()
    assert len(reminders) == 10 and len(links) == 10  # no new link
    assert {r.context["link_id"] for r in reminders} == {i for i, _ in first.values()}
    # a revoked link is not reused: the next message to that contact gets a new one
    with mailer.session(write=True) as s:
        revoked = s.exec(select(Link).order_by(col(Link.id))).first()
        revoked.revoked_at = local_instant(date(2022, 7, 9), time(0, 0), TZ)
        s.add(revoked)
    fire(mailer, date(2022, 7, 15))  # the due-day reminders
    with mailer.session() as s:
        due_day = s.exec(select(OutboxMessage).where(OutboxMessage.step == 2)).all()
        assert s.exec(select(func.count()).select_from(Link)).one() == 11
    assert revoked.id not in {r.context["link_id"] for r in due_day}


def test_a_message_that_cannot_be_rendered_is_dead_not_left_claimed(mailer, smtp, clock):
    now = requests_fired(mailer, clock)
    with mailer.session(write=True) as s:
        broken = s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).first()
        broken.context = {**broken.context, "link_id": 10**9}  # a link that does not exist
        s.add(broken)
    report = send_pending(mailer, now, worker="w1")
    assert (report.sent, report.dead) == (9, 1) and len(smtp.sink.messages) == 9
    with mailer.session() as s:
        row = s.get(OutboxMessage, broken.id)
        assert row.state == "dead" and row.last_error.startswith("cannot render")
        # not the recipient's fault: nobody is told the contact is unreachable
        assert s.exec(select(Contact.undeliverable_since).where(
            Contact.id == row.contact_id)).one() is None
        assert not s.exec(select(OutboxMessage).where(
            OutboxMessage.kind == "undeliverable")).all()
    assert send_pending(mailer, now + timedelta(days=1), worker="w2").sent == 0


def test_a_watching_sender_delivers_what_is_queued_until_its_end(mailer, smtp, clock):
    """The `deliver` run Prefect starts for the first reply or decision of a window watches
    the outbox until the window is over (services.delivery.deliver_until): messages queued
    just before its end are delivered by it, each once; idle, it only reads."""
    from services.delivery import POLL_SECONDS, deliver_until

    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    import_agreement(mailer, QT.read_bytes(), str(QT))
    start = local_instant(date(2022, 6, 15), time(8, 0), TZ)
    clock.at, until = start, start + timedelta(seconds=30)
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        clock.at += timedelta(seconds=seconds)
        if clock.at == until:  # committed while the sender slept, right at the window's end
            fire(mailer, date(2022, 6, 15))

    report = deliver_until(mailer, "watcher", until, sleep=sleep)
    assert (report.sent, report.dead) == (10, 0)
    assert len(smtp.sink.messages) == 10
    assert len(naps) == 15 and all(n <= POLL_SECONDS for n in naps)
    # a window already over: one round, no wait
    assert deliver_until(mailer, "late", start, sleep=sleep).sent == 0 and len(naps) == 15
    assert len(smtp.sink.messages) == 10
