"""Numbers as a partner types them (core.numbers.read_typed), in a Vietnamese or an
English page: the value read, the question asked back (both readings), or the refusal,
each message in the page's one language. docs/portal.md "Numbers as typed" is this table.
"""

from __future__ import annotations

import pytest

from core.numbers import ValueAmbiguous, ValueRefused, parse_value, read_typed, typed_back
from core.reply_rules import check_values, field_errors, read_day, read_percent

ASK = "asked back"
# (kind, typed) -> (Vietnamese page, English page): a value, ASK, or the refusal's start
TABLE = [
    ("count", "1.520", 1520, 1520),
    ("count", "1,520", 1520, 1520),  # a count has no decimals: "," groups too
    ("count", "1 520", 1520, 1520),
    ("count", "1\u00a0520", 1520, 1520),
    ("count", "1.000", 1000, 1000),  # was stored as 1
    ("count", "1,000", 1000, 1000),  # was stored as 1
    ("count", "1.234.567", 1234567, 1234567),
    ("count", "1,234,567", 1234567, 1234567),
    ("count", "007", 7, 7),
    ("count", "12,5", "Phải là số nguyên không âm", "Must be a whole number ≥ 0"),
    ("count", "12.5", "Phải là số nguyên không âm", "Must be a whole number ≥ 0"),
    ("count", "-3", "Phải là số nguyên không âm", "Must be a whole number ≥ 0"),
    ("count", "1.52", "Phải là số nguyên không âm", "Must be a whole number ≥ 0"),
    ("count", "1.5200", "Phải là số nguyên không âm", "Must be a whole number ≥ 0"),
    ("count", "1.2.3", "Không đọc được “1.2.3”", "Cannot read “1.2.3”"),
    ("count", "abc", "Không đọc được “abc”", "Cannot read “abc”"),
    ("count", "6e24", "Phải nhỏ hơn 1.000.000.000.000.000", "Must be less than 1,000,000"),
    ("count", "1.000.000.000.000.000", "Phải nhỏ hơn", "Must be less than"),
    ("count", "999.999.999.999.999", 999999999999999, 999999999999999),
    ("number", "63,4", 63.4, 63.4),
    ("number", "63.4", 63.4, 63.4),  # one or two decimals: the mark can only be decimal
    ("number", "1.520", ASK, ASK),  # 1520 or 1.52
    ("number", "1,520", ASK, ASK),
    ("number", "1.500", ASK, ASK),  # 1500 or 1.5
    ("number", "1.000", ASK, ASK),  # 1000 or 1
    ("number", "-1.250", ASK, ASK),
    ("number", "1 234.567", ASK, ASK),  # 1234567 or 1234.567
    ("number", "1.234,5", 1234.5, 1234.5),  # both marks: only one reading
    ("number", "1,234.5", 1234.5, 1234.5),
    ("number", "1.234.567", 1234567, 1234567),
    ("number", "1.234.567,89", 1234567.89, 1234567.89),
    ("number", "1234,567", 1234.567, 1234.567),  # "1234" is no group: a decimal mark
    ("number", "1234.567", 1234.567, 1234.567),
    ("number", "0,500", 0.5, 0.5),  # a group never starts with 0
    ("number", "1 520", 1520, 1520),
    ("number", "1520", 1520, 1520),
    ("number", "−7,5", -7.5, -7.5),  # U+2212 minus
    ("number", "1,5,5", "Không đọc được", "Cannot read"),
    ("number", "1,2345678", "Tối đa 6 chữ số thập phân", "At most 6 decimals"),
    ("percent", "63,4", 63.4, 63.4),
    ("percent", "63.4", 63.4, 63.4),
    ("percent", "63,4 %", 63.4, 63.4),
    ("percent", "100", 100, 100),
    ("percent", "1.500", ASK, ASK),  # 1500 is no percentage: 1.5 offered, not taken
    ("percent", "1,000", ASK, ASK),
    ("percent", "101", "Phải từ 0 đến 100", "Must be between 0 and 100"),
    ("percent", "1 520", "Phải từ 0 đến 100", "Must be between 0 and 100"),
]


@pytest.mark.parametrize(("kind", "typed", "vi", "en"), TABLE,
                         ids=[f"{k}-{t}" for k, t, _, _ in TABLE])
def test_typed_numbers(kind: str, typed: str, vi: object, en: object) -> None:
    for language, want in (("vi", vi), ("en", en)):
        if want == ASK:
            with pytest.raises(ValueAmbiguous):
                read_typed(kind, typed, language)
        elif isinstance(want, str):
            with pytest.raises(ValueRefused) as refused:
                read_typed(kind, typed, language)
            assert not isinstance(refused.value, ValueAmbiguous)
            assert refused.value.text(language).startswith(want), (language,
                                                                   refused.value.texts)
        else:
            got = read_typed(kind, typed, language)
            assert got == want and type(got) is type(want), (language, got)


