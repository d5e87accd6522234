"""Channel secrets sealed at rest (models.sealed): what is sealed, what passes through, a
changed key, and an agreement file whose inline URLs are sealed where they are written."""

from __future__ import annotations

import pytest

from core.agreement import Agreement
from core.expand import expand
from core.parse import ParseOptions, load_agreement
from models.sealed import PREFIX, SealBroken, seal, seal_source, unseal
from tests.unit.agreements import VALID

KEY = b"k" * 64
PASSWORD = "S3cretPassw0rd"
URL = f"mailto://hoa:{PASSWORD}@mail.example"
HOA = "{name: Lê Thị Hoa, role: focal, email: hoa@so.example}"


def with_channels(channels: str, comment: str = "") -> str:
    text = VALID.replace(HOA, HOA[:-1] + f", channels: [{channels}]}}{comment}")
    assert text != VALID
    return text


def plans_match(a: Agreement, b: Agreement) -> bool:
    """The same obligations and reviews (the agreement itself differs by its channels)."""
    x, y = expand(a, ParseOptions().calendar), expand(b, ParseOptions().calendar)
    return (x.obligations, x.reviews) == (y.obligations, y.reviews) and len(x.obligations) > 0


def parsed(text: str) -> Agreement:
    agreement, problems = load_agreement(text.encode(), "a.yaml", ParseOptions(
        channels=frozenset({"alerts"})))
    assert agreement is not None, problems
    return agreement


def test_an_inline_url_seals_the_same_every_time_and_opens_with_its_key():
    sealed = seal(KEY, URL)
    assert sealed.startswith(PREFIX) and PASSWORD not in sealed and "://" in sealed
    assert seal(KEY, URL) == sealed  # deterministic: equal channels stay equal
    assert seal(KEY, sealed) == sealed  # never sealed twice
    assert unseal(KEY, sealed) == URL
    assert seal(b"another key", URL) != sealed


@pytest.mark.parametrize("value", ["alerts", "hoa@so.example", ""])
def test_names_and_addresses_pass_through(value: str):
    assert seal(KEY, value) == value and unseal(KEY, value) == value


@pytest.mark.parametrize("stored", [
    seal(b"the key it was sealed with", URL),  # the secret key changed
    seal(KEY, URL)[:-4] + "AAAA",  # altered
    PREFIX + "%%%",  # not base64
])
def test_what_the_key_cannot_open_is_one_line_naming_the_key(stored: str):
    with pytest.raises(SealBroken) as raised:
        unseal(KEY, stored)
    message = str(raised.value)
    assert "\n" not in message and raised.value.__cause__ is None
    assert message.startswith("kênh gửi tin đã niêm phong không mở được bằng khóa bí mật")
    assert "secret key" in message and "changed since" in message


def test_a_file_seals_its_inline_urls_where_written_and_parses_the_same():
    text = with_channels(f"'{URL}', alerts", comment=f"  # trước đây: {URL}")
    before = parsed(text)
    stored = seal_source(KEY, text, [URL])
    assert PASSWORD not in stored and stored.count(seal(KEY, URL)) == 2  # the comment too
    assert stored.replace(seal(KEY, URL), URL) == text  # nothing else changed
    after = parsed(stored)  # no key needed to read it
    hoa = next(c for p in after.parties for c in p.contacts if c.name == "Lê Thị Hoa")
    assert hoa.channels == (seal(KEY, URL), "alerts")
    assert plans_match(after, before)
    assert seal_source(KEY, stored, [URL]) == stored
    assert seal_source(KEY, VALID, []) == VALID


def test_a_url_written_with_escapes_is_sealed_in_the_parsed_document():
    """Not written as it reads (a YAML escape): found in the parsed values instead, and the
    file written back out without it."""
    escaped = URL.replace("P", "\\x50")
    text = with_channels(f'"{escaped}"')
    assert PASSWORD not in text
    before = parsed(text)
    url = next(c for p in before.parties for c in p.contacts if c.name == "Lê Thị Hoa"
               ).channels[0]
    assert url == URL
    stored = seal_source(KEY, text, [url])
    assert "S3cret" not in stored and seal(KEY, URL) in stored
    after = parsed(stored)
    assert plans_match(after, before)
    assert after.title == before.title and after.parties[1].name == before.parties[1].name
