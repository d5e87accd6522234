"""Issue 19.4: the problems of an agreement or replies file in the user's language.

Every kind of problem has a Vietnamese and an English text naming the same fields; every
problem the broken-file corpus (and the other parse-problem cases) produces reads in
both, the Vietnamese one with its diacritics and different from the English one, which
stays what phoihop always printed (`message`, `str()`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core.parse import LadderConfigError, ParseOptions, ladder_from_config, load_agreement
from core.problems import LANGUAGES, MESSAGES, Say, fields_of, render
from core.replies import load_replies
from core.yamlnodes import Problem, Problems
from tests.unit.agreements import VALID
from tests.unit.test_parse_errors import CASES, sub

ROOT = Path(__file__).resolve().parents[2]
# the letters of Vietnamese that English has not (lower and upper case)
DIACRITICS = re.compile("[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]",
                        re.IGNORECASE)

# More broken files, for the kinds the corpus of test_parse_errors.py does not reach
MORE: list[str | bytes] = [
    sub("signed_on: 2024-01-02", "signed_on: 1500-01-02"),          # out of the date range
    sub('due: "12-15"', "due: 1500-12-15").replace("every: year", "every: once"),
    sub('due: "12-15"', "due: 2024-02-30").replace("every: year", "every: once"),
    sub("title: Chương trình phối hợp thử", "title: [a, b]"),       # a list for a text
    sub("supervisor: btg", "supervisor: btg\nsupersedes: -x"),
    sub("from: all", "from: [so, so]"),
    sub("from: all", "from: []"),
    sub("from: all", "from: support").replace("support: [hkh]", "support: []"),
    sub("support: [hkh]", "support: [{a: 1}]"),
    sub("contacts:", "contacts: 3", 1),
    sub(", email: gd@so.example}", ", channels: ['']}"),
    sub("kind: count, at_most", "kind: text, at_most"),
    sub("{start: 2024-01-01, end: 2025-12-31}", "{start: 2024-01-01, end: 2025-12-31, 7: x}")
    .replace("7: x", "[k]: x"),
    VALID + "reviews: {due: 13-45, rotation: []}\n",
    VALID + "escalation: {steps: [{at: 0d, action: remind, to: []}]}\n",
    VALID + "escalation: [1]\n",
    "a: !!python/name:os.system x\n",  # a tag the safe loader refuses: still a problem
]

REPLIES: list[str] = [
    "- {obligation: x, at: 2022-01-01T10:00:00+07:00, status: done}\n",
    "- {obligation: nope, at: soon, status: weird, until: 2022-02-30, values: {a: [1]}, z: 1}\n",
    "- {obligation: x, at: 1500-01-01, status: extension}\n",
    "- {obligation: x, at: 2022-01-01, status: extension, until: 1500-01-01}\n",
    "- {values: 3}\n",
    "{}\n",
]

LADDERS: list[dict[str, object]] = [
    {"stepz": []},
    {"steps": []},
    {"send_at": "8h", "steps": [{"at": "-3x", "action": "nag", "to": ["boss"]}]},
]


def _raw(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


def _problems() -> list[Problem]:
    found: list[Problem] = []
    for text in [c[1] for c in CASES] + MORE:
        agreement, problems = load_agreement(_raw(text), "a.yaml", ParseOptions())
        assert agreement is None and problems
        found += problems
    for text in REPLIES:
        found += load_replies(text.encode(), "r.yaml", "Asia/Ho_Chi_Minh", {"x"})[1]
    for spec in LADDERS:
        with pytest.raises(LadderConfigError) as refused:
            ladder_from_config("ngan", spec)
        found += refused.value.problems
    found.append(Problem.of("b.yaml", 1, 1, "code_in_two_files", code="T-2024",
                            other="a.yaml"))  # models/store.py's, when two files share a code
    return found


PROBLEMS = _problems()


def test_every_kind_has_both_languages_with_the_same_fields():
    for kind, texts in MESSAGES.items():
        assert len(texts) == len(LANGUAGES) and all(t.strip() for t in texts), kind
        vi, en = texts
        assert fields_of(vi) == fields_of(en), kind
        words = re.sub(r"\{[^}]*\}", "", vi)
        if words.strip(": "):  # not only fields (`{what}: {error}`: the words are a field's)
            assert vi != en and DIACRITICS.search(words), kind


def test_every_problem_reads_in_vietnamese_and_in_english():
    assert len(PROBLEMS) > 100
    for p in PROBLEMS:
        en, vi = p.text("en"), p.text("vi")
        assert en == p.message and str(p) == f"{p.file}:{p.line}:{p.column}: {en}"
        assert vi != en and DIACRITICS.search(vi), (vi, en)
        for lang, text in (("vi", vi), ("en", en)):
            assert p.render(lang) == f"{p.file}:{p.line}:{p.column}: {text}"
            assert "\n" not in text and not re.search(r"\{[a-z_]+\}", text), text  # all filled


def test_every_kind_is_reached_and_every_kind_used_exists():
    """The cases above reach every kind of the table but the YAML errors without a
    position and nesting deeper than the parser goes; every kind the code names exists."""
    reached = {p.kind for p in PROBLEMS}
    assert set(MESSAGES) - reached <= {"yaml_error", "too_deep"}, set(MESSAGES) - reached
    named: set[str] = set()
    for path in [*sorted((ROOT / "core").glob("*.py")), ROOT / "services" / "imports.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # problems.add(node, KIND, …), problems.at(line, column, KIND, …),
            # Problem.of(file, line, column, KIND, …): the kind is the last positional one
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("add", "at", "of") and len(node.args) >= 2 and \
                    isinstance(node.args[-1], ast.Constant) and \
                    isinstance(node.args[-1].value, str):
                named.add(node.args[-1].value)
    assert named - set(MESSAGES) == set()
    assert set(MESSAGES) - named == set()  # no words left that nothing says


def test_paths_and_values_stay_as_written_and_the_words_around_them_change():
    text = sub("role: head", "role: boss")
    _, problems = load_agreement(text.encode(), "a.yaml")
    (p,) = problems
    assert p.text("en") == ("party 'so', contact 2: role 'boss' must be one of: "
                            "focal, head, coordinator")
    assert p.text("vi") == ("bên 'so', người liên hệ 2: role 'boss' phải là một trong: "
                            "focal, head, coordinator")
    _, problems = load_agreement(sub("signed_on: 2024-01-02", "signed_on: 02/01/2024").encode(),
                                 "a.yaml")
    assert [p.text("vi") for p in problems] == [
        "signed_on '02/01/2024' không phải ngày dạng YYYY-MM-DD"]


def test_a_date_out_of_range_keeps_the_calendar_words():
    _, problems = load_agreement(sub("signed_on: 2024-01-02", "signed_on: 1500-01-02")
                                 .encode(), "a.yaml")
    (p,) = problems
    assert p.text("vi") == "signed_on: 02/01/1500 ngoài khoảng ngày hỗ trợ 01/01/1900–31/12/9899"
    assert p.text("en") == ("signed_on: 02/01/1500 ngoài khoảng ngày hỗ trợ "
                            "01/01/1900–31/12/9899 / 1500-01-02 is outside the supported "
                            "dates 01/01/1900–31/12/9899")


def test_sorting_and_dedup_follow_file_line_column_and_the_english_message():
    problems = Problems("a.yaml")
    problems.at(2, 1, "missing", what="period", name="end")
    problems.at(2, 1, "empty_file")
    problems.at(1, 5, "missing", what=Say("chương trình phối hợp", "agreement"), name="title")
    problems.at(2, 1, "missing", what="period", name="end")  # the same problem again
    ordered = problems.sorted()
    assert [str(p) for p in ordered] == [
        "a.yaml:1:5: agreement: 'title' is missing",
        "a.yaml:2:1: period: 'end' is missing",
        "a.yaml:2:1: the file is empty",
    ]
    assert ordered == sorted(ordered, key=lambda p: (p.file, p.line, p.column, p.message))


def test_render_picks_a_field_phrase_in_the_language():
    fields = (("what", Say("bên 'so'", "party 'so'")), ("name", "email"))
    assert render("missing", fields, "vi") == "bên 'so': thiếu 'email'"
    assert render("missing", fields, "en") == "party 'so': 'email' is missing"


@pytest.mark.parametrize(("lang", "ladder", "missing"), [
    ("vi", "thang nhắc việc 'ngan': khoá 'stepz' không hợp lệ (có phải 'steps'?)",
     "không có tệp cấu hình này (PHOIHOP_CONFIG)"),
    ("en", "ladder 'ngan': unknown key 'stepz' (did you mean 'steps'?)",
     "configuration file not found (PHOIHOP_CONFIG)"),
])
def test_configuration_errors_follow_the_language_too(tmp_path, monkeypatch, lang, ladder,
                                                      missing):
    """A configured ladder is checked by the agreement file's rules: its problems, and a
    configuration file that is not there, in the language of the setting."""
    from config.settings import ConfigError, load_settings

    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHOIHOP_LANGUAGE", lang)
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    (tmp_path / "phoihop.toml").write_text('[ladders.ngan]\nsend_at = "07:30"\nstepz = []\n',
                                           encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert ladder in str(refused.value)
    monkeypatch.setenv("PHOIHOP_CONFIG", str(tmp_path / "none.toml"))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == f"{tmp_path / 'none.toml'}: {missing}"
