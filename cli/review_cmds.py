"""`phoihop review CODE --cycle K`: a stored agreement's review figures."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import fail, print_json
from cli.dossier_view import print_dossier
from cli.store_cmds import store
from core.calendar import parse_instant
from core.dossier import UnknownCycle
from models.dossier import UnknownAgreement, cycle_figures
from models.ladder_state import load_stored
from models.tables import Agreement


def review(
    code: Annotated[str, typer.Argument(help="Agreement code.")],
    cycle: Annotated[int, typer.Option(help="Review cycle number, from 1.")],
    at: Annotated[str | None, typer.Option(help="Figures as they stand at (ISO); default now.")
                  ] = None,
    json: Annotated[bool, typer.Option("--json", help="The JSON of `phoihop dossier`.")] = False,
) -> None:
    """The dossier figures of a stored agreement's review cycle, from the database."""
    app = store()
    try:
        when = parse_instant(at, "Asia/Ho_Chi_Minh") if at else app.now()
    except ValueError:
        fail(f"--at: {at!r} is not an ISO date-time")
    with app.session() as s:
        try:
            data = cycle_figures(s, app, code, cycle, when)
        except (UnknownAgreement, UnknownCycle) as exc:
            fail(str(exc))
        from sqlmodel import select

        row = s.exec(select(Agreement).where(Agreement.code == code)).one()
        agreement = load_stored(s, app, row).agreement
    if json:
        print_json(data)
    else:
        print_dossier(agreement, data)


def register(app: typer.Typer) -> None:
    app.command()(review)
