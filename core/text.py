"""Agreement and partner text made safe for markdown: pure functions, no I/O.

Every layer that writes markdown for Prefect's UI (the flows' summaries, the dossier's
artifacts) puts partner-supplied text (names, titles typed into agreement files, notes,
reasons) only inside fenced code blocks, whose fence is longer than any run of backticks
in the text (`fenced`), or in table cells through `cell()`: Prefect's default UI renders
each table cell as markdown too (raw HTML kept). Either way it never renders as a link,
an image or HTML.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")  # a fence keeps tabs and line breaks
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # a blank line ends a code span
_PLAIN_MARKS = frozenset(" .,;:()/'\"%&+–—-")


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys must match ^[a-z0-9-]*$."""
    return "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)


def fenced(text: str) -> str:
    """Text as a code block no markdown inside it can escape: a fence no backtick run
    in it can close, its control characters (other than tabs and line breaks) dropped."""
    text = _CONTROL.sub("", text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def cell(text: str) -> str:
    """Agreement or partner text for a table artifact's cell.

    Prefect's default UI (3.8) renders a table cell as markdown with raw HTML kept: an
    `<img src=…>`, a markdown link, a bare URL or an e-mail address would be live there.
    A name of letters, digits, spaces and common punctuation stays as it is; any other
    text becomes an inline code span that no backtick run in it can close (shown as
    typed), line breaks and control characters as spaces.
    """
    text = _BREAKS.sub(" ", text)
    if not text or (text[0].isalpha() and all(c.isalnum() or c in _PLAIN_MARKS for c in text)
                    and "://" not in text and "www." not in text.lower()
                    and not re.search(r"&#?\w+;", text)):
        return text
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"
