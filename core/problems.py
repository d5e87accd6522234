"""The words of every problem found in an agreement or replies file, in Vietnamese and English.

A problem is recorded as a kind (a key of `MESSAGES`) and named fields; it is put into
words only when shown, in the language the reader chose (the setting `language`). Paths
and values from the file (`parties[2]`, `'so'`, `2024-02-30`) are shown as written in both
languages; the words around them are translated. A field may itself be a `Say`: a label
or a phrase with a text for each language (`party 'so'` / `bên 'so'`).

Pure: no I/O, no settings.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.calendar import DateOutOfRange

LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class Say:
    """A phrase in both languages; `+` appends a phrase or a text that reads the same in
    both (a key, a path: `party 'so'` + `.name`)."""

    vi: str
    en: str

    def text(self, language: str) -> str:
        return self.en if language == "en" else self.vi

    def __add__(self, other: Say | str) -> Say:
        if isinstance(other, Say):
            return Say(self.vi + other.vi, self.en + other.en)
        return Say(self.vi + other, self.en + other)

    def __radd__(self, other: str) -> Say:
        return Say(other + self.vi, other + self.en)

    def __str__(self) -> str:
        return self.en


Text = str | Say  # a label or a phrase: the same in both languages, or one of each
Field = str | int | Say | None


def text_in(value: Field, language: str) -> object:
    return value.text(language) if isinstance(value, Say) else value


# kind: (Vietnamese, English). The English texts are the ones phoihop always printed
# (tests match them); both name the same fields.
MESSAGES: dict[str, tuple[str, str]] = {
    # the file as a whole (core/yamlnodes.py)
    "file_too_large": (
        "tệp quá lớn ({size} byte; tối đa {limit})",
        "file is too large ({size} bytes; at most {limit})"),
    "not_utf8": (
        "tệp không phải văn bản UTF-8 hợp lệ (hãy lưu tệp dưới dạng UTF-8)",
        "the file is not valid UTF-8 text (save it as UTF-8)"),
    "control_in_file": (
        "tệp có ký tự điều khiển (chỉ được dùng dấu tab và dấu xuống dòng)",
        "control character in the file (only tabs and line breaks are allowed)"),
    "yaml_syntax": (
        "lỗi cú pháp YAML: {detail}",
        "YAML syntax error: {detail}"),
    "yaml_error": (
        "lỗi YAML: {detail}",
        "YAML error: {detail}"),
    "too_deep": (
        "tệp lồng nhau quá sâu",
        "the file is nested too deeply"),
    "empty_file": (
        "tệp trống",
        "the file is empty"),
    "too_many_values": (
        "tệp bung ra quá nhiều giá trị (bí danh YAML hoặc lồng nhau quá sâu)",
        "the file expands to too many values (aliases or nesting too deep)"),
    "not_mapping": (
        "{what} phải là một bảng khoá: giá trị, không phải {found}",
        "{what} must be a mapping of keys to values, not {found}"),
    "key_not_plain": (
        "{what}: khoá phải là một tên đơn giản",
        "{what}: keys must be plain names"),
    "key_twice": (
        "{what}: khoá '{name}' xuất hiện hai lần (lần đầu ở dòng {first})",
        "{what}: key '{name}' appears twice (first on line {first})"),
    "not_list": (
        "{what} phải là một danh sách, không phải {found}",
        "{what} must be a list, not {found}"),
    # keys and values (core/parse.py, core/replies.py)
    "unknown_key": (
        "{what}: khoá '{name}' không hợp lệ",
        "{what}: unknown key '{name}'"),
    "unknown_key_hint": (
        "{what}: khoá '{name}' không hợp lệ (có phải '{hint}'?)",
        "{what}: unknown key '{name}' (did you mean '{hint}'?)"),
    "missing": (
        "{what}: thiếu '{name}'",
        "{what}: '{name}' is missing"),
    "not_text": (
        "{what} phải là một đoạn chữ, không phải {found}",
        "{what} must be a text, not {found}"),
    "control_in_text": (
        "{what} có ký tự điều khiển (xuống dòng hoặc tab)",
        "{what} contains a control character (line break or tab)"),
    "bad_id": (
        "{what} '{value}' không phải mã hợp lệ ({rule})",
        "{what} '{value}' is not a valid id ({rule})"),
    "out_of_range": (
        "{what}: {error}",
        "{what}: {error}"),
    "not_a_date": (
        "{what} '{value}' không phải ngày dạng YYYY-MM-DD",
        "{what} '{value}' is not a date written YYYY-MM-DD"),
    "not_one_of": (
        "{what} '{value}' phải là một trong: {allowed}",
        "{what} '{value}' must be one of: {allowed}"),
    "not_offset": (
        "{what} '{value}' không phải độ lệch ngày như -30d, +3bd hoặc 0d",
        "{what} '{value}' is not an offset like -30d, +3bd or 0d"),
    "not_party_id": (
        "{what}: '{value}' không phải mã của một bên",
        "{what}: '{value}' is not a party id"),
    # the agreement
    "bad_version": (
        "version phải là 1 (phần mềm này đọc phiên bản 1), không phải {found!r}",
        "version must be 1 (this program reads version 1), not {found!r}"),
    "start_after_end": (
        "period: ngày bắt đầu {start} sau ngày kết thúc {end}",
        "period: start {start} is after end {end}"),
    "bad_timezone": (
        "timezone '{value}' không phải tên múi giờ IANA (ví dụ Asia/Ho_Chi_Minh)",
        "timezone '{value}' is not an IANA time zone name (e.g. Asia/Ho_Chi_Minh)"),
    "convener_not_party": (
        "convener '{value}' không phải một bên tham gia",
        "convener '{value}' is not one of the parties"),
    "supervisor_unknown": (
        "supervisor '{value}' không phải một bên tham gia, cũng không phải bên theo dõi",
        "supervisor '{value}' is neither a party nor an observer"),
    "is_observer": (
        "{what}: '{value}' là bên theo dõi; ở đây chỉ được nêu các bên tham gia (bên ký)",
        "{what}: '{value}' is an observer; only parties (signatories) can be named here"),
    "not_a_party": (
        "{what}: '{value}' không phải một bên tham gia",
        "{what}: '{value}' is not one of the parties"),
    "convener_no_coordinator": (
        "convener '{value}' cần một người liên hệ có role: coordinator",
        "convener '{value}' needs a contact with role: coordinator"),
    "no_focal": (
        "bên '{value}' phải gửi báo cáo nhưng không có cán bộ đầu mối (role: focal)",
        "party '{value}' owes reports but has no focal contact (role: focal)"),
    # parties, observers, contacts
    "too_few_parties": (
        "{what}: chương trình phối hợp cần ít nhất {minimum} bên ký, mới có {found}",
        "{what}: an agreement needs at least {minimum} signatories, found {found}"),
    "id_twice": (
        "{what}: mã (id) được dùng hai lần trong tệp (lần đầu ở dòng {first})",
        "{what}: id is used twice in the file (first on line {first})"),
    "bad_email": (
        "{what}: email '{value}' không phải địa chỉ thư điện tử",
        "{what}: email '{value}' is not an e-mail address"),
    "empty_channel": (
        "{what}: kênh phải là một URL Apprise hoặc tên một kênh",
        "{what}: a channel must be an Apprise URL or a channel name"),
    "unknown_channel": (
        "{what}: kênh '{value}' không phải URL Apprise, cũng không phải tên một kênh trong "
        "cấu hình ({known})",
        "{what}: channel '{value}' is neither an Apprise URL nor a channel named in the "
        "configuration ({known})"),
    "no_address": (
        "{what}: người liên hệ cần có email hoặc ít nhất một kênh",
        "{what}: a contact needs an email or at least one channel"),
    # commitments and their report duties
    "no_commitment": (
        "commitments: chương trình phối hợp cần ít nhất 1 nội dung phối hợp",
        "commitments: an agreement needs at least 1 commitment"),
    "support_is_lead": (
        "{what}: '{value}' là bên chủ trì; không thể đồng thời là bên phối hợp",
        "{what}: '{value}' is the lead; it cannot also support"),
    "named_twice": (
        "{what}: '{value}' được nêu hai lần",
        "{what}: '{value}' is named twice"),
    "every_twice": (
        "{what}: nghĩa vụ báo cáo 'every: {every}' thứ hai trong cùng một nội dung phối hợp "
        "(mỗi tần suất chỉ được có một lần)",
        "{what}: a second report duty 'every: {every}' in the same commitment (each "
        "frequency may appear once)"),
    "month_day_not_yearly": (
        "{what}: due '{value}' (MM-DD) chỉ dùng cho 'every: year'; hãy dùng '+Nd' (số ngày "
        "sau kỳ báo cáo)",
        "{what}: due '{value}' (MM-DD) is only for 'every: year'; use '+Nd' (days after "
        "the period) instead"),
    "month_day_not_every_year": (
        "{what}: due '{value}' không phải ngày năm nào cũng có (MM-DD)",
        "{what}: due '{value}' is not a day that exists every year (MM-DD)"),
    "once_needs_date": (
        "{what}: 'every: once' cần due là một ngày (YYYY-MM-DD), không phải '{value}'",
        "{what}: 'every: once' needs a date (YYYY-MM-DD) as due, not '{value}'"),
    "due_not_a_date": (
        "{what}: due '{value}' không phải ngày hợp lệ",
        "{what}: due '{value}' is not a valid date"),
    "date_only_once": (
        "{what}: due là một ngày (YYYY-MM-DD) chỉ dùng cho 'every: once'",
        "{what}: a due date (YYYY-MM-DD) is only for 'every: once'"),
    "bad_due": (
        "{what}: due '{value}' phải có dạng 'MM-DD' (hằng năm), '+Nd' (số ngày sau kỳ báo "
        "cáo) hoặc 'YYYY-MM-DD' (một lần)",
        "{what}: due '{value}' must be 'MM-DD' (yearly), '+Nd' (days after the period) or "
        "'YYYY-MM-DD' (once)"),
    "from_support_none": (
        "{what}: 'from: support' nhưng nội dung phối hợp không có bên phối hợp nào",
        "{what}: 'from: support' but the commitment has no supporting parties"),
    "bad_from": (
        "{what}: from '{value}' phải là lead, support, all hoặc một danh sách mã các bên",
        "{what}: from '{value}' must be lead, support, all or a list of party ids"),
    "from_twice": (
        "{what}: from nêu '{value}' hai lần",
        "{what}: from names '{value}' twice"),
    "from_empty": (
        "{what}: from là danh sách trống; hãy nêu ít nhất một bên",
        "{what}: from is an empty list; name at least one party"),
    # indicators
    "indicator_twice": (
        "{what}: mã (id) được dùng hai lần trong nội dung phối hợp này",
        "{what}: id is used twice in this commitment"),
    "at_most_itself": (
        "{what}: at_most không thể nêu chính chỉ tiêu này",
        "{what}: at_most cannot name the indicator itself"),
    "at_most_unknown": (
        "{what}: at_most '{value}' không phải chỉ tiêu của nội dung phối hợp này",
        "{what}: at_most '{value}' is not an indicator of this commitment"),
    "at_most_text": (
        "{what}: at_most so sánh số liệu; chỉ tiêu dạng chữ (text) không thể tham gia",
        "{what}: at_most compares figures; text indicators cannot take part"),
    # reviews
    "bad_every_years": (
        "reviews.every_years phải là một số năm nguyên (từ 1 trở lên), không phải {found!r}",
        "reviews.every_years must be a whole number of years (1 or more), not {found!r}"),
    "bad_review_due": (
        "reviews.due '{value}' phải là ngày dạng MM-DD",
        "reviews.due '{value}' must be a day written MM-DD"),
    "rotation_empty": (
        "reviews.rotation: hãy nêu ít nhất một bên",
        "reviews.rotation: name at least one party"),
    # escalation ladders
    "unknown_ladder": (
        "escalation: cấu hình không có thang nhắc việc nào tên '{name}' (các thang đã có: "
        "{known})",
        "escalation: no ladder named '{name}' in the configuration (known: {known})"),
    "bad_send_at": (
        "{what} '{value}' phải là giờ dạng HH:MM",
        "{what} '{value}' must be a time written HH:MM"),
    "no_steps": (
        "{what}: thang nhắc việc cần ít nhất một bước",
        "{what}: a ladder needs at least one step"),
    "bad_recipient": (
        "{what}: người nhận '{value}' phải là một trong: {allowed}",
        "{what}: recipient '{value}' must be one of: {allowed}"),
    "no_recipient": (
        "{what}: to không nêu người nhận nào",
        "{what}: to names no recipient"),
    # replies files (core/replies.py)
    "obligation_not_planned": (
        "{what}: nghĩa vụ {value!r} không có trong kế hoạch",
        "{what}: obligation {value!r} is not in the plan"),
    "not_an_instant": (
        "{what}: at {value!r} không phải ngày giờ ISO (ví dụ 2022-12-01T10:00:00+07:00)",
        "{what}: at {value!r} is not an ISO date-time (e.g. 2022-12-01T10:00:00+07:00)"),
    "bad_status": (
        "{what}: status {value!r} phải là một trong: {allowed}",
        "{what}: status {value!r} must be one of: {allowed}"),
    "until_not_a_date": (
        "{what}: until {value!r} không phải ngày dạng YYYY-MM-DD",
        "{what}: until {value!r} is not a date written YYYY-MM-DD"),
    "extension_needs_until": (
        "{what}: đề nghị gia hạn cần có 'until' (ngày được gia hạn đến)",
        "{what}: an extension needs 'until' (the granted date)"),
    "bad_value": (
        "{what}: giá trị của '{name}' phải là một số hoặc một đoạn chữ",
        "{what}: value of '{name}' must be a number or a text"),
    # several files imported at once (models/store.py)
    "code_in_two_files": (
        "chương trình phối hợp {code} cũng có trong {other}; mỗi chương trình chỉ nhập từ "
        "một tệp",
        "agreement {code} is also in {other}; import one file per agreement"),
}


def fields_of(template: str) -> set[str]:
    """The names of the fields a template uses."""
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template)
            if name is not None}


def render(kind: str, fields: tuple[tuple[str, Field], ...], language: str) -> str:
    """The message of a problem of `kind` in `language` (`vi`, or `en`)."""
    vi, en = MESSAGES[kind]
    return (en if language == "en" else vi).format(
        **{name: text_in(value, language) for name, value in fields})


def number(n: int) -> Say:
    """A count as each language writes it: 3.145.728 / 3,145,728."""
    return Say(f"{n:,}".replace(",", "."), f"{n:,}")


def out_of_range(exc: DateOutOfRange) -> Say:
    """A date outside the supported range: the calendar's words in each language (the
    English one is its whole two-language message, as phoihop always printed it)."""
    return Say(exc.vi, str(exc))
