"""Agreement files, version 1: parse and validate, reporting every problem at once.

`load_agreement(raw, file, options)` returns `(agreement, problems)`; the
agreement is None whenever there is any problem. Messages are written for the
coordinator who typed the file, each anchored at the offending key's line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from yaml.nodes import Node, SequenceNode

from core.agreement import (
    ACTIONS,
    DEFAULT_LADDER,
    DUE_ADJUST,
    FREQUENCIES,
    INDICATOR_KINDS,
    RECIPIENTS,
    ROLES,
    Agreement,
    Commitment,
    Contact,
    Indicator,
    Ladder,
    LadderStep,
    Party,
    ReportDuty,
    ReviewPolicy,
)
from core.calendar import LOCAL_ZONE, DateOutOfRange, Offset, WorkCalendar, check_day
from core.problems import Say, Text, out_of_range
from core.statuses import Role
from core.yamlnodes import Problem, Problems, compose, entries, is_null, items, text_of

CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}")
ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
MONTH_DAY_RE = re.compile(r"(\d{2})-(\d{2})")
PLUS_DAYS_RE = re.compile(r"\+(\d{1,4})d")
HHMM_RE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
EMAIL_RE = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"']+")
ID_RULE = Say("chữ thường, chữ số và '-', tối đa 40 ký tự",
              "lower-case letters, digits and '-', at most 40 characters")
CODE_RULE = Say("chữ cái không dấu, chữ số, '.', '_' và '-', từ 2 đến 64 ký tự, bắt đầu bằng "
                "chữ cái hoặc chữ số",
                "letters, digits, '.', '_' and '-', 2 to 64 characters, "
                "starting with a letter or digit")


@dataclass(frozen=True)
class ParseOptions:
    """What the configuration contributes: named ladders and named channels, the working
    calendar, and the language problems found later are said in (setting `language`)."""

    ladders: Mapping[str, Ladder] = field(default_factory=lambda: {"default": DEFAULT_LADDER})
    channels: frozenset[str] = frozenset()
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    language: str = "vi"


class LadderConfigError(ValueError):
    """A configured ladder breaks the rules: the English message; `text(language)`."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems

    def text(self, language: str) -> str:
        return "; ".join(p.text(language) for p in self.problems)


def ladder_from_config(name: str, spec: Mapping[str, object]) -> Ladder:
    """A named ladder from the configuration, checked by the same rules as an inline one."""
    import yaml

    problems = Problems(f"ladder '{name}'")
    node = compose(yaml.safe_dump(dict(spec)).encode(), problems)
    what = Say(f"thang nhắc việc '{name}'", f"ladder '{name}'")
    ladder = read_ladder_node(node, problems, ParseOptions(), what, name=name) \
        if node is not None else None
    if ladder is None:
        raise LadderConfigError(problems.sorted())
    return ladder


TOP_KEYS = {
    "version", "code", "title", "signed_on", "period", "timezone", "language", "convener",
    "supervisor", "supersedes", "parties", "observers", "commitments", "reviews",
    "escalation", "due_adjust",
}
REQUIRED_TOP = ("version", "code", "title", "signed_on", "period", "convener", "parties",
                "commitments")
PARTY_KEYS = {"id", "name", "short", "contacts"}
CONTACT_KEYS = {"name", "role", "email", "phone", "channels"}
COMMITMENT_KEYS = {"id", "title", "lead", "support", "reports", "indicators"}
REPORT_KEYS = {"every", "due", "from", "title"}
INDICATOR_KEYS = {"id", "label", "kind", "at_most"}
REVIEW_KEYS = {"every_years", "due", "rotation", "final_host", "report_due"}
LADDER_KEYS = {"send_at", "steps"}
STEP_KEYS = {"at", "action", "to"}


def mask_secret(text: str) -> str:
    """An Apprise URL with its credentials hidden: `tgram://b***n/c***d`."""
    if "://" not in text:
        return text
    scheme, rest = text.split("://", 1)
    parts = re.split(r"([/@:?&=])", rest)
    masked = [p if len(p) <= 1 or p in "/@:?&=" else p[0] + "***" + p[-1] for p in parts]
    return f"{scheme}://" + "".join(masked)


