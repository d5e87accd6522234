"""What makes a partner's reply acceptable: pure checks, messages in Vietnamese first."""

from __future__ import annotations

from datetime import date
from typing import Any

from core.numbers import ValueRefused, parse_value
from core.replies import STATUSES
from core.statuses import ReplyStatus


def check_values(indicators: list[dict[str, Any]], values: dict[str, Any]) -> tuple[
        dict[str, int | float | str], dict[str, str]]:
    """Indicator values typed by kind, bounded (core.numbers) and checked against
    `at_most`; (clean, errors)."""
    clean: dict[str, int | float | str] = {}
    errors: dict[str, str] = {}
    kinds = {i["id"]: i for i in indicators}
    for key, raw in values.items():
        ind = kinds.get(key)
        if ind is None:
            errors[key] = "Chỉ tiêu không thuộc nội dung này / not an indicator of this commitment"
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        try:
            clean[key] = parse_value(ind["kind"], raw)
        except ValueRefused as exc:
            errors[key] = str(exc)
    for ind in indicators:
        limit = ind.get("at_most")
        v, cap = clean.get(ind["id"]), clean.get(limit) if limit else None
        if isinstance(v, int | float) and isinstance(cap, int | float) and v > cap:
            errors[ind["id"]] = (f"Không được lớn hơn “{kinds[limit]['label']}” ({cap}) / "
                                 f"may not exceed {limit}")
    return clean, errors


def field_errors(status: str, percent: int | None, reason: str | None, until: date | None,
                 due: date) -> dict[str, str]:
    """The reply's own fields against its status and the obligation's due date."""
    errors: dict[str, str] = {}
    if status not in STATUSES:
        errors["status"] = "Trạng thái không hợp lệ / unknown status"
    if status == ReplyStatus.IN_PROGRESS and (percent is None or not 0 <= percent <= 100):
        errors["percent"] = "Nhập tỷ lệ hoàn thành từ 0 đến 100 / give a percentage 0–100"
    if status == ReplyStatus.BLOCKED and not (reason and reason.strip()):
        errors["reason"] = "Cho biết lý do vướng mắc / say what blocks it"
    if status == ReplyStatus.EXTENSION:
        if until is None:
            errors["until"] = "Chọn ngày xin gia hạn / choose the date asked for"
        elif until <= due:
            errors["until"] = ("Ngày gia hạn phải sau hạn hiện tại / "
                               "must be after the current due date")
    return errors
