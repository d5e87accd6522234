"""An import: agreement files validated, then stored in one transaction (models.store says
what storing keeps and changes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa

from core.calendar import parse_instant
from core.expand import expand
from core.parse import ParseOptions, load_agreement
from core.yamlnodes import Problem
from models.sql import rewrite_files
from models.store import (
    ImportRejected,
    ImportResult,
    Parsed,
    RegistrationRefused,
    Sealed,
    seal_stored,
    store,
)
from models.tables import Agreement, Contact, OutboxMessage
from services.ports import Shell


def parse_all(options: ParseOptions, files: Iterable[tuple[str, bytes]]) -> list[Parsed]:
    parsed: list[Parsed] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for name, raw in files:
        agreement, found = load_agreement(raw, name, options)
        if found or agreement is None:
            problems.extend(found)
            continue
        if agreement.code in seen:
            problems.append(Problem.of(name, 1, 1, "code_in_two_files", code=agreement.code,
                                       other=seen[agreement.code]))
            continue
        seen[agreement.code] = name
        parsed.append(Parsed(name, raw, agreement, expand(agreement, options.calendar)))
    if problems:
        raise ImportRejected(problems)
    return parsed


def import_agreement(shell: Shell, raw: bytes, name: str,
                     registered_at: datetime | str | None = None) -> ImportResult:
    return import_many(shell, [(name, raw)], registered_at=registered_at)[0]


def import_many(shell: Shell, files: Iterable[tuple[str, bytes]],
                progress: Callable[[ImportResult], None] | None = None,
                registered_at: datetime | str | None = None) -> list[ImportResult]:
    """Validate every file, then store them all in one transaction.

    `registered_at`: when the agreement was really registered (adopting phoihop
    mid-period): obligations whose deadline had passed then are `unrecorded`, the later
    ones `open` (overdue ones are chased from the next tick). Only for agreements not yet
    stored, and not in the future. Given as ISO text, a date or a naive date-time is read
    in each agreement's time zone (as `simulate --registered-at` reads it); text that is
    no ISO date raises ValueError before anything is stored."""
    parsed = parse_all(shell.parse_options, files)
    now = shell.now()
    registered: dict[str, datetime | None] = {}
    for item in parsed:
        when = parse_instant(registered_at, item.agreement.timezone) \
            if isinstance(registered_at, str) else registered_at
        if when is not None and when > now:
            raise RegistrationRefused(None, None)
        registered[item.name] = when
    results: list[ImportResult] = []
    with shell.session(write=True) as s:
        for item in parsed:
            result = store(s, shell.calendar, item, now, registered[item.name],
                           secret_key=shell.secret_key)
            results.append(result)
            if progress:
                progress(result)
    return results


def seal_channels(shell: Shell, engine: sa.Engine) -> tuple[Sealed, str | None]:
    """The inline channel URLs stored before they were sealed, sealed now (once, by
    `phoihop db upgrade`; an import seals what it stores), then the files rewritten so
    their old, readable versions leave them too; and why they could not be (or None)."""
    with shell.session(write=True) as s:
        done = seal_stored(s, shell.secret_key)
    why = rewrite_files(engine, (Contact, Agreement, OutboxMessage)) if done.rows else None
    return done, why
