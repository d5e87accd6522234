"""Indicator values: parsed exactly, bounded, and shown in any language without failing.

The spec's kinds are `count` (a whole number ≥ 0), `number`, `percent` (0–100) and
`text`. Numbers are bounded so that every stored value is exact where it matters:
`MAX_VALUE` is 10^15, below 2^53 (≈ 9.007 × 10^15), the largest range in which every whole
number is exact as a JSON number/IEEE double (SQLite's and PostgreSQL's JSON, JavaScript).
A value is parsed as a decimal (never through a float first), so a count of
999 999 999 999 999 is stored as that integer; a fractional `number` or `percent` keeps
at most `MAX_DECIMALS` decimals (it is stored as a double, exact to 15 significant
digits). Values beyond the bound are refused with a one-line error.

Two readers:
- `parse_value` reads a value from a file (YAML numbers; a string with "," read as the
  decimal mark): the CLI's replies files. Its errors read "Vietnamese / English".
- `read_typed` reads what a person typed in a page of language `vi` or `en`, as that
  language writes numbers (babel's symbols: vi "1.520,5", en "1,520.5"; a space also
  groups thousands). When the text has two readings (the page's convention and the
  other one) that both suit the indicator's kind and differ, it raises `ValueAmbiguous`
  with both, never guesses (docs/portal.md, "Numbers as typed", has the table).
Every refusal carries its text in each language (`ValueRefused.text`).
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol

MAX_VALUE = 10 ** 15  # a value's magnitude must be below this (docs/spec-choices.md)
MAX_DECIMALS = 6
MAX_TEXT = 2000  # characters of a `text` indicator
WIDE = decimal.Context(prec=80, Emax=10 ** 6, Emin=-(10 ** 6))
LANGUAGES = ("vi", "en")

# language -> text; the English one starts lower-case (it follows " / " in the joined form)
MESSAGES: dict[str, dict[str, str]] = {
    "number": {"vi": "Phải là một số", "en": "must be a number"},
    "bound": {"vi": "Phải nhỏ hơn 1.000.000.000.000.000 (10^15)",
              "en": "must be less than 1,000,000,000,000,000 (10^15)"},
    "count": {"vi": "Phải là số nguyên không âm", "en": "must be a whole number ≥ 0"},
    "percent": {"vi": "Phải từ 0 đến 100", "en": "must be between 0 and 100"},
    "decimals": {"vi": f"Tối đa {MAX_DECIMALS} chữ số thập phân",
                 "en": f"at most {MAX_DECIMALS} decimals"},
    "text": {"vi": f"Tối đa {MAX_TEXT} ký tự", "en": f"at most {MAX_TEXT} characters"},
    "written": {"vi": "Không đọc được “{raw}” là một số; viết như 1.520 hoặc 63,4",
                "en": "cannot read “{raw}” as a number; write it as 1,520 or 63.4"},
    "ambiguous": {"vi": "Chưa rõ “{raw}” là {a} hay {b}: chọn một cách đọc dưới đây, "
                        "hoặc gõ lại",
                  "en": "“{raw}” could be {a} or {b}: choose one below, or type it again"},
    "ambiguous_one": {"vi": "Chưa rõ “{raw}”: đọc là {b} thì không hợp lệ ({why}); nếu là "
                            "{a}, chọn dưới đây hoặc gõ lại",
                      "en": "“{raw}” is unclear: read as {b} it is refused ({why}); if you "
                            "mean {a}, choose it below or type it again"},
    "group_reading": {"vi": "“{mark}” ngăn cách hàng nghìn",
                      "en": "“{mark}” separates thousands"},
    "decimal_reading": {"vi": "“{mark}” là dấu thập phân", "en": "“{mark}” is the decimal mark"},
}


def texts(key: str, **params: str) -> dict[str, str]:
    """Message `key` in each language, `params` filled in."""
    return {lang: MESSAGES[key][lang].format(**params) for lang in LANGUAGES}


def joined(t: dict[str, str]) -> str:
    """The one line callers without a language show: "Vietnamese / English"."""
    return f"{t['vi']} / {t['en']}"


def in_language(t: dict[str, str], language: str | None) -> str:
    """`t` in `language` (a sentence: capitalised), or joined when none is asked."""
    if language not in LANGUAGES:
        return joined(t)
    line = t[language]
    return line[:1].upper() + line[1:]


class ValueRefused(ValueError):
    """The value cannot be stored. `str()` is one line, "Vietnamese / English";
    `text(language)` is the page's one."""

    def __init__(self, message: dict[str, str]) -> None:
        super().__init__(joined(message))
        self.texts = message

    def text(self, language: str | None) -> str:
        return in_language(self.texts, language)


