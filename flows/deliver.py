"""The `deliver` flow ("Gửi thư ngay", send now): what replies and decisions queued in the
outbox, sent within the minute instead of at the next ladder or sweep run.

Prefect starts it (the automation of the `deliver` deployment, flows/local.py) on the
first `phoihop.reply.recorded` or `phoihop.decision.*` event of each EVENT_WINDOW_SECONDS;
the other events of the window start nothing, so the run watches the outbox until the
window has passed (`watch_seconds` after its creation, which follows the event) and
delivers what they queued too. A burst of a hundred replies makes one or two runs, not a
hundred. Started by hand (`watch_seconds` 0), it is one send round. The outbox keeps its
guarantees: rows recorded first, claimed with a lease, once per key, retried by the
outbox, deterministic Message-IDs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from prefect.states import State

from config.bootstrap import bootstrap
from core.calendar import LOCAL_ZONE, zone
from flows.ladder import BACKOFF
from flows.report import outcome
from notifications.send import SendReport
from services import delivery

WATCH_AT_MOST = 600  # seconds: a run started by hand with a longer watch is cut to this


def run_name() -> str:
    """`Gửi thư ngay · dd/mm/yyyy HH:MM:SS`, local time: what the runs list shows."""
    return f"Gửi thư ngay · {bootstrap().now().astimezone(zone(LOCAL_ZONE)):%d/%m/%Y %H:%M:%S}"


def watch_until(created: datetime | None, watch_seconds: float) -> datetime | None:
    """Until when the run watches the outbox: `watch_seconds` (at most WATCH_AT_MOST) after
    the run was created; None (one round only) without a watch."""
    if created is None or watch_seconds <= 0:
        return None
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    return created + timedelta(seconds=min(watch_seconds, WATCH_AT_MOST))


@task(retries=3, retry_delay_seconds=BACKOFF, retry_jitter_factor=0.5)
def send_now(until: datetime | None) -> SendReport:
    """A send round now, and until `until` one whenever something is due (task retries:
    transient database errors only, the outbox retries sending)."""
    app = bootstrap()
    worker = f"flow-{flow_run.get_id()}"
    if until is None:
        return delivery.deliver(app, app.now(), worker)
    return delivery.deliver_until(app, worker, until)


@flow(name="deliver", flow_run_name=run_name)
def deliver(watch_seconds: float = 0) -> int | State:
    """Gửi thư ngay / send now: hand what is due in the outbox to the mail server and
    channels (receipts, submissions, decisions queued by replies and decisions).

    `watch_seconds`: how long after its creation the run keeps delivering what later
    replies and decisions queue (the automation sets EVENT_WINDOW_SECONDS and a margin:
    the run is created after its event, so it watches past the end of the event's window);
    0, started by hand: one round. Its final state says what was delivered (`outcome`)."""
    app = bootstrap()
    created = flow_run.scheduled_start_time
    report = send_now(watch_until(created, watch_seconds))
    said = "Gửi thư ngay sau trả lời hoặc quyết định / sent at once after replies and decisions"
    get_run_logger().info(said)
    state = outcome(app, said, report, [])
    return report.sent if state.is_completed() else state
