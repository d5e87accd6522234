"""Indicator values: parsed exactly, bounded, and shown in any language without failing.

The spec's kinds are `count` (a whole number ≥ 0), `number`, `percent` (0–100) and
`text`. Numbers are bounded so that every stored value is exact where it matters:
`MAX_VALUE` is 10^15, below 2^53 (≈ 9.007 × 10^15), the largest range in which every whole
number is exact as a JSON number/IEEE double (SQLite's and PostgreSQL's JSON, JavaScript).
A value is parsed as a decimal (never through a float first), so a count of
999 999 999 999 999 is stored as that integer; a fractional `number` or `percent` keeps
at most `MAX_DECIMALS` decimals (it is stored as a double, exact to 15 significant
digits). Values beyond the bound are refused with a one-line error, in Vietnamese first.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_decimal

MAX_VALUE = 10 ** 15  # a value's magnitude must be below this (docs/spec-choices.md)
MAX_DECIMALS = 6
MAX_TEXT = 2000  # characters of a `text` indicator
WIDE = decimal.Context(prec=80, Emax=10 ** 6, Emin=-(10 ** 6))


class ValueRefused(ValueError):
    """The value cannot be stored; the message is one line, Vietnamese / English."""


def parse_value(kind: str, raw: object) -> int | float | str:
    """A typed, bounded value of an indicator of `kind` (`ValueRefused` otherwise)."""
    if kind == "text":
        text = str(raw).strip()
        if len(text) > MAX_TEXT:
            raise ValueRefused(f"Tối đa {MAX_TEXT} ký tự / at most {MAX_TEXT} characters")
        return text
    if isinstance(raw, bool):
        raise ValueRefused("Phải là một số / must be a number")
    try:
        with decimal.localcontext(WIDE):
            if isinstance(raw, str):
                text = raw.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
                if len(text) > 64:
                    raise ValueRefused("Phải là một số / must be a number")
                number = Decimal(text)
            elif isinstance(raw, int | float):
                number = Decimal(raw) if isinstance(raw, int) else Decimal(repr(raw))
            else:
                raise ValueRefused("Phải là một số / must be a number")
            if not number.is_finite():
                raise ValueRefused("Phải là một số / must be a number")
            if abs(number) >= MAX_VALUE:
                raise ValueRefused(
                    "Phải nhỏ hơn 1.000.000.000.000.000 (10^15) / "
                    "must be less than 1,000,000,000,000,000 (10^15)")
            whole = number == number.to_integral_value()
    except decimal.InvalidOperation:
        raise ValueRefused("Phải là một số / must be a number") from None
    if kind == "count":
        if number < 0 or not whole:
            raise ValueRefused("Phải là số nguyên không âm / must be a whole number ≥ 0")
        return int(number)
    if kind == "percent" and not 0 <= number <= 100:
        raise ValueRefused("Phải từ 0 đến 100 / must be between 0 and 100")
    if whole:
        return int(number)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        raise ValueRefused(f"Tối đa {MAX_DECIMALS} chữ số thập phân / "
                           f"at most {MAX_DECIMALS} decimals")
    return float(number)


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
