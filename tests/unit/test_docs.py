"""Docs drift: every setting and every command is documented, or the suite fails."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from cli.main import app
from config.settings import CalendarOverrides, MailTransport, Settings

ROOT = Path(__file__).resolve().parents[2]


def _command_names() -> set[str]:
    group = typer.main.get_group(app)
    names: set[str] = set()
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        if sub:
            names.update(f"{name} {s}" for s in sub)
        else:
            names.add(name)
    return names


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(n for n in _command_names() if f"`phoihop {n}" not in readme)
    assert not missing, f"commands not documented in README.md: {missing}"


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    names = {n for n, f in Settings.model_fields.items()
             if f.annotation not in (MailTransport, CalendarOverrides)}
    names |= {f"mail.{n}" for n in MailTransport.model_fields}
    names |= {f"calendar.{n}" for n in CalendarOverrides.model_fields}
    missing = sorted(names - set(_doc_keys(doc)))
    assert not missing, f"settings not documented in docs/configuration.md: {missing}"


def _doc_keys(doc: str) -> list[str]:
    """Cells like `mail.host`, `mail.port` document each name in them."""
    keys: list[str] = []
    for line in doc.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            keys.extend(k.strip() for k in first_cell.replace("`", "").split(","))
    return keys


def _options() -> dict[str, list[list[str]]]:
    """Command → each option's spellings (`--server`, `--no-server`), help left out."""
    group = typer.main.get_group(app)
    out: dict[str, list[list[str]]] = {}
    for name, command in group.commands.items():
        subs = getattr(command, "commands", None) or {None: command}
        for sub_name, sub in subs.items():
            key = f"{name} {sub_name}" if sub_name else name
            out[key] = [[o for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]
                        for p in sub.params if p.param_type_name == "option"
                        and "--help" not in p.opts]
    return out


def test_the_readme_table_lists_every_option():
    """Issue 19.6: a user reads every option of every command in the README's table."""
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        found = re.match(r"\| `phoihop ([a-z]+(?: [a-z]+)?)\b", line)
        if found:
            rows[found[1]] = re.split(r"(?<!\\)\|", line)[1]  # `\|` inside a cell
    missing = []
    for command, options in _options().items():
        row = rows.get(command, "")
        missing += [f"{command} {spellings[0]}" for spellings in options
                    if not any(re.search(rf"{s}\b", row) for s in spellings)]
    assert not missing, f"options missing from README.md's command table: {missing}"
