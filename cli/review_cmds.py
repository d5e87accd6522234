"""`phoihop review CODE --cycle K [--out DIR] [--at ISO]`: a stored agreement's dossier.

Rebuilds the dossier of a review cycle from the database at any time: the DOCX the host
prints, the HTML page and the charts, written to DIR (default: the data directory's
`dossiers/CODE/cycle-K/`). `--json` prints only the figures, exactly as `phoihop dossier`
prints them for the agreement file. `--publish` also stores the dossier for the portal
and prints its read-only link.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from cli.common import console, fail, print_json, tr
from cli.dossier_view import print_dossier
from cli.store_cmds import store
from core.calendar import instant_at
from core.dossier import UnknownCycle
from core.statuses import ReviewStage
from models.ladder_state import StoredAgreementUnreadable
from reviews import load as loader
from reviews.chart import FontMissing
from services.reviews import Assembled, default_out_dir, prepare
from services.reviews import publish as store_it

T = TypeVar("T")


def review(
    code: Annotated[str, typer.Argument(help="Agreement code.")],
    cycle: Annotated[int, typer.Option(help="Review cycle number, from 1.")],
    out: Annotated[Path | None, typer.Option(
        help="Directory for the DOCX, HTML and PNG files (default: in the data directory).")
    ] = None,
    at: Annotated[str | None, typer.Option(
        help="Figures as they stand at (ISO); default now.")] = None,
    json: Annotated[bool, typer.Option(
        "--json", help="Print only the figures, as `phoihop dossier --json` does.")] = False,
    publish: Annotated[bool, typer.Option(
        "--publish", help="Also store it for the portal and print its read-only link.")
    ] = False,
) -> None:
    """Rebuild a stored agreement's review dossier (DOCX, HTML, charts) from the database."""
    app = store()
    try:
        when = instant_at(at, app.now)
    except ValueError:
        fail(tr(f"--at: {at!r} không phải ngày giờ ISO", f"--at: {at!r} is not an ISO date-time"))
    now = app.now()  # of the read-only link (--publish)
    if json and out is None and not publish:
        with app.session() as s:
            data = _guarded(lambda: loader.build(s, app.parse_options, code, cycle, when)[1],
                            code, cycle)
        print_json(data["figures"])
        return
    directory = out or default_out_dir(app, code, cycle)
    with app.session() as s:
        # assembled "at" --at: the dossier's place-and-date line is the day its figures
        # stand at, not the day this command runs
        result: Assembled = _guarded(lambda: prepare(
            s, app, code, cycle, None, when, directory, at=when), code, cycle, directory)
        agreement = loader.inputs(s, app.parse_options, code).plan.agreement
    if publish:
        with app.session(write=True) as s:
            store_it(s, app, result, now)
    if json:
        print_json(result.content["figures"])
        return
    print_dossier(agreement, result.content["figures"])
    stage = (tr("dự thảo", "draft") if result.stage == ReviewStage.DRAFT
             else tr("chính thức", "final"))
    console.print(tr(f"Hồ sơ ({stage}):", f"Dossier ({stage}):"))
    for kind in ("docx", "html"):
        console.print(f"  {result.paths[kind]}", markup=False, highlight=False)
    if result.url:
        console.print(tr("Đường dẫn xem (chỉ đọc): ", "Read-only link: ") + result.url,
                      markup=False, highlight=False)


def _guarded(work: Callable[[], T], code: str, cycle: int, directory: Path | None = None
             ) -> T:
    """Known failures as one line each (exit 1), never a traceback."""
    try:
        return work()
    except loader.UnknownAgreement:
        fail(tr(f"Không có chương trình nào mã {code!r} trong cơ sở dữ liệu (xem: phoihop "
                "agreements)", f"No stored agreement {code!r} (see: phoihop agreements)"))
    except UnknownCycle as exc:
        known = re.search(r"\(cycles: ([^)]*)\)", str(exc))
        fail(tr(f"Chương trình {code} không có kỳ sơ kết {cycle}"
                + (f" (các kỳ: {known[1]})" if known else ""),
                f"Agreement {code} has no review cycle {cycle}"
                + (f" (cycles: {known[1]})" if known else "")))
    except (StoredAgreementUnreadable, FontMissing) as exc:
        fail(tr("Không dựng được hồ sơ: ", "Cannot build the dossier: ") + str(exc))
    except OSError as exc:
        fail(tr(f"{exc.filename or directory}: không ghi được hồ sơ ({exc.strerror or exc})",
                f"{exc.filename or directory}: cannot write the dossier "
                f"({exc.strerror or exc})"))


def register(app: typer.Typer) -> None:
    app.command()(review)
