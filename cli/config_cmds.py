"""`phoihop config`: every setting in force, where it comes from, secrets masked."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import BaseModel, SecretStr
from rich.text import Text

from cli.common import FullTable, app_context, console, tr
from config.settings import Settings, config_file, setting_sources
from core.parse import mask_secret


def _shown(name: str, value: Any, s: Settings) -> str:
    """One setting's value as printed: secrets masked, lists joined."""
    if name == "database_url":
        return s.masked_db_url() + ("" if value else tr(" (mặc định)", " (default)"))
    if name == "secret_key":
        return "***" if value else tr("tự sinh trong data_dir/secret.key",
                                      "generated in data_dir/secret.key")
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, list):
        return ", ".join(v.isoformat() if hasattr(v, "isoformat") else str(v) for v in value)
    if value is None:
        return "—"
    return str(value)


def rows(s: Settings) -> list[tuple[str, str, str]]:
    """(setting, value, source) for every setting, nested ones by dotted name."""
    sources = setting_sources(s)
    label = {"environment": tr("biến môi trường", "environment"), "toml": "TOML",
             "default": tr("mặc định", "default")}
    out: list[tuple[str, str, str]] = []
    for name in Settings.model_fields:
        value = getattr(s, name)
        if name == "channels":
            for ch, url in sorted(value.items()):
                out.append((f"channels.{ch}", mask_secret(url.get_secret_value()),
                            label[sources[name]]))
            if not value:
                out.append(("channels", tr("(không có)", "(none)"), label[sources[name]]))
        elif name == "ladders":
            for ld in sorted(value):
                out.append((f"ladders.{ld}", tr("bậc thang tự đặt", "custom ladder"),
                            label[sources[name]]))
            if not value:
                out.append(("ladders", tr("(chỉ bậc thang mặc định)", "(only the default)"),
                            label[sources[name]]))
        elif isinstance(value, BaseModel):
            if name == "mail":
                out.append(("mail", value.masked(),  # type: ignore[attr-defined]
                            label[sources["mail.host"]]))
            for sub in type(value).model_fields:
                out.append((f"{name}.{sub}", _shown(sub, getattr(value, sub), s),
                            label[sources[f"{name}.{sub}"]]))
        else:
            out.append((name, _shown(name, value, s), label[sources[name]]))
    return out


def config(
    check: Annotated[bool, typer.Option(
        "--check", help="Only check the settings: one line, exit 1 on any problem.")] = False,
) -> None:
    """Show every setting in force and where it comes from (environment, TOML file,
    default); secrets are masked. Unknown keys and unusable values exit 1."""
    s = app_context().settings  # a problem is a one-line error and exit 1 here
    path = config_file()
    if check:
        where = str(path) if path else tr("không có tệp TOML", "no TOML file")
        console.print(tr("Cấu hình hợp lệ", "Settings valid") + f" ({where}).",
                      markup=False, highlight=False, soft_wrap=True)
        return
    table = FullTable(title=tr("Cấu hình đang dùng", "Settings in force"), title_justify="left")
    table.add_column(tr("Thiết lập", "Setting"), no_wrap=True)
    table.add_column(tr("Giá trị", "Value"), overflow="fold")
    table.add_column(tr("Nguồn", "Source"), no_wrap=True)
    table.add_row(tr("tệp cấu hình", "config file"),
                  Text(str(path) if path else tr("(không có)", "(none)")), "")
    for name, value, source in rows(s):
        table.add_row(name, Text(value), source)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(config)
