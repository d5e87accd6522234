"""One year of the Quảng Trị agreement, run in whatever zone the process is in (TZ).

    TZ=America/New_York python -m tests.tz_scenario DB_URL DATA_DIR OUT.json

tests/integration/test_timezones.py runs this in subprocesses with different `TZ` and
compares the canonical dumps, which must be identical: the program reasons in the
agreement's zone and in UTC, never in the host's.

The scenario: import at signing (00:00 local), then every day for a year at 08:00
Vietnam time: the replies of the Quảng Trị replies file whose time has come (through the
portal's own path: `load_view` + `submit`), the review steps due, the sweep's
`fire_steps` (tick + enqueue), and `send_pending` to recording notifiers. The dump holds
the fired steps with their `due_at` instants, every outbox row (key, state, subject) and
every message handed over (subject, text and HTML body, headers), the obligations' due
dates, deadlines and next fire times, and the review dossiers' content. Link tokens come
from random nonces, so each is replaced by what the link is (purpose, obligation,
contact's address).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def run(db_url: str, data_dir: Path) -> dict[str, Any]:
    import sqlalchemy as sa
    from pydantic import SecretStr
    from sqlmodel import col, select

    from config.bootstrap import bootstrap
    from config.settings import Settings
    from core.calendar import local_instant
    from core.expand import expand
    from core.parse import load_agreement
    from core.replies import load_replies
    from models.links import issue, token_for
    from models.migrate import upgrade
    from models.tables import (
        Contact,
        FeedLink,
        FiredStep,
        Link,
        Obligation,
        OutboxMessage,
        Party,
        Review,
    )
    from notifications.port import RecordingNotifier
    from notifications.send import send_pending
    from services import reviews as cycle
    from services.imports import import_agreement
    from services.ladder import fire_steps
    from services.partner import load_view, submit
    from tests.conftest import QT, QT_REPLIES, FixedClock

    settings = Settings(database_url=db_url, data_dir=data_dir,
                        secret_key=SecretStr("tz-scenario-secret-key-0123456789abcdef"),
                        portal_url="http://127.0.0.1:8600")
    agreement, problems = load_agreement(QT.read_bytes(), str(QT))
    assert agreement is not None and not problems, problems
    tz = agreement.timezone
    clock = FixedClock(local_instant(agreement.signed_on, datetime.min.time(), tz))
    app = bootstrap(settings, clock=clock)
    upgrade(app.engine)
    import_agreement(app, QT.read_bytes(), str(QT))
    plan = expand(agreement, app.calendar)
    replies, problems = load_replies(QT_REPLIES.read_bytes(), str(QT_REPLIES), tz,
                                     {o.id for o in plan.obligations})
    assert not problems, problems
    pending = sorted(replies, key=lambda r: r.at)
    email, apprise = RecordingNotifier(), RecordingNotifier()
    notifiers: dict[str, Any] = {"email": email, "apprise": apprise}
    sent: list[dict[str, Any]] = []
    dossiers: list[dict[str, Any]] = []
    day, last = agreement.signed_on, agreement.signed_on + timedelta(days=365)
    eight = datetime.min.time().replace(hour=8)
    while day <= last:
        now = local_instant(day, eight, tz)
        while pending and pending[0].at <= now:
            r = pending.pop(0)
            clock.at = r.at
            _portal_reply(app, r, issue, load_view, submit, select, col, Obligation,
                          Contact, Party, uuid)
        clock.at = now
        with app.session() as s:
            codes = cycle.due_codes(s, app, now)
        for code in codes:
            for done in cycle.run_due(app, code, now, data_dir / "dossiers"):
                if done.assembled is not None:
                    dossiers.append({"cycle": done.cycle, "step": done.step,
                                     "content": done.assembled.content})
        fire_steps(app, now)
        before = len(email.sent) + len(apprise.sent)
        send_pending(app, now, "tz-scenario", notifiers=notifiers)
        for m in (email.sent + apprise.sent)[before:]:
            sent.append({"at": now.isoformat(), "to": m.to_address, "subject": m.subject,
                         "text": m.text, "html": m.html, "message_id": m.message_id,
                         "headers": m.headers})
        day += timedelta(days=1)

    with app.session() as s:
        contacts = {c.id: c.email for c in s.exec(select(Contact))}
        keys = {o.id: o.key for o in s.exec(select(Obligation))}
        names = {}
        for link in s.exec(select(Link)):
            token = token_for(app.secret_key, link.nonce)
            names[token] = (f"<{link.purpose} link: {keys.get(link.obligation_id or 0)} "
                            f"{contacts.get(link.contact_id or 0)} reply={link.reply_id} "
                            f"cycle={link.cycle} expires={link.expires_at.isoformat()}>")
        for feed in s.exec(select(FeedLink)):  # the calendar lines of ladder e-mails
            names[token_for(app.secret_key, feed.nonce)] = (
                f"<feed link: {feed.agreement_id} {feed.party_id} "
                f"{contacts.get(feed.contact_id)} expires={feed.expires_at.isoformat()}>")
        fired = [{"obligation": keys[f.obligation_id], "step": f.step, "outcome": f.outcome,
                  "due_at": f.due_at.isoformat(), "recorded_at": f.recorded_at.isoformat()}
                 for f in s.exec(select(FiredStep).order_by(col(FiredStep.recorded_at),
                                                           col(FiredStep.obligation_id),
                                                           col(FiredStep.step)))]
        outbox = [{"key": m.key, "kind": m.kind, "state": m.state, "subject": m.subject,
                   "recipient": m.recipient, "created_at": m.created_at.isoformat(),
                   "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                   "context": m.context}
                  for m in s.exec(select(OutboxMessage).order_by(col(OutboxMessage.key)))]
        obligations = [{"key": o.key, "status": o.status, "planned_due": o.planned_due.isoformat(),
                        "due": o.due.isoformat(), "deadline": o.deadline.isoformat(),
                        "next_fire": o.next_fire.isoformat() if o.next_fire else None,
                        "last_step": o.last_step}
                       for o in s.exec(select(Obligation).order_by(col(Obligation.key)))]
        reviews = [{"cycle": r.cycle, "stage": r.stage, "meeting": r.meeting.isoformat(),
                    "assembled_at": r.assembled_at.isoformat() if r.assembled_at else None}
                   for r in s.exec(select(Review).order_by(col(Review.cycle)))]
        replies_dump = [tuple(map(str, row)) for row in s.execute(sa.text(
            "select o.key, r.version, r.status, r.until, r.decision, r.recorded_at "
            "from reply r join obligation o on o.id = r.obligation_id "
            "order by o.key, r.version"))]
    app.engine.dispose()
    dump = {"fired": fired, "outbox": outbox, "sent": sent, "obligations": obligations,
            "reviews": reviews, "dossiers": dossiers, "replies": replies_dump}
    text = json.dumps(dump, ensure_ascii=False, sort_keys=True, default=str)
    for token, name in names.items():  # random per run: named by what the link is
        text = text.replace(token, name)
    return {"dump": json.loads(text),
            "host": {"tzname": list(time.tzname), "offset": time.localtime().tm_gmtoff,
                     "local_now_hour": datetime.now().hour,
                     "utc_now_hour": datetime.now(UTC).hour}}


def _portal_reply(app: Any, r: Any, issue: Any, load_view: Any, submit: Any, select: Any,
                  col: Any, Obligation: Any, Contact: Any, Party: Any, uuid: Any) -> None:
    """A reply of the file, sent through the portal's form by the party's focal contact."""
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(Obligation.key == r.obligation)).one()
        contact = s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id).where(
            Party.agreement_id == o.agreement_id, Party.key == o.party,
            Contact.role == "focal").order_by(col(Contact.id))).first()
        token = issue(s, app.secret_key, purpose="reply", now=r.at,
                      expires_at=o.deadline + timedelta(days=60), obligation_id=o.id,
                      contact_id=contact.id).token
    form = {"status": r.status, "form_nonce": uuid.uuid5(uuid.NAMESPACE_URL,
                                                         f"{r.obligation}@{r.at}").hex,
            "until": r.until.isoformat() if r.until else "",
            "answered_by": "Người trả lời thử"}
    form.update({f"v-{k}": str(v) for k, v in r.values.items()})
    with app.session(write=True) as s:
        view = load_view(s, app, token, r.at, None, page=False)
        submit(s, app, view, form, r.at)


def main() -> None:
    time.tzset()
    db_url, data_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    out.write_text(json.dumps(run(db_url, data_dir), ensure_ascii=False, indent=1),
                   encoding="utf-8")


if __name__ == "__main__":
    main()
