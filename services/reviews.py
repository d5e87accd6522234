"""The steps of a review cycle, as the review flow calls them.

1. `send_host_notice` (60 days before the meeting): the host's focal contact and head
   learn what they host, when, what phoihop will prepare and who owes what; the
   convener's coordinator is copied.
2. Review reports go through the ladder like any other obligation (not here).
3. `assemble` (draft 7 days before, final on the meeting date, or any time again): the
   dossier content from the database, written as DOCX, HTML and PNG, stored in the
   Review row with a read-only "dossier" link for all parties; `send_dossier` tells the
   host and the convener (draft) or every party (final).
4. `carry_over` (after the meeting): the cycle is closed; what was still open shows in
   the next cycle's dossier (computed there from the same data) and the next host is
   named.
`run_due` does whichever of these are due, each in its own transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from core.agreement import DEFAULT_LADDER
from core.calendar import local_instant
from core.dossier import UnknownCycle
from core.ladder import ladder_from_timing
from core.statuses import AgreementStatus, ReviewStage, Role
from models.ladder_state import StoredAgreementUnreadable, load_stored
from models.links import Issued, issue
from models.outbox import enqueue_message
from models.tables import Agreement, Contact, Party, Review
from reviews import chart, content, docx, html, tables
from reviews import load as loader
from reviews.schedule import (
    HOST_NOTICE_DAYS,
    STAGE_AFTER,
    due_steps,
    later_stage,
    milestones,
    milestones_for,
    pending_steps,
)
from services.isolation import Failure, isolated
from services.ports import Shell

DOSSIER_LINK_DAYS = 730  # a dossier link stays valid two years after the meeting


@dataclass
class Assembled:
    code: str
    cycle: int
    stage: str
    content: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)
    url: str | None = None  # the portal page (None when not published)


@dataclass
class CarryOver:
    code: str
    cycle: int
    carried: list[str]  # obligation ids still open at the meeting
    next: dict[str, Any] | None  # {"cycle", "host", "meeting", ...} or None after the last


@dataclass
class StepDone:
    cycle: int
    step: str  # host_notice | draft | final | close
    messages: int = 0
    assembled: Assembled | None = None
    carried: CarryOver | None = None


def default_out_dir(shell: Shell, code: str, cycle: int) -> Path:
    return shell.policy.data_dir / "dossiers" / re.sub(r"[^A-Za-z0-9._-]", "_", code) / \
        f"cycle-{cycle}"


def file_stem(code: str, cycle: int, stage: str, language: str = "vi") -> str:
    """The dossier's file name, in the language of the setting `language`."""
    if language == "en":
        return f"{code}_cycle-{cycle}_{'draft' if stage == ReviewStage.DRAFT else 'final'}"
    return f"{code}_ky-{cycle}_{'du-thao' if stage == ReviewStage.DRAFT else 'chinh-thuc'}"


def write_files(data: dict[str, Any], directory: Path, language: str = "vi"
                ) -> dict[str, Path]:
    """DOCX, HTML and the charts' PNGs of one dossier; returns kind → path."""
    directory.mkdir(parents=True, exist_ok=True)
    pngs = chart.charts(data)
    stem = file_stem(data["agreement"]["code"], data["cycle"]["cycle"], data["stage"],
                     language)
    paths = {"docx": directory / f"{stem}.docx", "html": directory / f"{stem}.html"}
    paths["docx"].write_bytes(docx.render(data, pngs))
    paths["html"].write_text(html.render(data, pngs), encoding="utf-8")
    for name, png in pngs.items():
        paths[name] = directory / name
        paths[name].write_bytes(png)
    return paths


def dossier_link(s: Session, shell: Shell, agreement_id: int, cycle: int, meeting: date,
                 tz: str, now: datetime) -> Issued:
    expires = local_instant(meeting + timedelta(days=DOSSIER_LINK_DAYS), time(0, 0), tz)
    return issue(s, shell.secret_key, purpose="dossier", now=now, expires_at=expires,
                 agreement_id=agreement_id, cycle=cycle)


def portal_url(shell: Shell, token: str) -> str:
    return shell.policy.link_url("dossier", token)


def prepare(s: Session, shell: Shell, code: str, cycle: int, stage: str | None, now: datetime,
            out_dir: Path | None = None, at: datetime | None = None) -> Assembled:
    """Build the dossier of `cycle` as it stands at `at` (default `now`) and write its
    files. Reads only: run it outside a write transaction, then `publish`."""
    _got, data = loader.build(s, shell.parse_options, code, cycle, at or now, stage,
                              assembled_at=now)
    directory = out_dir or default_out_dir(shell, code, cycle)
    return Assembled(code, cycle, data["stage"], data,
                     write_files(data, directory, shell.policy.language))


