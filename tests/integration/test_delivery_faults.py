"""Delivery under faults (issue #6, items 1, 3, 7): a mail server that stalls or refuses,
the sender killed -9 mid-run, its PostgreSQL connections terminated mid-batch.

The long versions are `python -m benchmarks --only reliability` (benchmarks/reliability.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from benchmarks.reliability import pg_terminations, sender_kills, terminate
from config.bootstrap import App, bootstrap
from config.settings import MailTransport
from models.tables import Contact, OutboxMessage
from notifications.port import DeliveryError, Message
from notifications.send import send_pending
from notifications.smtp import SmtpNotifier
from tests.fault_servers import RefusingServer, StallingServer
from tests.integration.test_outbox import fire, requests_fired

HOA = "hoa.lt@sogddt.quangtri.example"  # the focal of one of the ten 2022-H1 requests
DEADLINE = 1.0  # the send deadline in these tests (seconds); sockets time out at 0.4 s
SLACK = 0.75  # what a busy machine may add to an attempt that ended at its deadline


def pointed(app: App, port: int, **changes: object) -> App:
    """`app` (its engine too) with its mail sent to the server on loopback at `port`, short
    time limits, and other `changes` to its settings."""
    settings = app.settings.model_copy(update={
        "mail": app.settings.mail.model_copy(update={"port": port, "timeout_seconds": 0.4}),
        "portal_url": "http://127.0.0.1:8600", "send_deadline_seconds": DEADLINE, **changes})
    return App(settings=settings, clock=app.clock, _engine=app.engine)


@pytest.fixture
def refusing() -> Iterator[RefusingServer]:
    with RefusingServer() as server:
        yield server


def rows(app: App) -> list[OutboxMessage]:
    with app.session() as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def due_again(app: App) -> object:
    """The instant every row waiting for a retry is due."""
    return max(r.next_attempt_at for r in rows(app))


def message(to: str = "a@example.com") -> Message:
    return Message(to_address=to, to_name="A", subject="Thử / test", text="x", html=None,
                   message_id="<0@phoihop>")


# --- the overall send deadline ------------------------------------------------------------

@pytest.mark.parametrize("mode", ["silent", "greet", "trickle"])
def test_a_stalled_server_never_holds_a_send_past_its_deadline(mode):
    """smtplib's timeout is per socket read: a server trickling a byte every 0.2 s (under
    the 0.4 s socket timeout) held a send for ever before the deadline was enforced."""
    outcome: list[BaseException | None] = []

    def attempt(notifier: SmtpNotifier) -> None:
        try:
            notifier.send(message())
            outcome.append(None)
        except BaseException as exc:  # the assertion below says what it was
            outcome.append(exc)

    with StallingServer(mode, interval=0.2) as server:
        notifier = SmtpNotifier(MailTransport(port=server.port, timeout_seconds=0.4),
                                deadline_seconds=DEADLINE)
        started = time.monotonic()
        worker = threading.Thread(target=attempt, args=(notifier,), daemon=True)
        worker.start()
        worker.join(timeout=DEADLINE + 10)
        took = time.monotonic() - started
        assert not worker.is_alive(), f"a send to a {mode} server outlived its deadline"
        notifier.close()
        assert server.accepted == 1
    error = outcome[0]
    assert isinstance(error, DeliveryError) and error.unreachable and not error.permanent
    assert took <= DEADLINE + SLACK
    if mode == "trickle":  # only the deadline could end it
        assert "deadline" in str(error) and took >= DEADLINE


def test_the_deadline_thread_ends_with_the_notifier_and_comes_back_for_a_new_send(smtp):
    def watchers() -> int:
        return sum(t.name == "smtp-deadline" for t in threading.enumerate())

    before = watchers()
    notifier = SmtpNotifier(MailTransport(port=smtp.port), deadline_seconds=DEADLINE)
    notifier.send(message())
    assert watchers() == before + 1
    notifier.close()
    for _ in range(100):
        if watchers() == before:
            break
        time.sleep(0.01)
    assert watchers() == before
    notifier.send(message("b@example.com"))  # a notifier used again after close() is watched
    assert watchers() == before + 1
    notifier.close()
    assert [m["To"] for m in smtp.sink.messages] == ["A <a@example.com>", "A <b@example.com>"]


# --- black-holed, then back ---------------------------------------------------------------

def test_black_holed_for_more_rounds_than_retries_then_back_the_queue_drains(mailer, smtp,
                                                                             clock):
    """Three rounds (one more than `send_retries`, here 2) against servers that accept and
    stall; each round ends at one deadline (the other messages wait without an attempt),
    nothing is given up, no contact is reported unreachable; with the server back, all ten
    go. Before: each round tried all ten (ten socket timeouts), and the round that reached
    `send_retries` made all ten `dead` and reported every contact unreachable (measured with
    the default 5: the fifth round; the server back, only the coordinator's notice went)."""
    now = requests_fired(mailer, clock)
    for n, mode in enumerate(["silent", "greet", "trickle"]):
        with StallingServer(mode) as server:
            started = time.monotonic()
            report = send_pending(pointed(mailer, server.port, send_retries=2), now,
                                  worker=f"w{n}")
            took = time.monotonic() - started
            assert server.accepted == 1  # one attempt; the nine others waited for the next
        assert (report.sent, report.dead, report.retried) == (0, 0, 10), (mode, report)
        assert took <= DEADLINE + SLACK + 1.0, (mode, took)  # + the round's own work
        states = Counter(r.state for r in rows(mailer))
        assert states == {"retry_wait": 10}, (mode, states)
        assert all(r.attempts == 0 for r in rows(mailer))  # the server judged none of them
        now = due_again(mailer)
    report = send_pending(pointed(mailer, smtp.port), now, worker="back")
    assert (report.sent, report.dead, report.retried) == (10, 0, 0)
    assert len(smtp.sink.messages) == 10
    assert len({m["Message-ID"] for m in smtp.sink.messages}) == 10
    assert all(r.state == "sent" and r.attempts == 1 for r in rows(mailer))
    with mailer.session() as s:
        assert not s.exec(select(Contact).where(
            col(Contact.undeliverable_since).is_not(None))).all()


def test_a_server_refusing_the_sender_gives_up_no_recipient(mailer, refusing, clock):
    """A 5xx to MAIL FROM refuses us (the account, the sending host), not the recipients:
    it made every message `dead` and reported every contact unreachable."""
    refusing.sink.refuse_mail = "550 5.7.1 sender not permitted"
    now = requests_fired(mailer, clock)
    app = pointed(mailer, refusing.port, send_retries=2)
    for n in range(3):
        report = send_pending(app, now, worker=f"w{n}")
        assert (report.sent, report.dead, report.retried) == (0, 0, 10)
        now = due_again(mailer)
    assert sum(refusing.sink.refusals.values()) == 3  # one attempt a round
    refusing.sink.refuse_mail = None
    assert send_pending(app, now, worker="back").sent == 10
    assert {r.state for r in rows(mailer)} == {"sent"}
    with mailer.session() as s:
        assert not s.exec(select(Contact).where(
            col(Contact.undeliverable_since).is_not(None))).all()


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_421_waits_then_is_sent_while_the_others_go_at_once(mailer, refusing, clock, stage):
    refusals = refusing.sink.refuse if stage == "rcpt" else refusing.sink.refuse_data
    refusals[HOA] = "421 4.3.2 service not available, closing channel"
    now = requests_fired(mailer, clock)
    app = pointed(mailer, refusing.port)
    first = send_pending(app, now, worker="w1")
    assert (first.sent, first.retried, first.dead) == (9, 1, 0)
    hoa = next(r for r in rows(mailer) if r.recipient == HOA)
    assert hoa.state == "retry_wait" and hoa.attempts == 1 and "421" in hoa.last_error
    assert send_pending(app, hoa.next_attempt_at - timedelta(seconds=1), "w2").messages == 0
    second = send_pending(app, hoa.next_attempt_at, worker="w2")  # still refused
    assert (second.sent, second.retried, second.dead) == (0, 1, 0)
    del refusals[HOA]
    third = send_pending(app, due_again(mailer), worker="w3")
    assert (third.sent, third.retried, third.dead) == (1, 0, 0)
    assert refusing.sink.refusals[HOA] == 2
    received = Counter(m["To"].addresses[0].addr_spec for m in refusing.sink.messages)
    assert len(received) == 10 and set(received.values()) == {1}
    assert [(r.state, r.attempts) for r in rows(mailer) if r.recipient == HOA] == [("sent", 3)]


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_550_is_dead_after_one_attempt_and_reported_once_over_several_rounds(
        mailer, refusing, clock, stage):
    refusals = refusing.sink.refuse if stage == "rcpt" else refusing.sink.refuse_data
    refusals[HOA] = "550 5.1.1 no such user"
    now = requests_fired(mailer, clock)
    app = pointed(mailer, refusing.port)
    send_pending(app, now, worker="w0")
    for n, day in enumerate([date(2022, 7, 8), date(2022, 7, 15), date(2022, 7, 20)]):
        at = now.replace(year=day.year, month=day.month, day=day.day)
        fire(mailer, day)  # reminders, the due day's, an escalation: more mail to Hoa
        send_pending(app, at, worker=f"w{n + 1}")
    send_pending(app, at + timedelta(days=1), worker="later")  # a round with nothing new
    to_hoa = [r for r in rows(mailer) if r.recipient == HOA]
    assert len(to_hoa) >= 3 and all((r.state, r.attempts) == ("dead", 1) for r in to_hoa)
    assert refusing.sink.refusals[HOA] == len(to_hoa)  # each refused once, never retried
    reports = [r for r in rows(mailer) if r.kind == "undeliverable"]
    assert [(r.recipient, r.state) for r in reports] == [("duc.tm@hkh.quangtri.example",
                                                          "sent")]
    notices = [m for m in refusing.sink.messages if m["Subject"].startswith("Không gửi được")]
    assert len(notices) == 1 and "Lê Thị Hoa" in notices[0]["Subject"]
    assert not [r for r in rows(mailer) if r.state not in ("sent", "dead")]


# --- the sender killed -9 -----------------------------------------------------------------

def test_a_sender_killed_at_random_moments_loses_nothing_and_duplicates_only_unknowns(
        tmp_path):
    """Ten ladder days (the long version: the reliability benchmark): a run killed -9 after
    a seeded random delay, then a clean run; every recorded message received, every row
    sent, every step fired once; a message received twice is one whose rows went through
    `unknown`."""
    result = sender_kills(10, seed=20261206, directory=tmp_path)
    print(result)
    assert result.problems == []
    assert result.landed["mid-send (claims held)"] >= 1  # some kills hit an SMTP exchange
    assert result.lost == 0 and result.messages >= 100 and result.received >= result.messages
    assert result.duplicates == result.explained
    assert result.steps == result.expected_steps
    assert result.unknown >= result.duplicates


# --- PostgreSQL: the sender's connections terminated (a restart, from the client's side) --

@pytest.fixture
def sender_name() -> str:
    return f"phoihop-sender-{uuid.uuid4().hex[:8]}"


def sender_for(app: App, port: int, name: str) -> App:
    """`app` on its own connections, named `name` in pg_stat_activity."""
    settings = pointed(app, port).settings
    return bootstrap(settings.model_copy(update={
        "database_url": f"{settings.database_url}&application_name={name}"}), clock=app.clock)


def waiting_on_a_lock(admin: sa.Engine, name: str) -> bool:
    with admin.connect() as c:
        return bool(c.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :n "
            "AND wait_event_type = 'Lock'"), {"n": name}).scalar())


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_backends_terminated_between_transactions_the_sender_reconnects(
        mailer, db_url, refusing, clock, sender_name):
    now = requests_fired(mailer, clock)
    admin = sa.create_engine(db_url)
    sender = sender_for(mailer, refusing.port, sender_name)
    terminated: list[int] = []
    refusing.sink.on_message = lambda n: n in (3, 7) and terminated.append(
        terminate(admin, sender_name))  # while the sender waits for the server's answer
    report = send_pending(sender, now, worker="sender")
    assert len(terminated) == 2 and all(terminated)  # its idle connection, each time
    assert (report.sent, report.retried, report.dead) == (10, 0, 0)
    assert sorted(Counter(m["Message-ID"] for m in refusing.sink.messages).values()) == [1] * 10
    assert {r.state for r in rows(mailer)} == {"sent"}
    sender.engine.dispose()
    admin.dispose()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("where", ["render", "record"])
