"""The agreement as plain data: what a validated agreement file says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time

from core.calendar import LOCAL_ZONE, Offset
from core.statuses import LadderRecipient, Role

ROLES = tuple(Role)
FREQUENCIES = ("year", "half-year", "quarter", "month", "once")
INDICATOR_KINDS = ("count", "number", "percent", "text")
ACTIONS = ("request", "remind", "escalate")
RECIPIENTS = tuple(LadderRecipient)
DUE_ADJUST = ("next", "previous", "none")


@dataclass(frozen=True)
class Contact:
    name: str
    role: str
    email: str | None = None
    phone: str | None = None
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Party:
    id: str
    name: str
    short: str | None = None
    contacts: tuple[Contact, ...] = ()

    def has_role(self, role: str) -> bool:
        return any(c.role == role for c in self.contacts)


@dataclass(frozen=True)
class Indicator:
    id: str
    label: str
    kind: str
    at_most: str | None = None


@dataclass(frozen=True)
class ReportDuty:
    every: str
    due: str  # "MM-DD", "+Nd" or "YYYY-MM-DD" (once)
    owed_by: tuple[str, ...]  # resolved party ids, in file order
    title: str | None = None


@dataclass(frozen=True)
class Commitment:
    id: str
    title: str
    lead: str
    support: tuple[str, ...] = ()
    reports: tuple[ReportDuty, ...] = ()
    indicators: tuple[Indicator, ...] = ()

    def indicator(self, indicator_id: str) -> Indicator | None:
        return next((i for i in self.indicators if i.id == indicator_id), None)


@dataclass(frozen=True)
class ReviewPolicy:
    every_years: int = 2
    due: str = "12-20"
    rotation: tuple[str, ...] = ()  # resolved: never empty in a valid agreement
    final_host: str = ""
    report_due: Offset = field(default_factory=lambda: Offset(-30, False))


@dataclass(frozen=True)
class LadderStep:
    at: Offset
    action: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class Ladder:
    steps: tuple[LadderStep, ...]
    send_at: time = time(8, 0)
    name: str | None = None  # None for an inline ladder


DEFAULT_LADDER = Ladder(
    name="default",
    send_at=time(8, 0),
    steps=(
        LadderStep(Offset(-30, False), "request", (LadderRecipient.FOCAL,)),
        LadderStep(Offset(-7, False), "remind", (LadderRecipient.FOCAL,)),
        LadderStep(Offset(0, False), "remind", (LadderRecipient.FOCAL,)),
        LadderStep(Offset(3, True), "escalate", (LadderRecipient.FOCAL, LadderRecipient.HEAD)),
        LadderStep(Offset(10, True), "escalate", (LadderRecipient.HEAD,
                                                  LadderRecipient.CONVENER_COORDINATOR)),
        LadderStep(Offset(20, True), "escalate", (LadderRecipient.SUPERVISOR,)),
    ),
)


@dataclass(frozen=True)
class Agreement:
    code: str
    title: str
    signed_on: date
    start: date
    end: date
    convener: str
    parties: tuple[Party, ...]
    commitments: tuple[Commitment, ...]
    reviews: ReviewPolicy
    ladder: Ladder
    timezone: str = LOCAL_ZONE
    language: str = "vi"
    supervisor: str | None = None
    supersedes: str | None = None
    observers: tuple[Party, ...] = ()
    due_adjust: str = "next"
    source: str = field(default="", compare=False)  # the file's text, for re-import checks

    def party(self, party_id: str) -> Party | None:
        for p in self.parties:
            if p.id == party_id:
                return p
        for p in self.observers:
            if p.id == party_id:
                return p
        return None

    def commitment(self, commitment_id: str) -> Commitment | None:
        return next((c for c in self.commitments if c.id == commitment_id), None)

    @property
    def party_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.parties)
