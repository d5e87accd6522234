"""A review cycle's dossier figures from what the database holds.

The same pure function as `phoihop dossier FILE`: the stored agreement's plan (as last
imported: withdrawn obligations are not in it) and the recorded replies, as plain data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from config.bootstrap import App
from core.dossier import figures
from core.replies import Reply as CoreReply
from models.ladder_state import load_stored
from models.tables import Agreement, Obligation, Reply


class UnknownAgreement(LookupError):
    pass


def stored_replies(s: Session, agreement_id: int) -> list[CoreReply]:
    """Replies in the order they were recorded (returned ones included: history stands)."""
    rows = s.exec(select(Obligation.key, Reply).join(Reply, col(Reply.obligation_id) ==
                                                     Obligation.id)
                  .where(Obligation.agreement_id == agreement_id)
                  .order_by(col(Reply.recorded_at), col(Reply.id))).all()
    return [CoreReply(obligation=key, at=r.recorded_at, status=r.status, until=r.until,
                      values=dict(r.values)) for key, r in rows]


def cycle_figures(s: Session, app: App, code: str, cycle: int, at: datetime) -> dict[str, Any]:
    row = s.exec(select(Agreement).where(Agreement.code == code)).first()
    if row is None or row.id is None:
        raise UnknownAgreement(f"no stored agreement {code!r} (see: phoihop agreements)")
    loaded = load_stored(s, app, row)
    return figures(loaded.plan, cycle, at, stored_replies(s, row.id), app.calendar)
