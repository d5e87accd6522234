"""Table-driven: broken agreement files, each problem at FILE:LINE:COLUMN with a clear message."""

from __future__ import annotations

import time

import pytest

from core.parse import ParseOptions, load_agreement
from tests.unit.agreements import VALID


def sub(old: str, new: str, count: int = 1) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, count)


# (case id, file text or bytes, [(line, column, words the message must contain)])
CASES: list[tuple[str, str | bytes, list[tuple[int, int, str]]]] = [
    ("wrong version", sub("version: 1", "version: 2"), [(1, 1, "version must be 1")]),
    ("bad code", sub("code: T-2024", "code: -bad"), [(2, 1, "not a valid id")]),
    ("code too long", sub("code: T-2024", "code: " + "A" * 70), [(2, 1, "code")]),
    ("empty title", sub("title: Chương trình phối hợp thử", "title:"), [(3, 1, "title")]),
    ("bad signed_on", sub("signed_on: 2024-01-02", "signed_on: 02/01/2024"),
     [(4, 1, "YYYY-MM-DD")]),
    ("impossible date", sub("signed_on: 2024-01-02", "signed_on: 2024-02-30"),
     [(4, 1, "YYYY-MM-DD")]),
    ("start after end", sub("{start: 2024-01-01, end: 2025-12-31}",
                            "{start: 2026-01-01, end: 2025-12-31}"), [(5, 1, "after end")]),
    ("period missing end", sub("{start: 2024-01-01, end: 2025-12-31}", "{start: 2024-01-01}"),
     [(5, 1, "'end' is missing")]),
    ("period unknown key", sub("end: 2025-12-31}", "end: 2025-12-31, ende: 1}"),
     [(5, 46, "unknown key 'ende' (did you mean 'end'?)")]),
    ("unknown top key", sub("supervisor: btg", "supervisor: btg\nsupervisr: x"),
     [(8, 1, "unknown key 'supervisr' (did you mean 'supervisor'?)")]),
    ("convener not a party", sub("convener: hkh", "convener: nobody"),
     [(6, 1, "convener 'nobody' is not one of the parties")]),
    ("supervisor unknown", sub("supervisor: btg", "supervisor: ubnd"),
     [(7, 1, "neither a party nor an observer")]),
    ("bad timezone", sub("convener: hkh", "convener: hkh\ntimezone: Asia/Hanoi"),
     [(7, 1, "IANA")]),
    ("bad language", sub("convener: hkh", "convener: hkh\nlanguage: fr"),
     [(7, 1, "language 'fr' must be one of: vi, en")]),
    ("bad due_adjust", sub("convener: hkh", "convener: hkh\ndue_adjust: later"),
     [(7, 1, "due_adjust")]),
    ("missing commitments", VALID.split("commitments:")[0], [(1, 1, "'commitments' is missing")]),
    ("empty commitments", VALID.split("commitments:")[0] + "commitments: []\n",
     [(24, 1, "at least 1 commitment")]),
    ("one party only", sub("""  - id: so
    name: Sở Giáo dục và Đào tạo
    contacts:
      - {name: Lê Thị Hoa, role: focal, email: hoa@so.example}
      - {name: Giám đốc, role: head, email: gd@so.example}
""", "").replace("lead: so", "lead: hkh").replace("support: [hkh]", "support: []"),
     [(8, 1, "at least 2 signatories")]),
    ("duplicate party id", sub("  - id: so\n", "  - id: hkh\n"),
     [(14, 5, "id is used twice in the file (first on line 9)")]),
    ("observer id clashes", sub("  - id: btg\n", "  - id: so\n"),
     [(20, 5, "id is used twice")]),
    ("bad party id", sub("  - id: so\n", "  - id: So_GD\n"), [(14, 5, "not a valid id")]),
    ("party without name", sub("    name: Sở Giáo dục và Đào tạo\n", ""),
     [(14, 5, "'name' is missing")]),
    ("unknown party key", sub("    name: Sở Giáo dục và Đào tạo\n",
                              "    name: Sở Giáo dục và Đào tạo\n    adress: x\n"),
     [(16, 5, "unknown key 'adress'")]),
    ("bad role", sub("role: head", "role: boss"), [(18, 26, "role 'boss' must be one of")]),
    ("bad email", sub("email: gd@so.example", "email: gd-at-so"),
     [(18, 38, "not an e-mail address")]),
    ("contact without address", sub(", email: gd@so.example}", "}"),
     [(18, 9, "needs an email or at least one channel")]),
    ("unknown channel name", sub(", email: gd@so.example}", ", channels: [zalo]}"),
     [(18, 49, "channel 'zalo' is neither an Apprise URL nor a channel named")]),
    ("owing party without focal", sub(
        "      - {name: Lê Thị Hoa, role: focal, email: hoa@so.example}\n", ""),
     [(14, 5, "party 'so' owes reports but has no focal contact")]),
    ("convener without coordinator", sub(
        "      - {name: Điều phối viên, role: coordinator, email: dp@hkh.example}\n", ""),
     [(6, 1, "convener 'hkh' needs a contact with role: coordinator")]),
    ("duplicate commitment id", sub("    reports:\n", """    reports:
      - {every: year, due: "12-15", from: all}
  - id: tuyen-truyen
    title: Hai
    lead: so
    reports:
""") , [(31, 5, "id is used twice in the file (first on line 25)")]),
    ("lead unknown", sub("lead: so", "lead: soo"), [(27, 5, "'soo' is not one of the parties")]),
    ("lead is observer", sub("lead: so", "lead: btg"), [(27, 5, "'btg' is an observer")]),
    ("support names lead", sub("support: [hkh]", "support: [hkh, so]"),
     [(28, 20, "'so' is the lead")]),
    ("support twice", sub("support: [hkh]", "support: [hkh, hkh]"),
     [(28, 20, "'hkh' is named twice")]),
    ("bad frequency", sub("every: year", "every: weekly"), [(30, 10, "every 'weekly'")]),
    ("MM-DD on half-year", sub("every: year", "every: half-year"),
     [(30, 28, "only for 'every: year'")]),
    ("+Nd on once", sub('every: year, due: "12-15"', 'every: once, due: "+10d"'),
     [(30, 23, "needs a date (YYYY-MM-DD)")]),
    ("date on year", sub('due: "12-15"', "due: 2024-12-15"),
     [(30, 23, "only for 'every: once'")]),
    ("02-29", sub('due: "12-15"', 'due: "02-29"'), [(30, 23, "exists every year")]),
    ("garbled due", sub('due: "12-15"', 'due: "mid-december"'), [(30, 23, "must be 'MM-DD'")]),
    ("missing due", sub(', due: "12-15"', ""), [(30, 9, "'due' is missing")]),
    ("duplicate every", sub('      - {every: year, due: "12-15", from: all}\n',
                            '      - {every: year, due: "12-15", from: all}\n'
                            '      - {every: year, due: "06-15"}\n'),
     [(31, 10, "each frequency may appear once")]),
    ("from unknown party", sub("from: all", "from: [so, nobody]"),
     [(30, 48, "'nobody' is not one of the parties")]),
    ("from bad word", sub("from: all", "from: everyone"), [(30, 37, "must be lead, support")]),
    ("from support without support", sub("from: all", "from: support").replace(
        "    support: [hkh]\n", ""), [(29, 37, "no supporting parties")]),
    ("indicator bad kind", sub("kind: count}", "kind: integer}", 1),
     [(32, 42, "kind 'integer' must be one of")]),
    ("at_most unknown", sub("at_most: dang-ky", "at_most: dangky"),
     [(33, 47, "at_most 'dangky' is not an indicator")]),
    ("at_most itself", sub("at_most: dang-ky", "at_most: dat"), [(33, 47, "the indicator itself")]),
    ("indicator twice", sub("{id: dat,", "{id: dang-ky,"), [(33, 10, "used twice")]),
    ("reviews unknown key", VALID + "reviews: {every_years: 2, host: so}\n",
     [(34, 27, "unknown key 'host'")]),
    ("reviews bad every_years", VALID + "reviews: {every_years: two}\n",
     [(34, 11, "every_years")]),
    ("rotation unknown", VALID + "reviews: {rotation: [so, x1]}\n",
     [(34, 26, "'x1' is not one of the parties")]),
    ("final_host observer", VALID + "reviews: {final_host: btg}\n", [(34, 11, "observer")]),
    ("report_due garbled", VALID + "reviews: {report_due: 30 days}\n",
     [(34, 11, "not an offset")]),
    ("unknown ladder", VALID + "escalation: strict\n", [(34, 1, "no ladder named 'strict'")]),
    ("ladder bad step", VALID + """escalation:
  send_at: "8h"
  steps:
    - {at: -30x, action: nag, to: [boss]}
""", [(35, 3, "send_at '8h'"), (37, 8, "not an offset"), (37, 18, "action 'nag'"),
      (37, 36, "recipient 'boss'")]),
    ("ladder no steps", VALID + "escalation: {steps: []}\n", [(34, 14, "at least one step")]),
    ("duplicate yaml key", sub("title: Chương trình phối hợp thử",
                               "title: Chương trình phối hợp thử\ntitle: again"),
     [(4, 1, "key 'title' appears twice (first on line 3)")]),
    ("top-level list", "- a\n- b\n", [(1, 1, "must be a mapping")]),
    ("empty file", "", [(1, 1, "the file is empty")]),
    ("yaml syntax", sub("parties:", "parties: [", 1), [(9, 3, "YAML syntax error")]),
    ("tab indentation", sub("    name: Sở Giáo dục và Đào tạo", "\tname: Sở Giáo dục và Đào tạo"),
     [(15, 1, "YAML syntax error")]),
    ("non-utf8", VALID.replace("Ban Tuyên giáo", "Ban Tuyen giao").encode() .replace(
        b"Ban Tuyen giao", b"Ban Tuy\xeau gi\xe1o"), [(21, 18, "not valid UTF-8")]),
    ("control char", sub("Sở Giáo dục và Đào tạo", "Sở Giáo dục\x07 và Đào tạo"),
     [(15, 22, "control character")]),
    ("escaped control char in name", sub("name: Sở Giáo dục và Đào tạo",
                                         'name: "Sở Giáo dục\\u0007"'),
     [(15, 5, "control character")]),
    ("alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n"
        for i in range(6)), [(1, 1, "too many values")]),
    ("deep nesting", "a: " + "[" * 200 + "]" * 200 + "\n", [(1, 1, "")]),
    ("huge file", "title: " + "x" * (3 * 1024 * 1024) + "\n", [(1, 1, "too large")]),
]