def publish(s: Session, shell: Shell, assembled: Assembled, now: datetime) -> Assembled:
    """Store the content in the cycle's Review row and issue the read-only dossier link
    (or reuse the live one). The stage only moves forward: a draft rebuilt after the
    final dossier was stored does not replace it."""
    data = assembled.content
    row = loader.agreement_row(s, assembled.code)
    assert row.id is not None
    review = loader.review_row(s, row.id, assembled.cycle)
    stored = (review.dossier or {}).get("stage") if review is not None else None
    if review is not None \
            and not (stored == ReviewStage.FINAL and data["stage"] == ReviewStage.DRAFT):
        review.dossier, review.assembled_at = data, now
        review.stage = later_stage(review.stage, data["stage"])
        s.add(review)
    meeting = datetime.fromisoformat(data["cycle"]["meeting"]).date()
    link = dossier_link(s, shell, row.id, assembled.cycle, meeting, row.timezone, now)
    assembled.url = portal_url(shell, link.token)
    s.flush()
    return assembled


def assemble(s: Session, shell: Shell, code: str, cycle: int, stage: str | None, now: datetime,
             out_dir: Path | None = None, at: datetime | None = None, publish_it: bool = True
             ) -> Assembled:
    """`prepare` and, unless told not to, `publish`, in the caller's session."""
    result = prepare(s, shell, code, cycle, stage, now, out_dir, at)
    return publish(s, shell, result, now) if publish_it else result


def _contacts(s: Session, agreement_id: int, wanted: list[tuple[str, str]]
              ) -> list[tuple[str, Contact]]:
    """Active contacts for (party, role) pairs, in that order, without repeats."""
    rows = s.exec(select(Party.key, Contact).join(Contact, col(Contact.party_id) == Party.id)
                  .where(Party.agreement_id == agreement_id, col(Party.active),
                         col(Contact.active)).order_by(col(Contact.id))).all()
    out: dict[int, tuple[str, Contact]] = {}
    for party, role in wanted:
        for key, contact in rows:
            if key == party and contact.role == role and contact.id is not None:
                out.setdefault(contact.id, (key, contact))
    return list(out.values())


@dataclass(frozen=True)
class Outgoing:
    """A message to record in the outbox: `enqueue_message(s, key, kind, contact,
    context, now)`; the key makes it once-only."""

    key: str
    kind: str  # host_notice | dossier
    contact: Contact
    context: dict[str, Any]


def _enqueue(s: Session, shell: Shell, messages: list[Outgoing], now: datetime) -> int:
    return sum(bool(enqueue_message(s, m.key, m.kind, m.contact, m.context, now))
               for m in messages)


def _audience(party: str, role: str, host: str, convener: str) -> str:
    if party == host and role in (Role.FOCAL, Role.HEAD):
        return "host"
    return "convener" if party == convener and role == Role.COORDINATOR else "party"


def _advance(s: Session, agreement_id: int, cycle: int, stage: str) -> None:
    review = loader.review_row(s, agreement_id, cycle)
    if review is not None:
        review.stage = later_stage(review.stage, stage)
        s.add(review)


def host_notice_due(s: Session, shell: Shell, code: str, cycle: int, now: datetime) -> bool:
    """Whether the host notice of `cycle` is due at `now` and not yet sent."""
    got = loader.inputs(s, shell.parse_options, code)
    review, row = got.plan.cycle(cycle), got.row
    if review is None or row.id is None:
        return False
    stored = loader.review_row(s, row.id, cycle)
    stage = stored.stage if stored else ReviewStage.PLANNED
    return "host_notice" in due_steps(got.plan.agreement, review, shell.calendar, stage, now)


