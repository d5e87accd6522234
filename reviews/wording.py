"""Words, dates and numbers of the dossier, Vietnamese first (English for `language: en`)."""

from __future__ import annotations

import decimal
import re
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache

from babel.dates import format_date
from babel.numbers import format_percent

from core.calendar import LOCAL_ZONE, zone
from core.numbers import WIDE, show_number
from notifications.wording import period

Day = date  # `Words.date` shadows the name inside the class
PLACE = re.compile(r"\b(?:tỉnh|thành phố|huyện|quận|thị xã)\s+(.+)$", re.IGNORECASE)

WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "nation": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "motto": "Độc lập - Tự do - Hạnh phúc",
        "title_review": "HỒ SƠ SƠ KẾT",
        "title_final": "HỒ SƠ TỔNG KẾT",
        "draft": "DỰ THẢO",
        "cycle": "Kỳ đánh giá",
        "covers": "Thời gian đánh giá",
        "host": "Đơn vị chủ trì tổ chức",
        "meeting": "Ngày họp",
        "assembled": "Ngày lập hồ sơ",
        "agreement": "Chương trình phối hợp",
        "summary": "TỔNG HỢP KẾT QUẢ THỰC HIỆN CHẾ ĐỘ BÁO CÁO",
        "due": "Phải nộp", "on_time": "Đúng hạn", "late": "Muộn", "missing": "Thiếu",
        "pending": "Chưa đến hạn", "waived": "Được miễn", "withdrawn": "Đã rút bỏ",
        "unrecorded": "Quá hạn trước khi đăng ký",
        "rate": "Tỷ lệ đúng hạn", "party": "Đơn vị", "total": "Tổng",
        "waived_note": "Nghĩa vụ được miễn vẫn được tính trong số thiếu hoặc chưa đến hạn; "
                       "nghĩa vụ đã rút bỏ khi sửa đổi chương trình không được tính.",
        "commitments": "KẾT QUẢ THEO TỪNG NỘI DUNG PHỐI HỢP",
        "lead": "Đơn vị chủ trì", "support": "Đơn vị phối hợp",
        "reports": "Báo cáo", "period": "Kỳ báo cáo", "deadline": "Hạn nộp",
        "state": "Tình trạng", "date": "Ngày nộp", "latest": "Trả lời gần nhất",
        "notes": "Ý kiến của các đơn vị", "blocked": "Vướng mắc và đề xuất",
        "reason": "Lý do / đề xuất", "no_reports": "Không có báo cáo đến hạn trong kỳ.",
        "review_reports": "BÁO CÁO ĐÁNH GIÁ CỦA CÁC ĐƠN VỊ",
        "indicators": "CHỈ TIÊU",
        "indicator": "Chỉ tiêu", "previous": "Kỳ trước", "change": "Thay đổi",
        "ratios": "Tỷ lệ đạt", "ratio": "Tỷ lệ", "no_indicators": "Không có chỉ tiêu.",
        "outstanding": "NỘI DUNG CÒN TỒN ĐỌNG",
        "no_outstanding": "Không còn nội dung tồn đọng.",
        "carried": "Tồn đọng kỳ trước chuyển sang", "now": "Hiện nay",
        "next": "KỲ ĐÁNH GIÁ TIẾP THEO",
        "next_text": "Kỳ {cycle}: {covers}; đơn vị chủ trì: {host}; ngày họp dự kiến: {meeting}.",
        "no_next": "Đây là kỳ tổng kết; chương trình không còn kỳ đánh giá tiếp theo.",
        "chart_rate": "Tỷ lệ nộp báo cáo đúng hạn theo đơn vị",
        "chart_indicators": "Chỉ tiêu qua các kỳ đánh giá",
        "charts": "BIỂU ĐỒ",
        "overdue_days": "Quá hạn (ngày)", "obligation": "Nghĩa vụ", "commitment": "Nội dung",
        "review_report": "Báo cáo đánh giá", "extended": "gia hạn đến",
        "figures_at": "Số liệu tính đến", "place_date": "{place}, ngày {d} tháng {m} năm {y}",
        "issuer_default": "HỘI KHUYẾN HỌC",
        "reply_done": "đã nộp", "reply_in_progress": "đang thực hiện",
        "reply_blocked": "vướng mắc", "reply_extension": "xin gia hạn",
        "decision_accepted": "đã chấp nhận", "decision_returned": "trả lại",
        "decision_granted": "đồng ý gia hạn", "decision_denied": "không đồng ý gia hạn",
        "decision_pending": "chờ duyệt gia hạn", "decision_superseded": "thay bằng đề nghị sau",
        "by": "người trả lời",
    },
    "en": {
        "nation": "SOCIALIST REPUBLIC OF VIETNAM",
        "motto": "Independence - Freedom - Happiness",
        "title_review": "REVIEW DOSSIER",
        "title_final": "CLOSING REVIEW DOSSIER",
        "draft": "DRAFT",
        "cycle": "Review cycle",
        "covers": "Period covered",
        "host": "Host",
        "meeting": "Meeting date",
        "assembled": "Assembled on",
        "agreement": "Coordination agreement",
        "summary": "SUMMARY OF REPORTING",
        "due": "Due", "on_time": "On time", "late": "Late", "missing": "Missing",
        "pending": "Pending", "waived": "Waived", "withdrawn": "Withdrawn",
        "unrecorded": "Overdue before registration",
        "rate": "On-time rate", "party": "Party", "total": "Total",
        "waived_note": "Waived obligations are still counted as missing or pending; obligations "
                       "withdrawn by an amendment are not counted.",
        "commitments": "RESULTS BY COMMITMENT",
        "lead": "Lead", "support": "Supporting",
        "reports": "Reports", "period": "Period", "deadline": "Due",
        "state": "State", "date": "Submitted", "latest": "Latest reply",
        "notes": "Partners' notes", "blocked": "Blocked items and proposals",
        "reason": "Reason / proposal", "no_reports": "No report fell due in this cycle.",
        "review_reports": "PARTIES' REVIEW REPORTS",
        "indicators": "INDICATORS",
        "indicator": "Indicator", "previous": "Previous cycle", "change": "Change",
        "ratios": "Ratios", "ratio": "Ratio", "no_indicators": "No indicators.",
        "outstanding": "OUTSTANDING ITEMS",
        "no_outstanding": "Nothing is outstanding.",
        "carried": "Carried over from the previous cycle", "now": "Now",
        "next": "NEXT REVIEW CYCLE",
        "next_text": "Cycle {cycle}: {covers}; host: {host}; meeting planned on {meeting}.",
        "no_next": "This is the closing review; the agreement has no further cycle.",
        "chart_rate": "On-time reporting rate by party",
        "chart_indicators": "Indicators over review cycles",
        "charts": "CHARTS",
        "overdue_days": "Days overdue", "obligation": "Obligation", "commitment": "Commitment",
        "review_report": "Review report", "extended": "extended to",
        "figures_at": "Figures as of", "place_date": "{place}, {dd}",
        "issuer_default": "LEARNING PROMOTION ASSOCIATION",
        "reply_done": "submitted", "reply_in_progress": "in progress",
        "reply_blocked": "blocked", "reply_extension": "extension asked",
        "decision_accepted": "accepted", "decision_returned": "returned",
        "decision_granted": "extension granted", "decision_denied": "extension denied",
        "decision_pending": "extension pending",
        "decision_superseded": "replaced by a later request",
        "by": "answered by",
    },
}