@pytest.mark.parametrize(("text", "expected"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_broken_file_reports_where_and_why(text: str | bytes, expected):
    raw = text if isinstance(text, bytes) else text.encode()
    started = time.perf_counter()
    agreement, problems = load_agreement(raw, "a.yaml", ParseOptions())
    assert time.perf_counter() - started < 2
    assert agreement is None
    found = [(p.line, p.column, p.message) for p in problems]
    for line, column, words in expected:
        assert any(pl == line and pc == column and words in pm for pl, pc, pm in found), \
            f"expected {line}:{column} '{words}' in {found}"
    for p in problems:
        assert str(p).startswith(f"a.yaml:{p.line}:{p.column}: ")
        assert "\n" not in str(p)


def test_corpus_is_large_enough():
    assert len(CASES) >= 40


def test_every_problem_is_reported_at_once():
    text = (sub("lead: so", "lead: soo").replace("language", "x")
            .replace("version: 1", "version: 3").replace("role: head", "role: boss"))
    _, problems = load_agreement(text.encode(), "a.yaml", ParseOptions())
    lines = {p.line for p in problems}
    assert {1, 18, 27} <= lines


def test_crlf_line_endings_are_fine():
    agreement, problems = load_agreement(VALID.replace("\n", "\r\n").encode(), "a.yaml")
    assert problems == [] and agreement is not None


def test_examples_validate():
    from tests.conftest import QT, TH

    for path in (QT, TH):
        agreement, problems = load_agreement(path.read_bytes(), str(path))
        assert problems == [] and agreement is not None
