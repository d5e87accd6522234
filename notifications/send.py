"""The send loop: claim due outbox rows, compose, hand over, record; retried in one place.

No transaction is held across a network call: claim (commit), send, record (commit).
Rows for one recipient in one tick share a `digest_key` and go out as one message. Safe
to run in several workers at once (models.outbox.claim takes whole digests with a lease).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from core.statuses import OutboxState
from models import outbox
from models.queries import coordinators
from models.sealed import SealBroken, unseal
from models.tables import Contact, OutboxMessage, Party
from notifications.compose import build_message
from notifications.port import DeliveryError, Notifier, Sending

BACKOFF_BASE = timedelta(minutes=2)
BACKOFF_CAP = timedelta(hours=6)


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    unknown: int = 0  # leases that ran out with no recorded result
    messages: int = 0  # messages handed over (a digest counts once)
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return delay * random.uniform(0.5, 1.0)


def send_pending(shell: Sending, now: datetime, worker: str, limit: int = 500,
                 notifiers: Mapping[str, Notifier] | None = None) -> SendReport:
    """Send what is due: claim, compose, hand over, record. Safe to run in several workers.

    `notifiers`: the channels to send through (tests pass fakes); by default the shell's,
    opened for this round and closed after it."""
    report = SendReport()
    own = notifiers is None
    channels = shell.notifiers() if notifiers is None else notifiers
    down: set[str] = set()  # channels whose server took nothing this round
    try:
        while True:
            with shell.session(write=True) as s:
                rows, unknown = outbox.claim(s, now, worker, limit, shell.policy.lease_seconds)
            report.unknown += unknown
            if not rows:
                return report
            groups: dict[str, list[OutboxMessage]] = {}
            for r in rows:
                groups.setdefault(r.digest_key or r.key, []).append(r)
            for group in groups.values():
                if group[0].channel in down:
                    _release(shell, now, worker, group, report)
                    continue
                error = _send_group(shell, now, worker, group, channels, report)
                if error is not None and error.unreachable:
                    down.add(group[0].channel)
    finally:
        if own:
            for n in channels.values():
                n.close()


def _release(shell: Sending, now: datetime, worker: str, group: list[OutboxMessage],
             report: SendReport) -> None:
    """Claimed rows not attempted, their server having taken nothing this round (each
    attempt waits up to the send deadline): retried later, the claim's attempt not counted."""
    with shell.session(write=True) as s:
        report.retried += outbox.release(s, [r.id for r in group if r.id is not None],
                                         worker, now + backoff(1))


def _send_group(shell: Sending, now: datetime, worker: str, group: list[OutboxMessage],
                channels: Mapping[str, Notifier], report: SendReport) -> DeliveryError | None:
    first = group[0]
    error: DeliveryError | None = None
    broken = False  # the message itself cannot be built: not the recipient's fault
    try:
        with shell.session() as s:
            message = build_message(s, shell.secret_key, shell.policy, group, now)
        # an inline channel is stored sealed (models.sealed): opened for the channel only
        message = replace(message, to_address=unseal(shell.secret_key, message.to_address))
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        raise  # the database went away, not the message's fault: the claims run out
    except SealBroken as exc:  # the secret key changed: not the recipient's fault either
        error, broken = DeliveryError(str(exc), permanent=True), True
    except Exception as exc:  # a message that cannot be rendered will not render later:
        # dead (and counted), never left claimed to be retried forever
        error = DeliveryError(f"cannot render: {type(exc).__name__}: {exc}"[:300],
                              permanent=True)
        broken = True
    else:
        try:
            channels[first.channel].send(message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # an adapter bug must not leave the rows claimed
            error = DeliveryError(f"{type(exc).__name__}: {exc}"[:300])
    report.messages += 1
    with shell.session(write=True) as s:
        if error is None:  # the common case in one statement (a wave is thousands of these)
            report.sent += outbox.mark_sent(s, [r.id for r in group if r.id is not None],
                                            worker, now, message.subject)
            return None
        for r in group:
            row = outbox.held(s, r.id, worker)
            if row is None:
                continue
            row.lease_until = None
            if error.unreachable:  # the server took nothing: not this message's attempt,
                row.attempts -= 1  # and never a reason to give its recipient up
            if not error.unreachable and (error.permanent
                                          or row.attempts >= shell.policy.send_retries):
                row.state, row.last_error = OutboxState.DEAD, str(error)[:500]
                report.dead += 1
                if not broken:
                    report_undeliverable(s, row, now)
            else:
                row.state, row.last_error = OutboxState.RETRY_WAIT, str(error)[:500]
                row.next_attempt_at = now + backoff(row.attempts)
                report.retried += 1
            s.add(row)
    if error is not None:
        report.errors.append(str(error)[:200])
    return error


def report_undeliverable(s: Session, row: OutboxMessage, now: datetime) -> None:
    """Once per contact: tell the convener's coordinators that this contact is unreachable."""
    contact = s.get(Contact, row.contact_id) if row.contact_id else None
    if contact is None or row.kind == "undeliverable" or row.agreement_id is None:
        return
    if contact.undeliverable_since is None:
        contact.undeliverable_since = now
        s.add(contact)
    if s.get(Party, contact.party_id) is None:
        return
    rows = []
    for c in coordinators(s, row.agreement_id):
        if c.id == contact.id:
            continue
        context = {"contact_id": contact.id, "attempts": row.attempts,
                   "error": (row.last_error or "")[:200]}
        rows += outbox.message_rows(f"undeliverable#{contact.id}#{c.id}", "undeliverable", c,
                                    context, now, f"undeliverable#{c.id}",
                                    agreement_id=row.agreement_id)
    outbox.insert_messages(s, rows)