class Words:
    """The dossier's words and formats in one language."""

    def __init__(self, language: str, timezone: str = LOCAL_ZONE) -> None:
        self.language = "en" if language == "en" else "vi"
        self.w = WORDS[self.language]
        self.tz = timezone

    def __getitem__(self, key: str) -> str:
        return self.w[key]

    def date(self, d: date | str | None) -> str:
        """dd/mm/yyyy of a date, an ISO date, or an ISO instant (its local day)."""
        if d is None:
            return "—"
        if isinstance(d, str):
            return _show_iso(d, self.tz, self.language)
        return _show_date(d, self.language)

    def local(self, instant: str | datetime) -> datetime:
        dt = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
        return dt.astimezone(zone(self.tz))

    def number(self, v: object) -> str:
        if v is None:
            return "—"
        if isinstance(v, bool) or not isinstance(v, int | float):
            return str(v)
        return _decimal(v, self.language)

    def rate(self, v: object) -> str:
        if not isinstance(v, int | float):
            return "—"
        return _percent(v, self.language)

    def signed(self, v: object, percent_points: bool = False) -> str:
        if not isinstance(v, int | float):
            return "—"
        text = self.number(round(abs(v), 4))
        sign = "+" if v > 0 else ("−" if v < 0 else "±")
        return f"{sign}{text}" + (" đ.p." if percent_points and self.language == "vi"
                                  else " pp" if percent_points else "")

    def state(self, state: str) -> str:
        return self.w.get(state, state)

    def period(self, label: str) -> str:
        return period(label, self.language)

    def reply(self, status: str | None) -> str:
        return "—" if status is None else self.w.get(f"reply_{status}", status)

    def decision(self, decision: str | None) -> str:
        return "" if decision is None else self.w.get(f"decision_{decision}", decision)

    def place_date(self, place: str, d: Day) -> str:
        """The administrative place-and-date line: "Quảng Trị, ngày 13 tháng 12 năm 2022"."""
        if self.language == "vi":
            return self.w["place_date"].format(place=place, d=f"{d.day:02d}",
                                               m=f"{d.month:02d}", y=d.year)
        return self.w["place_date"].format(place=place,
                                           dd=format_date(d, "d MMMM yyyy", locale="en"))


def _decimal(v: float, language: str) -> str:
    return show_number(v, language)


@lru_cache(maxsize=4096)
def _percent(v: float, language: str) -> str:
    try:
        with decimal.localcontext(WIDE):
            return format_percent(v, "#,##0.##%", locale=language)
    except (decimal.InvalidOperation, ValueError, OverflowError):
        return f"{v:.2%}"


@lru_cache(maxsize=4096)
def _show_date(d: date, language: str) -> str:
    return format_date(d, "dd/MM/yyyy", locale=language)


@lru_cache(maxsize=4096)
def _show_iso(text: str, tz: str, language: str) -> str:
    if len(text) <= 10:
        return _show_date(date.fromisoformat(text), language)
    return _show_date(datetime.fromisoformat(text).astimezone(zone(tz)).date(), language)


def place_of(names: Sequence[str]) -> str:
    """The place of the place-and-date line, from a party's name ('... tỉnh Quảng Trị');
    a dotted blank to fill in by hand when no name says it."""
    for name in names:
        m = PLACE.search(name.strip())
        if m:
            return m.group(1).strip()
    return "…………"