def host_notice(s: Session, shell: Shell, code: str, cycle: int, now: datetime
                ) -> list[Outgoing]:
    """The host notice: to the host's focal contact and head, the convener's coordinator
    copied. Its context says what is hosted, when, what phoihop prepares, who owes what."""
    got, data = loader.build(s, shell.parse_options, code, cycle, now, ReviewStage.DRAFT,
                             assembled_at=now)
    assert got.row.id is not None
    host, convener = data["cycle"]["host"], got.plan.agreement.convener
    names = tables.Names(data)
    context = {
        "type": "host_notice", "agreement_code": code, "cycle": cycle,
        "final": data["cycle"]["final"], "covers": data["cycle"]["covers"],
        "meeting": data["cycle"]["meeting"], "host": names.party(host, short=False),
        "host_id": host,
        "prepares": {"draft": data["cycle"]["milestones"]["draft"],
                     "final": data["cycle"]["milestones"]["final"]},
        "report_due": data["cycle"]["report_due"],
        "owes": [{"party": names.party(p["party"]), "party_id": p["party"], "due": p["due"],
                  "open": p["missing"] + p["pending"], "missing": p["missing"]}
                 for p in data["figures"]["parties"]],
        "next": data["next"],
    }
    return [Outgoing(f"host-notice#{code}#{cycle}#{contact.id}", "host_notice", contact,
                     {**context, "audience": _audience(party, contact.role, host, convener)})
            for party, contact in _contacts(s, got.row.id, [
                (host, Role.FOCAL), (host, Role.HEAD), (convener, Role.COORDINATOR)])]


def send_host_notice(s: Session, shell: Shell, code: str, cycle: int, now: datetime) -> int:
    """Record the host notice's messages and mark the cycle notified; returns how many
    messages were new (a second call records none)."""
    sent = _enqueue(s, shell, host_notice(s, shell, code, cycle, now), now)
    _advance(s, loader.agreement_row(s, code).id or 0, cycle, STAGE_AFTER["host_notice"])
    return sent


def dossier_messages(s: Session, shell: Shell, assembled: Assembled, now: datetime
                     ) -> list[Outgoing]:
    """The dossier's read-only link: to the host and the convener's coordinator for a
    draft; to them and every signatory's focal contact when final."""
    data = assembled.content
    row = loader.agreement_row(s, assembled.code)
    assert row.id is not None
    host, convener = data["cycle"]["host"], data["agreement"]["convener"]
    wanted: list[tuple[str, str]] = [(host, Role.FOCAL), (host, Role.HEAD),
                                     (convener, Role.COORDINATOR)]
    if assembled.stage == ReviewStage.FINAL:
        wanted += [(p, Role.FOCAL) for p in data["signatories"]]
    link = dossier_link(s, shell, row.id, assembled.cycle,
                        datetime.fromisoformat(data["cycle"]["meeting"]).date(), row.timezone,
                        now)
    context = {"type": "dossier", "agreement_code": assembled.code, "cycle": assembled.cycle,
               "stage": assembled.stage, "final": data["cycle"]["final"],
               "meeting": data["cycle"]["meeting"],
               "host": tables.Names(data).party(host, short=False), "host_id": host,
               "link_id": link.link.id, "summary": data["summary"]}
    return [Outgoing(f"dossier#{assembled.code}#{assembled.cycle}#{assembled.stage}#"
                     f"{contact.id}", "dossier", contact,
                     {**context, "audience": _audience(party, contact.role, host, convener)})
            for party, contact in _contacts(s, row.id, wanted)]


def send_dossier(s: Session, shell: Shell, assembled: Assembled, now: datetime) -> int:
    return _enqueue(s, shell, dossier_messages(s, shell, assembled, now), now)


def carry_over(s: Session, shell: Shell, code: str, cycle: int, now: datetime) -> CarryOver:
    """Close the cycle: what was open at its meeting is carried to the next dossier."""
    got = loader.inputs(s, shell.parse_options, code)
    review = got.plan.cycle(cycle)
    if review is None:
        raise UnknownCycle(f"agreement {code} has no review cycle {cycle}")
    assert got.row.id is not None
    closed_at = min(now, milestones(got.plan.agreement, review, shell.calendar).final)
    then = content.build(got.plan, cycle, closed_at, got.replies, shell.calendar,
                         stage=ReviewStage.FINAL, statuses=got.statuses,
                         withdrawn=got.withdrawn)
    _advance(s, got.row.id, cycle, STAGE_AFTER["close"])
    return CarryOver(code, cycle, [o["obligation"] for o in then["outstanding"]], then["next"])


@dataclass(frozen=True)
class PendingStep:
    code: str
    cycle: int
    step: str
    at: datetime
    parties: tuple[str, ...]  # the host and the convener