class _Reader:
    def __init__(self, problems: Problems, options: ParseOptions) -> None:
        self.p = problems
        self.options = options

    # --- small typed readers -------------------------------------------------
    def keys(self, node: Node, allowed: set[str], what: Text) -> dict[str, tuple[Node, Node]]:
        found = entries(node, self.p, what)
        if found is None:
            return {}
        for name, (key, _value) in found.items():
            if name not in allowed:
                hint = _closest(name, allowed)
                if hint:
                    self.p.add(key, "unknown_key_hint", what=what, name=name, hint=hint)
                else:
                    self.p.add(key, "unknown_key", what=what, name=name)
        return {k: v for k, v in found.items() if k in allowed}

    def require(self, found: Mapping[str, tuple[Node, Node]], names: tuple[str, ...],
                anchor: Node, what: Text) -> None:
        for name in names:
            if name not in found:
                self.p.add(anchor, "missing", what=what, name=name)

    def text(self, pair: tuple[Node, Node] | None, what: Text, *, required: bool = True
             ) -> str | None:
        if pair is None:
            return None
        key, value = pair
        t = text_of(value)
        if t is None or (required and not t.strip()):
            shape = Say("giá trị trống", "empty") if is_null(value) else _shape(value)
            self.p.add(key, "not_text", what=what, found=shape)
            return None
        if CONTROL_RE.search(t):
            self.p.add(key, "control_in_text", what=what)
            return None
        return t.strip()

    def ident(self, pair: tuple[Node, Node] | None, what: Text, pattern: re.Pattern[str] = ID_RE,
              rule: Say = ID_RULE) -> str | None:
        t = self.text(pair, what)
        if t is None or pair is None:
            return None
        if not pattern.fullmatch(t):
            self.p.add(pair[0], "bad_id", what=what, value=t, rule=rule)
            return None
        return t

    def day(self, pair: tuple[Node, Node] | None, what: Text) -> date | None:
        t = self.text(pair, what)
        if t is None or pair is None:
            return None
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
                raise ValueError
            return check_day(date.fromisoformat(t))
        except DateOutOfRange as exc:
            self.p.add(pair[0], "out_of_range", what=what, error=out_of_range(exc))
            return None
        except ValueError:
            self.p.add(pair[0], "not_a_date", what=what, value=t)
            return None

    def choice(self, pair: tuple[Node, Node] | None, what: Text, allowed: tuple[str, ...]
               ) -> str | None:
        t = self.text(pair, what)
        if t is None or pair is None:
            return None
        if t not in allowed:
            self.p.add(pair[0], "not_one_of", what=what, value=t, allowed=", ".join(allowed))
            return None
        return t

    def offset(self, pair: tuple[Node, Node] | None, what: Text) -> Offset | None:
        t = self.text(pair, what)
        if t is None or pair is None:
            return None
        try:
            return Offset.parse(t)
        except ValueError:
            self.p.add(pair[0], "not_offset", what=what, value=t)
            return None

    def id_list(self, pair: tuple[Node, Node], what: Text) -> list[tuple[Node, str]]:
        out: list[tuple[Node, str]] = []
        for item in items(pair[1], self.p, what):
            t = text_of(item)
            if t is None or not ID_RE.fullmatch(t):
                shown: Text = t if t is not None else _shape(item, bare=True)
                self.p.add(item, "not_party_id", what=what, value=shown)
                continue
            out.append((item, t))
        return out


def _shape(node: Node, bare: bool = False) -> Say:
    """`a mapping`, `a list`, `a value` (bare: without the article)."""
    from yaml.nodes import MappingNode, SequenceNode

    if isinstance(node, MappingNode):
        vi, en = "bảng khoá: giá trị", "mapping"
    elif isinstance(node, SequenceNode):
        vi, en = "danh sách", "list"
    else:
        vi, en = "giá trị", "value"
    return Say(vi, en) if bare else Say("một " + vi, "a " + en)