def test_a_backend_terminated_mid_transaction_fails_the_sender_cleanly_and_loses_nothing(
        mailer, db_url, refusing, clock, sender_name, where):
    """As the server accepts the first message, another client takes a lock the sender
    will wait for: the `link` table (read to render the second message) or the third row
    (written to record the third as sent). The sender's backend is terminated while it
    waits. It raises a database error, its claims stay; twice the lease later the next
    sender finds them `unknown` and sends them (the third, already received, again).

    Before: a database error while rendering made the message `dead` ("cannot render")."""
    now = requests_fired(mailer, clock)
    admin = sa.create_engine(db_url)
    sender = sender_for(mailer, refusing.port, sender_name)
    third = rows(mailer)[2].id
    locker = admin.connect()
    locked = threading.Event()

    def lock(n: int) -> None:  # in the server's thread, before the client hears "250"
        if n == 1:
            locker.begin()
            locker.execute(sa.text("LOCK TABLE link IN ACCESS EXCLUSIVE MODE") if
                           where == "render" else sa.text(
                "SELECT id FROM outboxmessage WHERE id = :id FOR UPDATE"), {"id": third})
            locked.set()

    refusing.sink.on_message = lock
    terminated: list[int] = []

    def terminate_the_waiting_sender() -> None:
        assert locked.wait(30)
        for _ in range(1000):
            if waiting_on_a_lock(admin, sender_name):
                break
            time.sleep(0.01)
        terminated.append(terminate(admin, sender_name))
        locker.rollback()

    helper = threading.Thread(target=terminate_the_waiting_sender)
    helper.start()
    with pytest.raises(sa.exc.OperationalError):
        send_pending(sender, now, worker="sender")
    helper.join()
    locker.close()
    assert terminated == [1]
    sent = 1 if where == "render" else 2
    assert Counter(r.state for r in rows(mailer)) == {"sent": sent, "claimed": 10 - sent}
    assert len(refusing.sink.messages) == sent + (where == "record")  # the third unrecorded
    lease = timedelta(seconds=mailer.settings.lease_seconds)
    again = pointed(mailer, refusing.port)
    assert send_pending(again, now + lease / 2, worker="early").messages == 0  # claims live
    after = send_pending(again, now + 2 * lease, worker="after")
    assert (after.unknown, after.sent, after.dead) == (10 - sent, 10 - sent, 0)
    assert {r.state for r in rows(mailer)} == {"sent"}
    counts = Counter(m["Message-ID"] for m in refusing.sink.messages)
    if where == "record":
        row = rows(mailer)[2]
        assert counts.pop(row.message_id) == 2 and "unknown" in row.last_error
    assert sorted(counts.values()) == [1] * (10 if where == "render" else 9)  # the others once
    sender.engine.dispose()
    admin.dispose()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_backends_terminated_at_random_moments_leave_nothing_claimed_or_lost(db_url,
                                                                             tmp_path):
    result = pg_terminations(3, seed=20261208, directory=tmp_path, url=db_url)
    print(result)
    assert result.problems == [] and result.clean_errors
    assert result.terminated >= 3
    assert result.claimed_after == 0 and result.lost == 0 and result.messages >= 30
    assert result.duplicates == result.explained