class ValueAmbiguous(ValueRefused):
    """Typed text with two readings that both suit the kind: asked back, never guessed.
    `readings`: (the value as `pick` takes it back, a label in each language), the page's
    own convention first."""

    def __init__(self, message: dict[str, str],
                 readings: list[tuple[str, dict[str, str]]]) -> None:
        super().__init__(message)
        self.readings = readings


def _typed(kind: str, number: Decimal) -> int | float:
    """A finite decimal checked against `kind` and the bounds."""
    with decimal.localcontext(WIDE):
        if not number.is_finite():
            raise ValueRefused(texts("number"))
        if abs(number) >= MAX_VALUE:
            raise ValueRefused(texts("bound"))
        whole = number == number.to_integral_value()
    if kind == "count":
        if number < 0 or not whole:
            raise ValueRefused(texts("count"))
        return int(number)
    if kind == "percent" and not 0 <= number <= 100:
        raise ValueRefused(texts("percent"))
    if whole:
        return int(number)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        raise ValueRefused(texts("decimals"))
    return float(number)


def _text(raw: object) -> str:
    text = str(raw).strip()
    if len(text) > MAX_TEXT:
        raise ValueRefused(texts("text"))
    return text


def parse_value(kind: str, raw: object) -> int | float | str:
    """A typed, bounded value of an indicator of `kind` (`ValueRefused` otherwise)."""
    if kind == "text":
        return _text(raw)
    if isinstance(raw, bool):
        raise ValueRefused(texts("number"))
    try:
        with decimal.localcontext(WIDE):
            if isinstance(raw, str):
                text = raw.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
                if len(text) > 64:
                    raise ValueRefused(texts("number"))
                number = Decimal(text)
            elif isinstance(raw, int | float):
                number = Decimal(raw) if isinstance(raw, int) else Decimal(repr(raw))
            else:
                raise ValueRefused(texts("number"))
            return _typed(kind, number)
    except decimal.InvalidOperation:
        raise ValueRefused(texts("number")) from None


SPACES = re.compile(r"[\s\u00a0\u2007\u2009\u202f]+")
SCIENTIFIC = re.compile(r"[+-]?\d+(\.\d+)?[eE][+-]?\d+")
DIGITS = re.compile(r"\d+")


def _reading(body: str, group: str, mark: str) -> tuple[Decimal, bool] | None:
    """`body` (no sign) read with `group` (and a space) grouping thousands and `mark` as
    the decimal mark: (value, whether a decimal mark was written), or None when it does not
    read so. Groups: the first 1–3 digits not starting with 0, then exactly 3 each."""
    whole, _, fraction = body.partition(mark)
    if mark in fraction or (_ and not DIGITS.fullmatch(fraction)):
        return None
    groups = re.split(rf"[ {re.escape(group)}]", whole) if whole else [""]
    if len(groups) > 1:
        first, rest = groups[0], groups[1:]
        if not (DIGITS.fullmatch(first) and len(first) <= 3 and first[0] != "0"
                and all(DIGITS.fullmatch(g) and len(g) == 3 for g in rest)):
            return None
    elif not (DIGITS.fullmatch(whole) or (whole == "" and _)):
        return None
    digits = "".join(groups) or "0"
    with decimal.localcontext(WIDE):
        return Decimal(f"{digits}.{fraction}" if _ else digits), bool(_)


def plain(number: Decimal | int | float, language: str) -> str:
    """A number as typed back unambiguously: no grouping, the language's decimal mark."""
    with decimal.localcontext(WIDE):
        return format_decimal(number, format="#0." + "#" * MAX_DECIMALS, locale=language)


def typed_back(v: int | float, language: str) -> str:
    """A stored value as a partner would type it in a page of `language`, read back as
    the same value (a prefilled field): no grouping, the language's decimal mark, and a
    trailing 0 where three decimals after a short whole part could be read as thousands
    (1.523 is "1,5230" in Vietnamese, not "1,523")."""
    text = plain(v, language)
    try:
        read_typed("number", text, language)
    except ValueAmbiguous:
        return text + "0"
    except ValueRefused:
        return text
    return text


