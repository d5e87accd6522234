"""Prefect events: `phoihop.reply.recorded` for every reply the portal records,
`phoihop.decision.accepted|returned|granted|denied` for every decision a coordinator takes
through a decision link, and `phoihop.agreement.imported` for every agreement `phoihop
import` creates or amends.

All carry the label `phoihop.agreement` on their resource. The automations `phoihop up`
creates act on them (docs/flows.md): a reply, a granted extension, a returned report or an
amendment runs `sync` for that agreement (they may move fire times), and a reply or any
decision runs the `deliver` deployment ("Gửi thư ngay"), which sends the receipt,
submission and decision messages they queued within the minute.

Emitted after the transaction committed, so an automation never sees a reply or a
decision the database does not hold. Prefect's events worker sends in the background and drops
what it cannot deliver: an unreachable server never fails or slows a reply.

Emitted only when the process is pointed at a Prefect server (`PREFECT_API_URL`, which
`phoihop up` sets for the portal): without one, Prefect would start a temporary server
of its own inside the portal.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from core.statuses import Decision

log = logging.getLogger("phoihop.events")

EVENT = "phoihop.reply.recorded"
IMPORTED = "phoihop.agreement.imported"
DECIDED = "phoihop.decision."  # + accepted, returned, granted or denied
DECISIONS = (Decision.ACCEPTED, Decision.RETURNED, Decision.GRANTED, Decision.DENIED)


@dataclass(frozen=True)
class ReplyRecorded:
    obligation_key: str
    agreement_code: str
    party: str  # the party key of the agreement file
    reply_id: int
    version: int
    status: str

    def resource(self) -> dict[str, str]:
        return {"prefect.resource.id": f"phoihop.obligation.{self.obligation_key}",
                "prefect.resource.name": self.obligation_key,
                "phoihop.reply.id": str(self.reply_id),
                "phoihop.agreement": self.agreement_code}  # for automations' templates

    def related(self) -> list[dict[str, str]]:
        return [{"prefect.resource.id": f"phoihop.agreement.{self.agreement_code}",
                 "prefect.resource.role": "agreement",
                 "prefect.resource.name": self.agreement_code},
                {"prefect.resource.id": f"phoihop.party.{self.agreement_code}.{self.party}",
                 "prefect.resource.role": "party", "prefect.resource.name": self.party}]

    def payload(self) -> dict[str, object]:
        return {"status": self.status, "version": self.version}


@dataclass(frozen=True)
class DecisionTaken:
    """A coordinator's decision on a reply: the same resource and related resources as the
    reply's own event (its obligation, agreement and party)."""

    obligation_key: str
    agreement_code: str
    party: str
    reply_id: int
    version: int  # the decided reply's version
    decision: str  # one of DECISIONS

    @property
    def event(self) -> str:
        return DECIDED + self.decision

    def resource(self) -> dict[str, str]:
        return ReplyRecorded(self.obligation_key, self.agreement_code, self.party,
                             self.reply_id, self.version, "").resource()

    def related(self) -> list[dict[str, str]]:
        return ReplyRecorded(self.obligation_key, self.agreement_code, self.party,
                             self.reply_id, self.version, "").related()

    def payload(self) -> dict[str, object]:
        return {"decision": self.decision, "version": self.version}


def configured() -> bool:
    """Whether a Prefect server is configured (without importing Prefect when not)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    if "prefect.settings" not in sys.modules:
        return False
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def warm() -> None:
    """Import Prefect's events at start-up (about 2 s) rather than in the first reply."""
    if os.environ.get("PREFECT_API_URL"):
        try:
            import prefect.events  # noqa: F401
        except Exception as exc:  # a broken install must not stop the portal
            log.warning("Prefect events unavailable: %s", exc)


def _emit(**event: Any) -> object:
    """`emit_event` outside any flow or task run: Prefect's events worker adds the run on the
    caller's context as related resources, and a reply or an import is about its obligation,
    agreement and party, never about a run that happens to be on the stack (one that a test
    or a replay left in the calling thread's context showed up in the reply's event)."""
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.events import emit_event

    def outside_runs() -> object:
        FlowRunContext.__var__.set(None)  # type: ignore[arg-type]  # read as "no run"
        TaskRunContext.__var__.set(None)  # type: ignore[arg-type]
        return emit_event(**event)

    return contextvars.copy_context().run(outside_runs)  # the caller's context untouched


def reply_recorded(info: ReplyRecorded) -> bool:
    """Hand the event to Prefect's events worker; never raises. Whether it was handed over."""
    try:
        if not configured():
            return False
        event = _emit(event=EVENT, resource=info.resource(), related=info.related(),
                      payload=info.payload())
        return event is not None
    except Exception as exc:  # the reply is recorded; the event is a notification
        log.warning("event %s for %s not emitted: %s", EVENT, info.obligation_key, exc)
        return False


def decision_taken(info: DecisionTaken) -> bool:
    """`phoihop.decision.<decision>` after a decision committed; never raises."""
    try:
        if not configured():
            return False
        event = _emit(event=info.event, resource=info.resource(), related=info.related(),
                      payload=info.payload())
        return event is not None
    except Exception as exc:  # the decision is recorded; the event is a notification
        log.warning("event %s for %s not emitted: %s", info.event, info.obligation_key, exc)
        return False


def agreement_imported(code: str, outcome: str, revision: int) -> bool:
    """`phoihop.agreement.imported` for a created or amended agreement; never raises."""
    try:
        if not configured():
            return False
        event = _emit(event=IMPORTED, resource={
            "prefect.resource.id": f"phoihop.agreement.{code}", "prefect.resource.name": code,
            "phoihop.agreement": code}, payload={"outcome": outcome, "revision": revision})
        return event is not None
    except Exception as exc:  # the agreement is stored; the event is a notification
        log.warning("event %s for %s not emitted: %s", IMPORTED, code, exc)
        return False
