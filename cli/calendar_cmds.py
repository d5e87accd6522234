"""calendar revoke: end a party's calendar feed links (docs/calendar.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console, fail, tr
from cli.store_cmds import store
from services.calendar import FeedUnknown, revoke_party_feeds

calendar_app = typer.Typer(help="Partners' deadline calendars (a feed per party).",
                           no_args_is_help=True)


@calendar_app.command("revoke")
def revoke(
    code: Annotated[str, typer.Argument(help="Agreement code.")],
    party: Annotated[str, typer.Argument(help="Party id (as in the agreement file).")],
    email: Annotated[str | None, typer.Option(
        help="Only this contact's link (its e-mail address); default: every contact's.")
    ] = None,
) -> None:
    """Revoke a party's calendar feed links: they answer the refusal page from now on;
    the next ladder e-mail to a contact brings a new link."""
    app = store()
    try:
        done = revoke_party_feeds(app, code, party, email, app.now())
    except FeedUnknown:
        who = f" ({email})" if email else ""
        fail(tr(f"{code}: không có đơn vị {party}{who} trong chương trình",
                f"{code}: no party {party}{who} in this agreement"))
    console.print(tr(f"{code} — {done.party}: đã thu hồi {done.links} đường dẫn lịch",
                     f"{code} — {done.party}: {done.links} calendar link(s) revoked"),
                  markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(calendar_app, name="calendar")