def pending(s: Session, shell: Shell, until: datetime, code: str | None = None
            ) -> list[PendingStep]:
    """Review steps not done yet whose time is before `until`, for active agreements
    (past ones included: the sweep catches them up, by `steps_due`'s rule), except in
    cycles whose meeting was before the agreement was registered (see `run_due`).

    One query over the review rows; the ladder's `send_at` comes from the agreement's
    stored timing, so no stored file is parsed."""
    query = (select(Review, Agreement)
             .join(Agreement, col(Agreement.id) == Review.agreement_id)
             .where(Agreement.status == AgreementStatus.ACTIVE, Review.stage != ReviewStage.CLOSED,
                    col(Review.skipped).is_(False),
                    Review.meeting <= until.date() + timedelta(days=HOST_NOTICE_DAYS + 1)))
    if code is not None:
        query = query.where(Agreement.code == code)
    out = []
    for review, agreement in s.exec(query):
        if agreement.timing is None:  # imported before timings were stored
            try:
                send_at = load_stored(s, shell.parse_options, agreement).agreement.ladder.send_at
            except StoredAgreementUnreadable:  # still listed: `run_due` fails for it
                send_at = DEFAULT_LADDER.send_at  # alone, and the sweep reports it
        else:
            send_at = ladder_from_timing(agreement.timing).send_at
        m = milestones_for(review.meeting, send_at, agreement.timezone, shell.calendar)
        if m.final < agreement.registered_at:
            continue
        out += [PendingStep(agreement.code, review.cycle, step, m.at(step),
                            tuple(dict.fromkeys((review.host, agreement.convener))))
                for step in pending_steps(m, review.stage) if m.at(step) < until]
    return sorted(out, key=lambda p: (p.at, p.code, p.cycle))


def due_codes(s: Session, shell: Shell, now: datetime) -> list[str]:
    """Agreements with a review step due at `now`: `run_due` has something to do there
    (a pending step whose time has passed is due, or superseded by a due final)."""
    return sorted({p.code for p in pending(s, shell, now + timedelta(microseconds=1))})


def run_due(shell: Shell, code: str, now: datetime, out_dir: Path | None = None) -> list[StepDone]:
    """Every review step of the agreement due at `now`, in order, each committed alone.

    A cycle whose meeting was before the agreement was registered is left alone: that
    review happened before phoihop knew of it (`phoihop review` still rebuilds it)."""
    with shell.session() as s:
        got = loader.inputs(s, shell.parse_options, code)
        assert got.row.id is not None
        stages = {r.cycle: r.stage for r in s.exec(select(Review).where(
            Review.agreement_id == got.row.id))}
    plan, done = got.plan, []
    for review in plan.reviews:
        if milestones(plan.agreement, review, shell.calendar).final < got.row.registered_at:
            continue
        for step in due_steps(plan.agreement, review, shell.calendar,
                              stages.get(review.cycle, ReviewStage.PLANNED), now):
            done.append(run_step(shell, code, review.cycle, step, now, out_dir))
    return done


def run_step(shell: Shell, code: str, cycle: int, step: str, now: datetime,
             out_dir: Path | None = None) -> StepDone:
    """One step; a dossier is built in a read transaction and stored in a short write."""
    if step in (ReviewStage.DRAFT, ReviewStage.FINAL):
        with shell.session() as s:
            assembled = prepare(s, shell, code, cycle, step, now, out_dir)
        with shell.session(write=True) as s:
            publish(s, shell, assembled, now)
            sent = send_dossier(s, shell, assembled, now)
        return StepDone(cycle, step, messages=sent, assembled=assembled)
    with shell.session(write=True) as s:
        return _step(s, shell, code, cycle, step, now)


def _step(s: Session, shell: Shell, code: str, cycle: int, step: str, now: datetime
          ) -> StepDone:
    if step == "host_notice":
        return StepDone(cycle, step, messages=send_host_notice(s, shell, code, cycle, now))
    if step == "close":
        return StepDone(cycle, step, carried=carry_over(s, shell, code, cycle, now))
    raise ValueError(f"unknown review step {step!r}")


def review_each(shell: Shell, codes: list[str], at: datetime
                ) -> tuple[dict[str, list[StepDone]], list[Failure]]:
    """Each agreement's due review steps (`run_due`); a failure is recorded for its
    agreement and the next one goes on."""
    done: dict[str, list[StepDone]] = {}
    failures: list[Failure] = []
    for code in codes:
        steps, failure = isolated(code, "review", partial(run_due, shell, code, at))
        if failure is not None:
            failures.append(failure)
        else:
            done[code] = steps or []
    return done, failures
