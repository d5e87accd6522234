"""`phoihop config`: the settings in force, secrets masked."""

from __future__ import annotations

import typer
from rich.table import Table

from cli.common import app_context, console, tr
from config.settings import config_file
from core.parse import mask_secret


def config() -> None:
    """Show the settings in force (environment, TOML file, defaults); secrets are masked."""
    s = app_context().settings
    table = Table(title=tr("Cấu hình đang dùng", "Settings in force"), title_justify="left")
    table.add_column(tr("Thiết lập", "Setting"))
    table.add_column(tr("Giá trị", "Value"))
    path = config_file()
    table.add_row("config file", str(path) if path else tr("(không có)", "(none)"))
    table.add_row("profile", s.profile)
    table.add_row("data_dir", str(s.data_dir))
    table.add_row("database_url", s.masked_db_url())
    table.add_row("language", s.language)
    table.add_row("portal_url", s.portal_url)
    table.add_row("mail", s.mail.masked())
    table.add_row("mail.sender", s.mail.sender)
    for name, url in sorted(s.channels.items()):
        table.add_row(f"channels.{name}", mask_secret(url.get_secret_value()))
    for name in sorted(s.ladders):
        table.add_row(f"ladders.{name}", tr("bậc thang tự đặt", "custom ladder"))
    table.add_row("calendar.days_off", ", ".join(d.isoformat() for d in s.calendar.days_off))
    table.add_row("calendar.working_days",
                  ", ".join(d.isoformat() for d in s.calendar.working_days))
    table.add_row("secret_key", "***" if s.secret_key else
                  tr("tự sinh trong data_dir/secret.key", "generated in data_dir/secret.key"))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(config)
