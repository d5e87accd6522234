"""A ladder tick: fire what is due, each step once, and queue its messages.

What fires is core.ladder's decision (`advance`: the latest unused step due, the earlier
ones skipped; `recipients`: who that step reaches and in which rung's words); reading,
locking and recording are models.ladder_state's; the messages models.outbox's. The caller
owns the transaction (a write transaction: the ladder and sweep flows, the demo).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from sqlmodel import Session

from core.ladder import advance, fire_times, recipients
from core.statuses import StepOutcome
from models.ladder_state import (
    FiredItem,
    Recipient,
    codes_due,
    due_obligations,
    ladder_contexts,
    record_steps,
    set_next_fires,
)
from models.outbox import fired_rows, insert_messages
from services.isolation import TRANSIENT, Failure, isolated
from services.ports import Shell


def tick(s: Session, shell: Shell, now: datetime, agreement_code: str | None = None,
         flow_run: str | None = None) -> list[FiredItem]:
    """Fire what is due at `now`: at most one step per obligation, the rest skipped.

    Set-wise, for a national sweep: the due obligations, their used steps, the agreements'
    ladder timings, contacts and review hosts are read in a few queries; the steps are
    inserted in two batches and the obligations updated in one."""
    due, used = due_obligations(s, now, agreement_code)
    if not due:
        return []
    contexts = ladder_contexts(s, shell.parse_options, {r.agreement_id for r in due})
    skipped_rows: list[dict[str, object]] = []
    fired_rows_: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    chosen = []
    for r in due:
        ctx = contexts[r.agreement_id]
        times = fire_times(ctx.ladder, r.due, shell.calendar, ctx.timezone)
        moved = advance(times, used.get(r.id, set()), r.last_step, now)
        updates.append({"oid": r.id, "next_fire": moved.next_fire,
                        "last_step": moved.last_step, "updated_at": now})
        if moved.fired is None:
            continue
        skipped_rows += [dict(obligation_id=r.id, step=i, outcome=StepOutcome.SKIPPED,
                              due_at=times[i], recorded_at=now, flow_run=flow_run)
                         for i in moved.fired.skipped]
        fired_rows_.append(dict(obligation_id=r.id, step=moved.fired.step,
                                outcome=StepOutcome.FIRED, due_at=times[moved.fired.step],
                                recorded_at=now, flow_run=flow_run))
        chosen.append((r, moved.fired))
    won = record_steps(s, skipped_rows, fired_rows_)
    set_next_fires(s, updates)
    fired: list[FiredItem] = []
    for r, decision in chosen:
        if r.id not in won:
            continue
        ctx = contexts[r.agreement_id]
        step = ctx.ladder.steps[decision.step]
        reached = recipients(step, r.party, r.kind, ctx.convener, ctx.supervisor,
                             ctx.hosts.get(r.cycle or 0), ctx.contacts_of)
        fired.append(FiredItem(r.id, r.key, r.code, decision.step, step.action,
                               tuple(Recipient(*who) for who in reached),
                               decision.skipped, now, r.agreement_id, r.deadline, r.party))
    return fired


def enqueue_fired(s: Session, shell: Shell, items: Sequence[FiredItem], now: datetime) -> int:
    """Record the messages of fired ladder steps (idempotent by key). Returns rows added."""
    return insert_messages(s, fired_rows(s, shell.secret_key,
                                         shell.policy.link_days_after_deadline, items, now))


def fire_steps(shell: Shell, at: datetime, agreement: str | None = None,
               flow_run: str | None = None) -> list[FiredItem]:
    """Record due ladder steps and their messages in one transaction (idempotent)."""
    with shell.session(write=True) as s:
        items = tick(s, shell, at, agreement, flow_run)
        enqueue_fired(s, shell, items, at)
    return items


def fire_steps_each(shell: Shell, at: datetime, flow_run: str | None = None
                    ) -> tuple[list[FiredItem], list[Failure]]:
    """`fire_steps` for every agreement in one batch; if the batch fails, agreement by
    agreement, each in its own transaction, so one agreement's failure stops no other."""
    try:
        return fire_steps(shell, at, None, flow_run), []
    except TRANSIENT:
        raise
    except Exception:  # someone's data broke the batch: find whose, do the others
        pass
    with shell.session() as s:
        codes = codes_due(s, at)
    items: list[FiredItem] = []
    failures: list[Failure] = []
    for code in codes:
        fired, failure = isolated(code, "ladder", partial(fire_steps, shell, at, code, flow_run))
        items += fired or []
        failures += [failure] if failure else []
    return items, failures
