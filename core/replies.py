"""Replies: what partners answered, as plain data, and the replies file of `simulate`/`dossier`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from yaml.nodes import Node

from core.calendar import DateOutOfRange, check_day, parse_instant
from core.problems import Say, out_of_range
from core.statuses import ReplyStatus
from core.yamlnodes import Problem, Problems, compose, entries, items, scalar_value, text_of

STATUSES = tuple(ReplyStatus)
REPLY_KEYS = {"obligation", "at", "status", "until", "values"}

Value = int | float | str


@dataclass(frozen=True)
class Reply:
    obligation: str
    at: datetime
    status: str
    until: date | None = None
    values: dict[str, Value] = field(default_factory=dict)


def load_replies(raw: bytes, file: str, tz: str, known: set[str] | None = None
                 ) -> tuple[list[Reply], list[Problem]]:
    """Read a replies file (a YAML list); `known` restricts obligation ids."""
    problems = Problems(file)
    root = compose(raw, problems)
    out: list[Reply] = []
    if root is None:
        return out, problems.sorted()
    listed = items(root, problems, Say("tệp phản hồi", "replies file"))
    for index, node in enumerate(listed, 1):
        what = Say(f"phản hồi {index}", f"reply {index}")
        reply = _read_reply(node, problems, what, tz, known)
        if reply:
            out.append(reply)
    return (out, []) if not problems else ([], problems.sorted())


def _read_reply(node: Node, p: Problems, what: Say, tz: str, known: set[str] | None
                ) -> Reply | None:
    found = entries(node, p, what)
    if found is None:
        return None
    for name, (key, _v) in found.items():
        if name not in REPLY_KEYS:
            p.add(key, "unknown_key", what=what, name=name)
    for name in ("obligation", "at", "status"):
        if name not in found:
            p.add(node, "missing", what=what, name=name)
    ok = True
    obligation = text_of(found["obligation"][1]) if "obligation" in found else None
    unknown = obligation is None or (known is not None and obligation not in known)
    if "obligation" in found and unknown:
        p.add(found["obligation"][0], "obligation_not_planned", what=what, value=obligation)
        ok = False
    at = None
    if "at" in found:
        t = text_of(found["at"][1])
        try:
            at = parse_instant(t or "", tz)
        except DateOutOfRange as exc:
            p.add(found["at"][0], "out_of_range", what=what + ": at", error=out_of_range(exc))
        except ValueError:
            p.add(found["at"][0], "not_an_instant", what=what, value=t)
    status = text_of(found["status"][1]) if "status" in found else None
    if "status" in found and status not in STATUSES:
        p.add(found["status"][0], "bad_status", what=what, value=status,
              allowed=", ".join(STATUSES))
        ok = False
    until = None
    if "until" in found:
        t = text_of(found["until"][1])
        try:
            until = check_day(date.fromisoformat(t or ""))
        except DateOutOfRange as exc:
            p.add(found["until"][0], "out_of_range", what=what + ": until", error=out_of_range(exc))
            ok = False
        except ValueError:
            p.add(found["until"][0], "until_not_a_date", what=what, value=t)
            ok = False
    if status == ReplyStatus.EXTENSION and until is None and "until" not in found:
        p.add(node, "extension_needs_until", what=what)
        ok = False
    values: dict[str, Value] = {}
    if "values" in found:
        vmap = entries(found["values"][1], p, what + ": values")
        for name, (vkey, vnode) in (vmap or {}).items():
            v = scalar_value(vnode)
            if isinstance(v, bool) or not isinstance(v, int | float | str):
                p.add(vkey, "bad_value", what=what, name=name)
                ok = False
            else:
                values[name] = v
    if not ok or obligation is None or at is None or status is None:
        return None
    return Reply(obligation=obligation, at=at, status=status, until=until, values=values)
