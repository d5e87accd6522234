"""A party's calendar feed: its deadlines as iCalendar, served through a capability link,
and the feed links revoked.

The rows are `models.feeds`'s (read only: the portal's GET serves the feed), the events
`core.feed`'s; the words are the agreement's language (Vietnamese first), dates
dd/mm/yyyy. docs/calendar.md says what a calendar client sees and why.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from core.agreement import Ladder
from core.feed import FeedEvent, FeedText, alarm_triggers, build_feed, last_modified, sequence
from core.ladder import ladder_from_timing
from core.statuses import ObligationStatus
from models.feeds import FeedAgreement, FeedObligation, feed_rows
from models.ladder_state import StoredAgreementUnreadable, load_stored
from models.links import revoke_feeds
from models.tables import Agreement, Contact, Party
from notifications.wording import period, show_date
from services.ports import Shell

WORDS = {
    "vi": {
        "name": "Hạn báo cáo — {party} ({code})",
        "summary": "Hạn báo cáo: {commitment} ({period})",
        "review": "Báo cáo đánh giá",
        "request": "Đề nghị báo cáo", "remind": "Nhắc hạn báo cáo",
        ObligationStatus.SUBMITTED: "Đã gửi báo cáo", ObligationStatus.ACCEPTED: "Đã được "
        "chấp nhận", ObligationStatus.WAIVED: "Được miễn", ObligationStatus.WITHDRAWN:
        "Đã rút khỏi chương trình",
        "agreement": "Chương trình", "party": "Đơn vị", "due": "Hạn",
        "reply": "Trả lời tại (không cần tài khoản)",
        "no_link": "Đường dẫn trả lời được gửi kèm thư đề nghị báo cáo.",
    },
    "en": {
        "name": "Report deadlines — {party} ({code})",
        "summary": "Report due: {commitment} ({period})",
        "review": "Review report",
        "request": "Report requested", "remind": "Report reminder",
        ObligationStatus.SUBMITTED: "Report sent", ObligationStatus.ACCEPTED: "Accepted",
        ObligationStatus.WAIVED: "Waived", ObligationStatus.WITHDRAWN: "Withdrawn from the "
        "agreement",
        "agreement": "Agreement", "party": "Agency", "due": "Due",
        "reply": "Reply here (no account needed)",
        "no_link": "The reply link comes with the request e-mail.",
    },
}


@dataclass(frozen=True)
class Feed:
    body: bytes  # text/calendar, UTF-8
    filename: str  # ASCII: <agreement code>-<party id>.ics


def party_feed(s: Session, shell: Shell, token: str, now: datetime) -> Feed:
    """The feed a calendar link names, or `models.links.LinkRefused`. Reads only."""
    rows = feed_rows(s, shell.secret_key, token, now)
    a = rows.agreement
    words = WORDS["en" if a.language == "en" else "vi"]
    ladder = _ladder(s, shell, a)
    triggers = {}
    if ladder is not None:
        for due in {o.due for o in rows.obligations}:
            triggers[due] = alarm_triggers(ladder, due, shell.calendar, a.timezone)
    changed = a.updated_at if a.revision > 1 else None
    events = [_event(o, a, rows.party_name, words, shell, changed)
              for o in rows.obligations]
    text = FeedText(words["name"].format(party=rows.party_name, code=a.code),
                    {"request": words["request"], "remind": words["remind"]})
    return Feed(build_feed(text, a.timezone, events, triggers, now),
                re.sub(r"[^A-Za-z0-9._-]", "-", f"{a.code}-{rows.party_key}") + ".ics")


def _ladder(s: Session, shell: Shell, a: FeedAgreement) -> Ladder | None:
    if a.timing is not None:
        return ladder_from_timing(a.timing)
    row = s.get(Agreement, a.id)  # imported before timings were stored
    if row is None:
        return None
    try:
        return load_stored(s, shell.parse_options, row).agreement.ladder
    except StoredAgreementUnreadable:
        return None  # its events still show; the ladder's own runs report the file


def _event(o: FeedObligation, a: FeedAgreement, party: str, words: dict[str, str],
           shell: Shell, amended: datetime | None) -> FeedEvent:
    lang = "en" if a.language == "en" else "vi"
    commitment = o.commitment_title or o.commitment or words["review"]
    summary = words["summary"].format(commitment=commitment, period=period(o.label, lang))
    if o.status != ObligationStatus.OPEN:
        summary = f"[{words.get(o.status, o.status)}] {summary}"
    url = shell.policy.link_url("r", o.reply_token) if o.reply_token else None
    lines = [f"{words['agreement']}: {a.title} ({a.code})", f"{words['party']}: {party}",
             f"{words['due']}: {_day(o.due, lang)}",
             f"{words['reply']}: {url}" if url else words["no_link"]]
    return FeedEvent(
        uid=f"{o.key}@phoihop", due=o.due, status=o.status, summary=summary,
        description="\n".join(lines), sequence=sequence(a.revision, o.replies, o.decisions),
        created=o.created_at,
        last_modified=last_modified(o.created_at, amended, o.last_reply, o.last_decision),
        url=url)


@functools.lru_cache(maxsize=8192)
def _day(d: date, language: str) -> str:
    """`show_date`, remembered: a feed shows hundreds of dates on every fetch."""
    return show_date(d, language)


@dataclass(frozen=True)
class Revoked:
    agreement: str
    party: str
    links: int


class FeedUnknown(LookupError):
    """No such agreement, or no such party in it."""


def revoke_party_feeds(shell: Shell, code: str, party: str, email: str | None,
                       now: datetime) -> Revoked:
    """Revoke the live calendar links of a party (of one contact, by e-mail): the next
    ladder e-mail to a contact brings a new one."""
    with shell.session(write=True) as s:
        row = s.exec(select(Party.id, Party.name).join(
            Agreement, col(Agreement.id) == Party.agreement_id).where(
            Agreement.code == code, Party.key == party)).first()
        if row is None or row[0] is None:
            raise FeedUnknown(f"{code} {party}")
        contacts: list[int] | None = None
        if email is not None:
            contacts = [cid for cid in s.exec(select(Contact.id).where(
                Contact.party_id == row[0], Contact.email == email)) if cid is not None]
            if not contacts:
                raise FeedUnknown(f"{code} {party} {email}")
        n = revoke_feeds(s, party_id=row[0], contact_ids=contacts, now=now)
    return Revoked(code, row[1], n)
