"""Rendering a message kind in a language: subject, plain text and HTML from one template.

Every template has three blocks. Subject and text are rendered without HTML escaping
(they are not HTML; control characters are stripped from headers by the SMTP layer);
the HTML block is rendered with autoescaping, so partner text cannot inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent / "templates"
KINDS = ("ladder", "undeliverable", "failure", "host_notice", "dossier", "submission",
         "extension_request", "decision", "receipt")

_text_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False,
                        undefined=StrictUndefined, keep_trailing_newline=False)
_html_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                        undefined=StrictUndefined)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _block(env: Environment, name: str, block: str, context: dict[str, Any]) -> str:
    template = env.get_template(name)
    return "".join(template.blocks[block](template.new_context(context))).strip()


def render(kind: str, language: str, context: dict[str, Any]) -> Rendered:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    name = f"{'en' if language == 'en' else 'vi'}/{kind}.j2"
    subject = " ".join(_block(_text_env, name, "subject", context).split())
    return Rendered(subject=subject, text=_block(_text_env, name, "text", context) + "\n",
                    html=_block(_html_env, name, "html", context))