def test_the_question_names_both_readings_in_the_page_language() -> None:
    with pytest.raises(ValueAmbiguous) as vi:
        read_typed("number", "1.500", "vi")
    assert vi.value.text("vi") == ("Chưa rõ “1.500” là 1500 hay 1,5: chọn một cách đọc "
                                   "dưới đây, hoặc gõ lại")
    assert [(v, labels["vi"]) for v, labels in vi.value.readings] == [
        ("1500", "1500 (“.” ngăn cách hàng nghìn)"), ("1.500", "1,5 (“.” là dấu thập phân)")]
    with pytest.raises(ValueAmbiguous) as en:
        read_typed("number", "1,500", "en")
    assert en.value.text("en") == ("“1,500” could be 1500 or 1.5: choose one below, or "
                                   "type it again")
    with pytest.raises(ValueAmbiguous) as percent:
        read_typed("percent", "1.500", "vi")
    assert [v for v, _ in percent.value.readings] == ["1.500"]  # only the one that suits
    assert "đọc là 1500 thì không hợp lệ (phải từ 0 đến 100)" in percent.value.text("vi")


def test_a_pick_answers_the_question_and_nothing_else() -> None:
    assert read_typed("number", "1.500", "vi", pick="1500") == 1500
    assert read_typed("number", "1.500", "vi", pick="1.500") == 1.5
    assert read_typed("percent", "1.500", "vi", pick="1.500") == 1.5
    with pytest.raises(ValueAmbiguous):  # a pick of another text's question: asked again
        read_typed("number", "2.500", "vi", pick="1500")
    assert read_typed("number", "1,5", "vi", pick="1500") == 1.5  # unambiguous: read


def test_files_keep_their_reading() -> None:
    """The CLI's replies files (YAML numbers) are read as before, messages "vi / en"."""
    assert parse_value("count", 1520) == 1520 and parse_value("number", 1.5) == 1.5
    assert parse_value("number", "1,5") == 1.5
    with pytest.raises(ValueRefused) as refused:
        parse_value("count", -3)
    assert str(refused.value) == "Phải là số nguyên không âm / must be a whole number ≥ 0"
    indicators = [{"id": "a", "label": "A", "kind": "count"},
                  {"id": "b", "label": "B", "kind": "count", "at_most": "a"}]
    _, errors = check_values(indicators, {"a": 10, "b": 20})
    assert errors == {"b": "Không được lớn hơn “A” (10) / may not exceed a"}


def test_checks_answer_in_one_language() -> None:
    indicators = [{"id": "a", "label": "A", "kind": "count"},
                  {"id": "b", "label": "B", "kind": "count", "at_most": "a"},
                  {"id": "x", "label": "X", "kind": "number"}]
    asks: dict[str, list[tuple[str, str]]] = {}
    clean, errors = check_values(indicators, {"a": "1.000", "b": "1.520", "x": "2,500"},
                                 "vi", asks=asks)
    assert clean == {"a": 1000, "b": 1520}
    assert errors == {"b": "Không được lớn hơn “A” (1.000)",
                      "x": "Chưa rõ “2,500” là 2,5 hay 2500: chọn một cách đọc dưới đây, "
                           "hoặc gõ lại"}
    assert asks == {"x": [("2.500", "2,5 (“,” là dấu thập phân)"),
                          ("2500", "2500 (“,” ngăn cách hàng nghìn)")]}
    _, errors = check_values(indicators, {"a": "1,000", "b": "1,520"}, "en")
    assert errors == {"b": "May not exceed “A” (1,000)"}
    assert field_errors("blocked", None, None, None, read_day("15/12/2022"), "en") == {
        "reason": "Say what blocks it"}
    assert field_errors("bogus", None, None, None, read_day("15/12/2022")) == {
        "status": "Trạng thái không hợp lệ / unknown status"}


@pytest.mark.parametrize(("typed", "day"), [
    ("29/12/2022", (2022, 12, 29)), ("9/1/2023", (2023, 1, 9)),
    ("29-12-2022", (2022, 12, 29)), ("29.12.2022", (2022, 12, 29)),
    ("2022-12-29", (2022, 12, 29)), (" 29/12/2022 ", (2022, 12, 29))])
def test_dates_typed_day_first(typed: str, day: tuple[int, int, int]) -> None:
    assert read_day(typed, "vi").timetuple()[:3] == day


@pytest.mark.parametrize("typed", ["12/31/2022", "31/13/2022", "30/02/2023", "2022/12/29",
                                   "29/12/22", "mai", ""])
def test_bad_dates_are_refused_in_the_page_language(typed: str) -> None:
    with pytest.raises(ValueError) as vi:
        read_day(typed, "vi")
    assert str(vi.value) == ("Ngày không hợp lệ; viết theo dạng ngày/tháng/năm, ví dụ "
                             "31/12/2022")
    with pytest.raises(ValueError) as en:
        read_day(typed, "en")
    assert str(en.value) == "Not a date; write it as dd/mm/yyyy, e.g. 31/12/2022"


def test_completion_percentages() -> None:
    assert read_percent("63", "vi") == 63 and read_percent("63 %", "en") == 63
    with pytest.raises(ValueError, match=r"^Phải là số nguyên từ 0 đến 100$"):
        read_percent("63,4", "vi")
    with pytest.raises(ValueError, match=r"^Must be between 0 and 100$"):
        read_percent("120", "en")


@pytest.mark.parametrize("value", [1520, 1.5, 1.523, 63.4, 1234.567, 0.125, -1.25, 12.345678,
                                   999999999999999, 0.5])
def test_a_prefilled_value_reads_back_as_itself(value: float) -> None:
    for language in ("vi", "en"):
        assert read_typed("number", typed_back(value, language), language) == value
    assert typed_back(1.523, "vi") == "1,5230" and typed_back(1234.5, "vi") == "1234,5"
    assert typed_back(1.523, "en") == "1.5230" and typed_back(63.4, "en") == "63.4"