def read_typed(kind: str, raw: str, language: str, pick: str | None = None
               ) -> int | float | str:
    """What a person typed in a page of `language` (vi, en), as a value of `kind`.

    The page's convention and the other one are both tried (a phone's keypad may offer
    only "."); a reading that suits the kind wins when it is the only one; two that differ
    raise `ValueAmbiguous`, unless `pick` names one of them (the answer to that question:
    `str()` of its decimal). A `count` is never read with a decimal mark when a reading
    with grouping exists. Scientific notation (6e24) is read as `parse_value` does.
    """
    if kind == "text":
        return _text(raw)
    text = SPACES.sub(" ", raw.replace("\u2212", "-")).strip()
    if kind == "percent" and text.endswith("%"):
        text = text[:-1].rstrip()
    if len(text) > 64:
        raise ValueRefused(texts("number"))
    if SCIENTIFIC.fullmatch(text):
        return parse_value(kind, text)
    sign, body = (text[0], text[1:].lstrip()) if text[:1] in "+-" else ("", text)
    own, other = _symbols(language)
    found: list[tuple[Decimal, bool, tuple[str, str]]] = []
    for group, mark in (own, other):
        read = _reading(body, group, mark)
        if read is not None and read[0] not in [f[0] for f in found]:
            found.append((read[0], read[1], (group, mark)))
    if not found:
        raise ValueRefused(texts("written", raw=raw.strip()[:64]))
    if kind == "count" and any(not f[1] for f in found):
        found = [f for f in found if not f[1]]
    suited: list[tuple[Decimal, int | float, tuple[str, str]]] = []
    refusal: ValueRefused | None = None
    for number, _, convention in found:
        signed = -number if sign == "-" else number
        try:
            suited.append((signed, _typed(kind, signed), convention))
        except ValueRefused as exc:
            refusal = refusal or exc
    if not suited:
        assert refusal is not None
        raise refusal
    if len(found) == 1:
        return suited[0][1]
    for number, value, _ in suited:
        if pick is not None and pick == str(number):
            return value
    separator = next((ch for ch in body if ch in ".,"), ".")
    readings = [(str(n), _label(n, c, separator)) for n, _, c in suited]
    if len(suited) == 1:  # the other reading does not suit the kind: offered, not taken
        assert refusal is not None
        kept = suited[0][0]
        wrong = next(-n if sign == "-" else n for n, _, _ in found
                     if (-n if sign == "-" else n) != kept)
        why = {lang: line[:1].lower() + line[1:] for lang, line in refusal.texts.items()}
        message = {lang: MESSAGES["ambiguous_one"][lang].format(
            raw=raw.strip(), a=plain(kept, lang), b=plain(wrong, lang), why=why[lang])
            for lang in LANGUAGES}
        raise ValueAmbiguous(message, readings)
    (a, _, _), (b, _, _) = suited[:2]
    message = {lang: MESSAGES["ambiguous"][lang].format(
        raw=raw.strip(), a=plain(a, lang), b=plain(b, lang)) for lang in LANGUAGES}
    raise ValueAmbiguous(message, readings)


def _label(number: Decimal, convention: tuple[str, str], separator: str
           ) -> dict[str, str]:
    """How a reading reads, in each language: "1500 (“.” separates thousands)"."""
    key = "decimal_reading" if separator == convention[1] else "group_reading"
    return {lang: f"{plain(number, lang)} ({MESSAGES[key][lang].format(mark=separator)})"
            for lang in LANGUAGES}


@lru_cache(maxsize=4)
def _symbols(language: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """(group, decimal mark) of `language`, then of the other convention."""
    own = (get_group_symbol(locale=language), get_decimal_symbol(locale=language))
    if own not in ((".", ","), (",", ".")):
        own = (",", ".")
    return own, (own[1], own[0])


@lru_cache(maxsize=4096)
def show_number(v: int | float, language: str) -> str:
    """`v` as the language writes it (1.234,5 in Vietnamese). Never fails: babel formats
    through `decimal` at 28 digits, which raised InvalidOperation from 10^25 up; values
    stored before the bound (or summed) are shown with a wide context instead."""
    try:
        with decimal.localcontext(WIDE):
            return format_decimal(v, locale=language)
    except (decimal.InvalidOperation, ValueError, OverflowError):
        return str(v)
