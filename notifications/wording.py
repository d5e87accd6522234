"""Words and dates for messages, Vietnamese first: periods, days left or overdue."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date


def show_date(d: date, language: str) -> str:
    return format_date(d, "dd/MM/yyyy", locale=language)


def period(label: str, language: str) -> str:
    """`2024-H1` → "6 tháng đầu năm 2024"; `review-2` → "sơ kết lần 2"."""
    vi = language == "vi"
    if label == "once":
        return "một lần" if vi else "one-off"
    if label.startswith("review-"):
        k = label.split("-", 1)[1]
        return f"đánh giá kỳ {k}" if vi else f"review {k}"
    parts = label.split("-")
    year = parts[0]
    if len(parts) == 1:
        return f"năm {year}" if vi else year
    tail = parts[1]
    if tail == "H1":
        return f"6 tháng đầu năm {year}" if vi else f"first half of {year}"
    if tail == "H2":
        return f"6 tháng cuối năm {year}" if vi else f"second half of {year}"
    if tail.startswith("Q"):
        return f"quý {tail[1:]}/{year}" if vi else f"Q{tail[1:]} {year}"
    return f"tháng {tail}/{year}" if vi else f"{tail}/{year}"


def days_text(due: date, today: date, language: str) -> str:
    days = (due - today).days
    if language == "vi":
        if days > 0:
            return f"còn {days} ngày"
        return "hạn hôm nay" if days == 0 else f"quá hạn {-days} ngày"
    if days > 0:
        return f"{days} day{'s' if days != 1 else ''} left"
    return "due today" if days == 0 else f"{-days} day{'s' if days != -1 else ''} overdue"

HISTORY = {  # how a decision reads in a reply's history, shown to the partner
    "vi": {
        "accepted": "Cơ quan chủ trì đã chấp nhận",
        "returned": "Cơ quan chủ trì trả lại để bổ sung: {comment}",
        "granted": "Đã được gia hạn",
        "denied": "Cơ quan chủ trì không đồng ý gia hạn: {comment}",
        "pending": "Đang chờ cơ quan chủ trì quyết định",
        "superseded": "Đã thay bằng đề nghị sau",
        "no_comment": "không nêu lý do",
    },
    "en": {
        "accepted": "Accepted by the convener",
        "returned": "Returned: {comment}",
        "granted": "Extension granted",
        "denied": "Extension denied: {comment}",
        "pending": "Awaiting the convener's decision",
        "superseded": "Replaced by a later request",
        "no_comment": "no reason given",
    },
}


def history_note(decision: str | None, comment: str | None, language: str) -> str:
    """How a reply's decision reads in the partner's history ("" when there is none)."""
    w = HISTORY["en" if language == "en" else "vi"]
    if not decision or decision not in w:
        return ""
    text = w[decision]
    if "{comment}" in text:
        return text.replace("{comment}", comment or w["no_comment"])
    return f"{text}: {comment}" if comment else text
