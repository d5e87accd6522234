"""The escalation ladder: which step fires when, who it reaches, and the simulation.

Pure: every function takes the time it should reason about (`now`) as an
argument. The same `decide` drives `phoihop simulate` and the ladder flows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from core.agreement import Agreement, Contact, Ladder, LadderStep
from core.calendar import Offset, WorkCalendar, iso, local_instant, zone
from core.expand import Obligation, Plan
from core.replies import Reply
from core.statuses import Audience, LadderRecipient, ReplyStatus, Role

C = TypeVar("C")


def fire_day(step: LadderStep, due: date, cal: WorkCalendar) -> date:
    """The day a step fires: offset from the due date, then on to a working day."""
    return cal.next_working_day(cal.shift(due, step.at))


@lru_cache(maxsize=4096)
def _fire_times(ladder: Ladder, due: date, cal: WorkCalendar, tz: str) -> tuple[datetime, ...]:
    return tuple(local_instant(fire_day(s, due, cal), ladder.send_at, tz) for s in ladder.steps)


def fire_times(ladder: Ladder, due: date, cal: WorkCalendar, tz: str) -> list[datetime]:
    """When each step fires for an obligation due on `due` (cached: many share a due date)."""
    return list(_fire_times(ladder, due, cal, tz))


def timing(ladder: Ladder) -> dict[str, object]:
    """What fire times depend on, as plain JSON: stored with an agreement at import."""
    return {"send_at": ladder.send_at.strftime("%H:%M"), "name": ladder.name,
            "steps": [{"at": str(s.at), "action": s.action, "to": list(s.to)}
                      for s in ladder.steps]}


def ladder_from_timing(data: dict[str, Any]) -> Ladder:
    """The inverse of `timing`."""
    return Ladder(steps=tuple(LadderStep(Offset.parse(s["at"]), s["action"], tuple(s["to"]))
                              for s in data["steps"]),
                  send_at=time.fromisoformat(data["send_at"]), name=data.get("name"))


@dataclass(frozen=True)
class Decision:
    step: int
    skipped: tuple[int, ...]


def decide(times: Sequence[datetime], used: Iterable[int], now: datetime) -> Decision | None:
    """Catch-up: of the unused steps due at `now`, the latest fires and the rest are skipped.

    Ties on the fire time go to the higher index.
    """
    spent = set(used)
    eligible = [i for i, t in enumerate(times) if i not in spent and t <= now]
    if not eligible:
        return None
    chosen = max(eligible, key=lambda i: (times[i], i))
    return Decision(step=chosen, skipped=tuple(sorted(i for i in eligible if i != chosen)))


def next_fire(times: Sequence[datetime], used: Iterable[int]) -> datetime | None:
    """When the next unused step is due, or None once every step is used."""
    spent = set(used)
    pending = [t for i, t in enumerate(times) if i not in spent]
    return min(pending) if pending else None


@dataclass(frozen=True)
class Advance:
    """What one tick does to one obligation: the step it fires (and those it skips), if
    any, when its next unused step is due, and the highest step used."""

    fired: Decision | None
    next_fire: datetime | None
    last_step: int | None


def advance(times: Sequence[datetime], used: Iterable[int], last_step: int | None,
            now: datetime) -> Advance:
    """`decide`, then the next fire time and last step that follow from it."""
    spent = set(used)
    decision = decide(times, spent, now)
    if decision is None:
        return Advance(None, next_fire(times, spent), last_step)
    spent |= {decision.step, *decision.skipped}
    return Advance(decision, next_fire(times, spent),
                   max(last_step if last_step is not None else -1, decision.step))


def recipients(step: LadderStep, party: str, kind: str, convener: str, supervisor: str | None,
               host: str | None, contacts: Callable[[str, str | None], Sequence[tuple[C, str]]]
               ) -> tuple[tuple[str, C, str], ...]:
    """(party id, contact, audience) of everyone a step reaches, each once, in order:
    `contacts(party, role or None)` gives (contact, its role)."""
    reached = reach_with(step.to, party, kind, convener, supervisor, host, contacts)
    return tuple(dict.fromkeys(
        (pid, contact, audience(role, pid, party, convener, supervisor))
        for pid, (contact, role) in reached))


def reach(a: Agreement, obligation: Obligation, step: LadderStep, host: str | None
          ) -> list[tuple[str, Contact]]:
    """Every (party id, contact) a step reaches; roles that do not exist are left out."""

    def contacts(party_id: str, role: str | None) -> list[Contact]:
        party = a.party(party_id)
        return [c for c in party.contacts if role is None or c.role == role] if party else []

    return reach_with(step.to, obligation.party, obligation.kind, a.convener, a.supervisor,
                      host, contacts)


def reach_with(to: Iterable[str], party: str, kind: str, convener: str,
               supervisor: str | None, host: str | None,
               contacts: Callable[[str, str | None], Sequence[C]]) -> list[tuple[str, C]]:
    """`reach` over any kind of contact: `contacts(party id, role or None for all)` gives
    them (the database's contact rows, for instance), in their party's order."""
    out: list[tuple[str, C]] = []
    rungs: dict[str, tuple[str | None, str | None]] = {
        LadderRecipient.FOCAL: (party, Role.FOCAL), LadderRecipient.HEAD: (party, Role.HEAD),
        LadderRecipient.CONVENER_COORDINATOR: (convener, Role.COORDINATOR),
        LadderRecipient.SUPERVISOR: (supervisor, None),
        LadderRecipient.HOST: (host if kind == "review" else None, Role.FOCAL)}
    for who in to:
        party_id, role = rungs.get(who, (None, None))
        if party_id:
            out += [(party_id, c) for c in contacts(party_id, role)]
    return out


def audience(role: str, party: str, obligation_party: str, convener: str,
             supervisor: str | None) -> Audience:
    """Which rung's wording a recipient gets: focal, head, coordinator, supervisor, host."""
    if party == obligation_party and role in (Role.FOCAL, Role.HEAD):
        return Audience(role)
    if party == convener and role == Role.COORDINATOR:
        return Audience.COORDINATOR
    if party == supervisor:
        return Audience.SUPERVISOR
    return Audience.HOST


def labels(reached: Iterable[tuple[str, Contact]]) -> list[str]:
    """`party.role` of every contact reached, sorted and without repeats."""
    return sorted({f"{pid}.{c.role}" for pid, c in reached})


@dataclass(frozen=True)
class Event:
    at: datetime
    obligation: str
    step: int
    action: str
    to: tuple[str, ...]
    skipped: tuple[int, ...]

    def as_json(self, tz: str) -> dict[str, object]:
        return {"at": iso(self.at, tz), "obligation": self.obligation, "step": self.step,
                "action": self.action, "to": list(self.to), "skipped": list(self.skipped)}


@dataclass(frozen=True)
class Simulation:
    agreement: str
    events: tuple[Event, ...]
    unrecorded: tuple[str, ...]

    def as_json(self, tz: str) -> dict[str, object]:
        return {"agreement": self.agreement,
                "events": [e.as_json(tz) for e in self.events],
                "unrecorded": list(self.unrecorded)}


def first_tick(registered_at: datetime, ladder: Ladder, tz: str) -> datetime:
    local = registered_at.astimezone(zone(tz))
    tick = local_instant(local.date(), ladder.send_at, tz)
    return tick if tick >= registered_at else local_instant(
        local.date() + timedelta(days=1), ladder.send_at, tz)


def is_unrecorded(obligation: Obligation, registered_at: datetime) -> bool:
    """Its deadline had passed (or was that very instant) when the agreement was registered."""
    return obligation.deadline <= registered_at


@dataclass
class _Track:
    obligation: Obligation
    due: date
    times: list[datetime]
    used: set[int]
    closed: bool = False


def simulate(plan: Plan, cal: WorkCalendar, until: date, registered_at: datetime | None = None,
             replies: Sequence[Reply] = ()) -> Simulation:
    """Tick once a day at `send_at` from registration through `until`; list every step fired."""
    a = plan.agreement
    tz, ladder = a.timezone, a.ladder
    registered = registered_at or local_instant(a.signed_on, datetime.min.time(), tz)
    hosts = {r.cycle: r.host for r in plan.reviews}
    tracks: dict[str, _Track] = {}
    unrecorded: list[str] = []
    for o in plan.obligations:
        if is_unrecorded(o, registered):
            unrecorded.append(o.id)
            continue
        tracks[o.id] = _Track(o, o.due, fire_times(ladder, o.due, cal, tz), set())

    pending = sorted(enumerate(replies), key=lambda ir: (ir[1].at, ir[0]))
    events: list[Event] = []
    tick = first_tick(registered, ladder, tz)
    last = local_instant(until, ladder.send_at, tz)
    cursor = 0
    while tick <= last:
        while cursor < len(pending) and pending[cursor][1].at <= tick:
            apply_reply(tracks.get(pending[cursor][1].obligation), pending[cursor][1], cal, a, tz)
            cursor += 1
        for track in tracks.values():
            if track.closed:
                continue
            decision = decide(track.times, track.used, tick)
            if decision is None:
                continue
            track.used.add(decision.step)
            track.used.update(decision.skipped)
            step = ladder.steps[decision.step]
            reached = reach(a, track.obligation, step, hosts.get(track.obligation.cycle or 0))
            events.append(Event(at=tick, obligation=track.obligation.id, step=decision.step,
                                action=step.action, to=tuple(labels(reached)),
                                skipped=decision.skipped))
        tick = local_instant(tick.date() + timedelta(days=1), ladder.send_at, tz)
        # nothing can happen before the next unused step time or the next reply: go
        # straight to the tick that sees it (a span of centuries ends in milliseconds)
        coming = [t for track in tracks.values() if not track.closed
                  for i, t in enumerate(track.times) if i not in track.used]
        if cursor < len(pending):
            coming.append(pending[cursor][1].at)
        if not coming:
            break
        tick = max(tick, first_tick(min(coming), ladder, tz))
    events.sort(key=lambda e: (e.at, e.obligation))
    return Simulation(agreement=a.code, events=tuple(events), unrecorded=tuple(unrecorded))


def apply_reply(track: _Track | None, reply: Reply, cal: WorkCalendar, a: Agreement, tz: str
                ) -> None:
    if track is None:
        return
    if reply.status == ReplyStatus.DONE:
        track.closed = True
    elif reply.status == ReplyStatus.EXTENSION and reply.until is not None:
        track.due = extended_due(reply.until, cal, a.due_adjust)
        track.times = fire_times(a.ladder, track.due, cal, tz)


def extended_due(until: date, cal: WorkCalendar, due_adjust: str) -> date:
    """An extension moves the due date to the granted date, then `due_adjust`."""
    return cal.adjust(until, due_adjust)
