"""What makes a partner's reply acceptable: pure checks.

Every message exists in Vietnamese and English: with `language` (vi, en) a check answers
in that one language (the page's); without it, as "Vietnamese / English" (the CLI's
replies files and other callers).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from core.calendar import DateOutOfRange, check_day
from core.numbers import (
    ValueAmbiguous,
    ValueRefused,
    in_language,
    parse_value,
    read_typed,
    show_number,
)
from core.replies import STATUSES
from core.statuses import ReplyStatus

MESSAGES: dict[str, dict[str, str]] = {
    "unknown_indicator": {"vi": "Chỉ tiêu không thuộc nội dung này",
                          "en": "not an indicator of this commitment"},
    "at_most": {"vi": "Không được lớn hơn “{label}” ({cap})",
                "en": "may not exceed “{label}” ({cap})"},
    "status": {"vi": "Trạng thái không hợp lệ", "en": "unknown status"},
    "percent": {"vi": "Nhập tỷ lệ hoàn thành từ 0 đến 100", "en": "give a percentage 0–100"},
    "reason": {"vi": "Cho biết lý do vướng mắc", "en": "say what blocks it"},
    "until": {"vi": "Chọn ngày xin gia hạn", "en": "choose the date asked for"},
    "until_after": {"vi": "Ngày gia hạn phải sau hạn hiện tại",
                    "en": "must be after the current due date"},
    "day": {"vi": "Ngày không hợp lệ; viết theo dạng ngày/tháng/năm, ví dụ 31/12/2022",
            "en": "not a date; write it as dd/mm/yyyy, e.g. 31/12/2022"},
    "percent_whole": {"vi": "Phải là số nguyên từ 0 đến 100", "en": "a whole number 0–100"},
}

DAY = re.compile(r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})")
ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")

# A reading offered back for an ambiguous value: (what `picks` sends back, its label).
Reading = tuple[str, str]


def message(key: str, language: str | None, **params: str) -> str:
    """Message `key` in `language` (None: "Vietnamese / English")."""
    return in_language({lang: text.format(**params) for lang, text in MESSAGES[key].items()},
                       language)


def check_values(indicators: list[dict[str, Any]], values: dict[str, Any],
                 language: str | None = None, picks: dict[str, str] | None = None,
                 asks: dict[str, list[Reading]] | None = None) -> tuple[
        dict[str, int | float | str], dict[str, str]]:
    """Indicator values typed by kind, bounded (core.numbers) and checked against
    `at_most`; (clean, errors).

    With `language`, a string is what a person typed in a page of that language
    (`core.numbers.read_typed`): an ambiguous one is an error, and its readings are put
    in `asks` (indicator → readings); `picks` (indicator → a reading) answers that
    question. Without it, values are read as from a file (`parse_value`)."""
    clean: dict[str, int | float | str] = {}
    errors: dict[str, str] = {}
    kinds = {i["id"]: i for i in indicators}
    picks = picks or {}
    for key, raw in values.items():
        ind = kinds.get(key)
        if ind is None:
            errors[key] = message("unknown_indicator", language)
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        try:
            if language is not None and isinstance(raw, str):
                clean[key] = read_typed(ind["kind"], raw, language, picks.get(key))
            else:
                clean[key] = parse_value(ind["kind"], raw)
        except ValueAmbiguous as exc:
            errors[key] = exc.text(language)
            if asks is not None:
                asks[key] = [(value, labels.get(language or "vi", value))
                             for value, labels in exc.readings]
        except ValueRefused as exc:
            errors[key] = exc.text(language)
    for ind in indicators:
        limit = ind.get("at_most")
        v, cap = clean.get(ind["id"]), clean.get(limit) if limit else None
        if isinstance(v, int | float) and isinstance(cap, int | float) and v > cap:
            if language is None:  # the CLI's line, as it always read
                errors[ind["id"]] = (f"Không được lớn hơn “{kinds[limit]['label']}” ({cap}) / "
                                     f"may not exceed {limit}")
            else:
                errors[ind["id"]] = message("at_most", language, label=kinds[limit]["label"],
                                            cap=show_number(cap, language))
    return clean, errors


def field_errors(status: str, percent: int | None, reason: str | None, until: date | None,
                 due: date, language: str | None = None) -> dict[str, str]:
    """The reply's own fields against its status and the obligation's due date."""
    errors: dict[str, str] = {}
    if status not in STATUSES:
        errors["status"] = message("status", language)
    if status == ReplyStatus.IN_PROGRESS and (percent is None or not 0 <= percent <= 100):
        errors["percent"] = message("percent", language)
    if status == ReplyStatus.BLOCKED and not (reason and reason.strip()):
        errors["reason"] = message("reason", language)
    if status == ReplyStatus.EXTENSION:
        if until is None:
            errors["until"] = message("until", language)
        elif until <= due:
            errors["until"] = message("until_after", language)
    return errors


def read_day(text: str, language: str | None = None) -> date:
    """A date as typed: dd/mm/yyyy (also with "-" or "." between), or yyyy-mm-dd (what a
    browser's date field sends). ValueError with the message in `language` otherwise."""
    text = text.strip()
    if m := ISO_DAY.fullmatch(text):
        year, month, day = (int(g) for g in m.groups())
    elif m := DAY.fullmatch(text):
        day, month, year = (int(g) for g in m.groups())
    else:
        raise ValueError(message("day", language))
    try:
        found = date(year, month, day)
    except ValueError:
        raise ValueError(message("day", language)) from None
    try:
        return check_day(found)
    except DateOutOfRange as exc:
        raise ValueError(exc.vi if language == "vi" else exc.en if language == "en"
                         else str(exc)) from None


def read_percent(text: str, language: str | None = None) -> int:
    """A completion percentage as typed ("63", "63 %"): a whole number 0–100 (ValueError
    with the message in `language` otherwise)."""
    try:
        value = read_typed("percent", text, language or "vi")
    except ValueRefused as exc:
        raise ValueError(exc.text(language)) from None
    if not isinstance(value, int):
        raise ValueError(message("percent_whole", language))
    return value