def _closest(name: str, allowed: set[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.75)
    return match[0] if match else None


def load_agreement(raw: bytes, file: str, options: ParseOptions | None = None
                   ) -> tuple[Agreement | None, list[Problem]]:
    """Parse and validate one agreement file (its bytes)."""
    options = options or ParseOptions()
    problems = Problems(file)
    root = compose(raw, problems)
    if root is None:
        return None, problems.sorted()
    agreement = _read_agreement(root, _Reader(problems, options))
    if agreement is not None and not problems:
        _check_duties(agreement, problems, root, options.calendar)
    if problems or agreement is None:
        return None, problems.sorted()
    return replace(agreement, source=raw.decode("utf-8").lstrip("\ufeff")), []


def _read_agreement(root: Node, r: _Reader) -> Agreement | None:
    p = r.p
    agreement = Say("chương trình phối hợp", "agreement")
    top = r.keys(root, TOP_KEYS, agreement)
    if not top and entries(root, Problems(""), "") is None:
        return None
    r.require(top, REQUIRED_TOP, root, agreement)

    if "version" in top:
        key, value = top["version"]
        if text_of(value) != "1":
            p.add(key, "bad_version", found=text_of(value))
    code = r.ident(top.get("code"), "code", CODE_RE, CODE_RULE)
    title = r.text(top.get("title"), "title")
    signed_on = r.day(top.get("signed_on"), "signed_on")
    start = end = None
    if "period" in top:
        pkey, pnode = top["period"]
        period = r.keys(pnode, {"start", "end"}, "period")
        if period or entries(pnode, Problems(""), "") is not None:
            r.require(period, ("start", "end"), pkey, "period")
        start = r.day(period.get("start"), "period.start")
        end = r.day(period.get("end"), "period.end")
        if start and end and start > end:
            p.add(pkey, "start_after_end", start=str(start), end=str(end))
    tz = LOCAL_ZONE
    if "timezone" in top:
        t = r.text(top["timezone"], "timezone")
        if t is not None:
            try:
                ZoneInfo(t)
                tz = t
            except (ZoneInfoNotFoundError, ValueError):
                p.add(top["timezone"][0], "bad_timezone", value=t)
    language = r.choice(top.get("language"), "language", ("vi", "en")) or "vi"
    due_adjust = r.choice(top.get("due_adjust"), "due_adjust", DUE_ADJUST) or "next"
    supersedes = None
    if "supersedes" in top:
        supersedes = r.ident(top["supersedes"], "supersedes", CODE_RE,
                             Say("một mã chương trình phối hợp", "an agreement code"))

    seen_ids: dict[str, Node] = {}
    parties = _read_parties(top.get("parties"), r, "parties", seen_ids, minimum=2)
    observers = _read_parties(top.get("observers"), r, "observers", seen_ids, minimum=0)
    party_ids = {pt.id for pt in parties}
    observer_ids = {pt.id for pt in observers}

    convener = r.ident(top.get("convener"), "convener")
    if convener and parties and convener not in party_ids:
        p.add(top["convener"][0], "convener_not_party", value=convener)
    supervisor = None
    if "supervisor" in top:
        supervisor = r.ident(top["supervisor"], "supervisor")
        if supervisor and supervisor not in party_ids | observer_ids:
            p.add(top["supervisor"][0], "supervisor_unknown", value=supervisor)

    def is_party(node: Node, pid: str, what: Text) -> bool:
        if pid in party_ids:
            return True
        if pid in observer_ids:
            p.add(node, "is_observer", what=what, value=pid)
        else:
            p.add(node, "not_a_party", what=what, value=pid)
        return False

    commitments = _read_commitments(top.get("commitments"), r, is_party)
    reviews = _read_reviews(top.get("reviews"), r, is_party, commitments, convener)
    ladder = _read_ladder(top.get("escalation"), r)

    conv = next((pt for pt in parties if pt.id == convener), None)
    if conv is not None and not conv.has_role(Role.COORDINATOR):
        p.add(top["convener"][0], "convener_no_coordinator", value=convener)
    if p or None in (code, title, signed_on, start, end, convener) or not parties:
        # Without a complete agreement there is no plan; still name the parties that a
        # report duty makes owe something and that no focal contact could be asked.
        owing = {pid for c in commitments for duty in c.reports for pid in duty.owed_by}
        for pt in parties:
            if pt.id in owing and not pt.has_role(Role.FOCAL):
                p.add(seen_ids.get(pt.id), "no_focal", value=pt.id)
        return None
    assert code and title and signed_on and start and end and convener and reviews and ladder
    return Agreement(
        code=code, title=title, signed_on=signed_on, start=start, end=end,
        convener=convener, parties=tuple(parties), commitments=tuple(commitments),
        reviews=reviews, ladder=ladder, timezone=tz, language=language,
        supervisor=supervisor, supersedes=supersedes, observers=tuple(observers),
        due_adjust=due_adjust,
    )


def _read_parties(pair: tuple[Node, Node] | None, r: _Reader, what: str,
                  seen: dict[str, Node], minimum: int) -> list[Party]:
    if pair is None:
        return []
    key, node = pair
    out: list[Party] = []
    nodes = list(items(node, r.p, what))
    if minimum and len(nodes) < minimum and not is_null(node):
        r.p.add(key, "too_few_parties", what=what, minimum=minimum, found=len(nodes))
    elif is_null(node) and minimum:
        return out
    for index, item in enumerate(nodes, 1):
        label: Text = f"{what}[{index}]"
        found = r.keys(item, PARTY_KEYS, label)
        if not found:
            continue
        r.require(found, ("id", "name"), item, label)
        pid = r.ident(found.get("id"), label + ".id")
        if pid:
            label = Say(f"bên '{pid}'", f"party '{pid}'") if what == "parties" \
                else Say(f"bên theo dõi '{pid}'", f"observer '{pid}'")
            if pid in seen:
                first = seen[pid].start_mark.line + 1
                r.p.add(found["id"][0], "id_twice", what=label, first=first)
                pid = None
            else:
                seen[pid] = found["id"][0]
        name = r.text(found.get("name"), label + ".name")
        short = r.text(found.get("short"), label + ".short") if "short" in found else None
        contacts: list[Contact] = []
        if "contacts" in found:
            listed = items(found["contacts"][1], r.p, label + ".contacts")
            for cindex, cnode in enumerate(listed, 1):
                contact = _read_contact(
                    cnode, r, label + Say(f", người liên hệ {cindex}", f", contact {cindex}"))
                if contact:
                    contacts.append(contact)
        if pid and name:
            out.append(Party(id=pid, name=name, short=short, contacts=tuple(contacts)))
    return out


def _read_contact(node: Node, r: _Reader, label: Text) -> Contact | None:
    found = r.keys(node, CONTACT_KEYS, label)
    if not found:
        return None
    r.require(found, ("name", "role"), node, label)
    name = r.text(found.get("name"), label + ": name")
    role = r.choice(found.get("role"), label + ": role", ROLES)
    email = None
    if "email" in found:
        email = r.text(found["email"], label + ": email")
        if email and not EMAIL_RE.fullmatch(email):
            r.p.add(found["email"][0], "bad_email", what=label, value=email)
            email = None
    phone = r.text(found["phone"], label + ": phone") if "phone" in found else None
    channels: list[str] = []
    if "channels" in found:
        for ch in items(found["channels"][1], r.p, label + ": channels"):
            t = text_of(ch)
            if t is None or not t.strip():
                r.p.add(ch, "empty_channel", what=label)
            elif "://" in t or t.strip() in r.options.channels:
                channels.append(t.strip())
            else:
                names = ", ".join(sorted(r.options.channels))
                known = Say(names or "chưa cấu hình kênh nào", names or "none configured")
                r.p.add(ch, "unknown_channel", what=label, value=t, known=known)
    if "email" not in found and "channels" not in found:
        r.p.add(node, "no_address", what=label)
    if name and role:
        return Contact(name=name, role=role, email=email, phone=phone, channels=tuple(channels))
    return None


def _read_commitments(pair: tuple[Node, Node] | None, r: _Reader,
                      is_party: Callable[[Node, str, Text], bool]) -> list[Commitment]:
    if pair is None:
        return []
    key, node = pair
    nodes = list(items(node, r.p, "commitments"))
    if not nodes and (isinstance(node, SequenceNode) or is_null(node)):
        r.p.add(key, "no_commitment")
    out: list[Commitment] = []
    seen: dict[str, Node] = {}
    for index, item in enumerate(nodes, 1):
        label: Text = f"commitments[{index}]"
        found = r.keys(item, COMMITMENT_KEYS, label)
        if not found:
            continue
        r.require(found, ("id", "title", "lead"), item, label)
        cid = r.ident(found.get("id"), label + ".id")
        if cid:
            label = Say(f"nội dung '{cid}'", f"commitment '{cid}'")
            if cid in seen:
                r.p.add(found["id"][0], "id_twice", what=label,
                        first=seen[cid].start_mark.line + 1)
                cid = None
            else:
                seen[cid] = found["id"][0]
        title = r.text(found.get("title"), label + ".title")
        lead = r.ident(found.get("lead"), label + ".lead")
        if lead and not is_party(found["lead"][0], lead, label + ".lead"):
            lead = None
        support: list[str] = []
        if "support" in found:
            for snode, sid in r.id_list(found["support"], label + ".support"):
                if sid == lead:
                    r.p.add(snode, "support_is_lead", what=label + ".support", value=sid)
                elif sid in support:
                    r.p.add(snode, "named_twice", what=label + ".support", value=sid)
                elif is_party(snode, sid, label + ".support"):
                    support.append(sid)
        indicators = _read_indicators(found.get("indicators"), r, label)
        reports = _read_reports(found.get("reports"), r, label, lead, support, is_party)
        if cid and title and lead:
            out.append(Commitment(id=cid, title=title, lead=lead, support=tuple(support),
                                  reports=tuple(reports), indicators=tuple(indicators)))
    return out


def _read_reports(pair: tuple[Node, Node] | None, r: _Reader, label: Text, lead: str | None,
                  support: list[str], is_party: Callable[[Node, str, Text], bool]
                  ) -> list[ReportDuty]:
    if pair is None or is_null(pair[1]):
        return []
    out: list[ReportDuty] = []
    seen_every: dict[str, Node] = {}
    for index, item in enumerate(items(pair[1], r.p, label + ".reports"), 1):
        what = label + Say(f", báo cáo {index}", f", report {index}")
        found = r.keys(item, REPORT_KEYS, what)
        if not found:
            continue
        r.require(found, ("every", "due"), item, what)
        every = r.choice(found.get("every"), what + ": every", FREQUENCIES)
        if every:
            if every in seen_every:
                r.p.add(found["every"][0], "every_twice", what=what, every=every)
            seen_every[every] = found["every"][0]
        due = _read_due(found.get("due"), r, what, every)
        title = r.text(found["title"], what + ": title") if "title" in found else None
        owed_by = _read_from(found.get("from"), r, what, lead, support, is_party)
        if every and due and owed_by is not None and lead:
            out.append(ReportDuty(every=every, due=due, owed_by=tuple(owed_by), title=title))
    return out


def _read_due(pair: tuple[Node, Node] | None, r: _Reader, what: Text, every: str | None
              ) -> str | None:
    t = r.text(pair, what + ": due")
    if t is None or pair is None:
        return None
    key = pair[0]
    m = MONTH_DAY_RE.fullmatch(t)
    if m:
        if every and every != "year":
            r.p.add(key, "month_day_not_yearly", what=what, value=t)
            return None
        month, day = int(m.group(1)), int(m.group(2))
        try:
            date(2023, month, day)  # a common year: the day must exist every year
        except ValueError:
            r.p.add(key, "month_day_not_every_year", what=what, value=t)
            return None
        return t
    if PLUS_DAYS_RE.fullmatch(t):
        if every == "once":
            r.p.add(key, "once_needs_date", what=what, value=t)
            return None
        return t
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        try:
            check_day(date.fromisoformat(t))
        except DateOutOfRange as exc:
            r.p.add(key, "out_of_range", what=what + ": due", error=out_of_range(exc))
            return None
        except ValueError:
            r.p.add(key, "due_not_a_date", what=what, value=t)
            return None
        if every and every != "once":
            r.p.add(key, "date_only_once", what=what)
            return None
        return t
    r.p.add(key, "bad_due", what=what, value=t)
    return None


def _read_from(pair: tuple[Node, Node] | None, r: _Reader, what: Text, lead: str | None,
               support: list[str], is_party: Callable[[Node, str, Text], bool]
               ) -> list[str] | None:
    if pair is None:
        return [lead] if lead else None
    key, node = pair
    t = text_of(node)
    if t is not None:
        if t == "lead":
            return [lead] if lead else None
        if t == "support":
            if not support:
                r.p.add(key, "from_support_none", what=what)
                return None
            return list(support)
        if t == "all":
            return ([lead] if lead else []) + list(support)
        r.p.add(key, "bad_from", what=what, value=t)
        return None
    out: list[str] = []
    ok = True
    for inode, pid in r.id_list(pair, what + ": from"):
        if pid in out:
            r.p.add(inode, "from_twice", what=what, value=pid)
            ok = False
        elif is_party(inode, pid, what + ": from"):
            out.append(pid)
        else:
            ok = False
    if ok and not out and not r.p.items:
        r.p.add(key, "from_empty", what=what)
        return None
    return out if ok and out else None


def _read_indicators(pair: tuple[Node, Node] | None, r: _Reader, label: Text
                     ) -> list[Indicator]:
    if pair is None or is_null(pair[1]):
        return []
    out: list[Indicator] = []
    nodes: dict[str, Node] = {}
    pending: list[tuple[Node, str, str]] = []
    for index, item in enumerate(items(pair[1], r.p, label + ".indicators"), 1):
        what = label + Say(f", chỉ tiêu {index}", f", indicator {index}")
        found = r.keys(item, INDICATOR_KEYS, what)
        if not found:
            continue
        r.require(found, ("id", "label", "kind"), item, what)
        iid = r.ident(found.get("id"), what + ": id")
        if iid:
            what = label + _indicator(iid)
            if iid in nodes:
                r.p.add(found["id"][0], "indicator_twice", what=what)
                iid = None
            else:
                nodes[iid] = found["id"][0]
        text = r.text(found.get("label"), what + ": label")
        kind = r.choice(found.get("kind"), what + ": kind", INDICATOR_KINDS)
        at_most = None
        if "at_most" in found:
            at_most = r.ident(found["at_most"], what + ": at_most")
            if at_most and iid:
                pending.append((found["at_most"][0], iid, at_most))
        if iid and text and kind:
            out.append(Indicator(id=iid, label=text, kind=kind, at_most=at_most))
    kinds = {i.id: i.kind for i in out}
    for node, iid, other in pending:
        if other == iid:
            r.p.add(node, "at_most_itself", what=label + _indicator(iid))
        elif other not in nodes:
            r.p.add(node, "at_most_unknown", what=label + _indicator(iid), value=other)
        elif kinds.get(iid) == "text" or kinds.get(other) == "text":
            r.p.add(node, "at_most_text", what=label + _indicator(iid))
    return out


def _indicator(iid: str) -> Say:
    return Say(f", chỉ tiêu '{iid}'", f", indicator '{iid}'")


def _read_reviews(pair: tuple[Node, Node] | None, r: _Reader,
                  is_party: Callable[[Node, str, Text], bool], commitments: list[Commitment],
                  convener: str | None) -> ReviewPolicy | None:
    default_rotation = tuple(dict.fromkeys(c.lead for c in commitments))
    policy = ReviewPolicy(rotation=default_rotation, final_host=convener or "")
    if pair is None:
        return policy
    _key, node = pair
    found = r.keys(node, REVIEW_KEYS, "reviews")
    every_years = 2
    if "every_years" in found:
        k, v = found["every_years"]
        t = text_of(v)
        if t is None or not t.isdigit() or not 1 <= int(t) <= 50:
            r.p.add(k, "bad_every_years", found=t)
        else:
            every_years = int(t)
    due = "12-20"
    if "due" in found:
        t = r.text(found["due"], "reviews.due")
        m = MONTH_DAY_RE.fullmatch(t or "")
        valid = False
        if m:
            try:
                date(2023, int(m.group(1)), int(m.group(2)))
                valid = True
            except ValueError:
                pass
        if t is not None and not valid:
            r.p.add(found["due"][0], "bad_review_due", value=t)
        elif t:
            due = t
    rotation = default_rotation
    if "rotation" in found:
        listed = [pid for n, pid in r.id_list(found["rotation"], "reviews.rotation")
                  if is_party(n, pid, "reviews.rotation")]
        if not listed and not is_null(found["rotation"][1]):
            r.p.add(found["rotation"][0], "rotation_empty")
        rotation = tuple(listed) or default_rotation
    final_host = convener or ""
    if "final_host" in found:
        host = r.ident(found["final_host"], "reviews.final_host")
        if host and is_party(found["final_host"][0], host, "reviews.final_host"):
            final_host = host
    report_due = policy.report_due
    if "report_due" in found:
        report_due = r.offset(found["report_due"], "reviews.report_due") or report_due
    return ReviewPolicy(every_years=every_years, due=due, rotation=rotation,
                        final_host=final_host, report_due=report_due)


def _read_ladder(pair: tuple[Node, Node] | None, r: _Reader) -> Ladder | None:
    if pair is None:
        return r.options.ladders.get("default", DEFAULT_LADDER)
    key, node = pair
    name = text_of(node)
    if name is not None:
        if name in r.options.ladders:
            return r.options.ladders[name]
        if name == "default":
            return DEFAULT_LADDER
        known = ", ".join(sorted(set(r.options.ladders) | {"default"}))
        r.p.add(key, "unknown_ladder", name=name, known=known)
        return None
    return read_ladder_node(node, r.p, r.options, "escalation")


def read_ladder_node(node: Node, problems: Problems, options: ParseOptions, what: Text,
                     name: str | None = None) -> Ladder | None:
    """An inline ladder (also used for ladders named in the configuration file)."""
    r = _Reader(problems, options)
    found = r.keys(node, LADDER_KEYS, what)
    if not found:
        return None
    r.require(found, ("steps",), node, what)
    send_at = time(8, 0)
    if "send_at" in found:
        t = r.text(found["send_at"], what + ".send_at")
        m = HHMM_RE.fullmatch(t or "")
        if m:
            send_at = time(int(m.group(1)), int(m.group(2)))
        elif t is not None:
            problems.add(found["send_at"][0], "bad_send_at", what=what + ".send_at", value=t)
    steps: list[LadderStep] = []
    ok = True
    if "steps" in found:
        nodes = list(items(found["steps"][1], problems, what + ".steps"))
        if not nodes:
            problems.add(found["steps"][0], "no_steps", what=what + ".steps")
            ok = False
        for index, item in enumerate(nodes):
            label = what + Say(f", bước {index}", f", step {index}")
            step = r.keys(item, STEP_KEYS, label)
            if not step:
                ok = False
                continue
            r.require(step, ("at", "action", "to"), item, label)
            at = r.offset(step.get("at"), label + ": at")
            action = r.choice(step.get("action"), label + ": action", ACTIONS)
            to: list[str] = []
            if "to" in step:
                for tnode in items(step["to"][1], problems, label + ": to"):
                    t = text_of(tnode)
                    if t not in RECIPIENTS:
                        problems.add(tnode, "bad_recipient", what=label, value=str(t),
                                     allowed=", ".join(RECIPIENTS))
                        ok = False
                    elif t not in to:
                        to.append(t)
                if not to and ok:
                    problems.add(step["to"][0], "no_recipient", what=label)
                    ok = False
            if at is None or action is None or not to:
                ok = False
                continue
            steps.append(LadderStep(at=at, action=action, to=tuple(to)))
    if not ok or not steps:
        return None
    return Ladder(steps=tuple(steps), send_at=send_at, name=name)


def _check_duties(a: Agreement, problems: Problems, root: Node, calendar: WorkCalendar
                  ) -> None:
    """Who owes anything in the plan (reports or review reports) needs a focal contact."""
    from core.expand import expand

    owing = {o.party for o in expand(a, calendar).obligations}
    top = entries(root, Problems(""), "") or {}
    party_nodes: dict[str, Node] = {}
    if "parties" in top:
        for item in items(top["parties"][1], Problems(""), ""):
            found = entries(item, Problems(""), "") or {}
            t = text_of(found["id"][1]) if "id" in found else None
            if t:
                party_nodes[t] = found["id"][0]
    for party in a.parties:
        if party.id in owing and not party.has_role(Role.FOCAL):
            problems.add(party_nodes.get(party.id), "no_focal", value=party.id)
