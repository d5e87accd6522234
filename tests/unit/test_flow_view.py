"""What the Prefect UI shows: partner text never becomes a link, an image or HTML."""

from __future__ import annotations

from datetime import date

from core.text import artifact_key, fenced
from flows.view import ViewRow, summary_markdown, summary_sentence


def test_artifact_keys_fit_prefect():
    assert artifact_key("QT-KHKT-2021-2025", "summary") == "qt-khkt-2021-2025-summary"
    assert artifact_key("A.b_C", "x") == "a-b-c-x"


def test_fence_is_longer_than_any_backtick_run():
    text = "```\n[phish](http://evil.example) ![x](http://evil.example/p.png) <script>"
    block = fenced(text)
    assert block.startswith("````text\n") and block.endswith("\n````")
    assert text in block


def test_summary_keeps_partner_text_inside_code_blocks():
    evil = "Sở <img src=http://evil.example/p.png> [bấm vào](http://evil.example)"
    rows = [ViewRow("so", evil, "c/so/2024", date(2024, 12, 16), "overdue", 5, 3),
            ViewRow("hkh", "HKH", "c/hkh/2024", date(2024, 12, 16), "submitted", 0, 1)]
    md = summary_markdown("QT-1", "Tiêu đề <b>x</b>", date(2024, 12, 21), rows)
    outside = md.split("```text")[0] + md.split("```")[-1]
    assert "evil.example" not in outside and "<b>" not in outside
    assert "| `so` | 1 | 1 | 0 | 0 |" in md and "quá hạn 5 ngày, bậc 4" in md


def test_coordinator_sentences():
    assert summary_sentence(["remind", "remind", "remind", "escalate"], "QT") == \
        "Đã lập 3 lời nhắc, 1 chuyển cấp cho QT"
    assert summary_sentence([], "QT") == "Không có bước nhắc việc nào đến hạn cho QT"
    assert summary_sentence(["request", "request"], "QT", "en") == "Prepared 2 requests for QT"


def test_sweep_rows_count_what_was_sent_per_agreement():
    from flows.view import sweep_rows

    rows = sweep_rows({"B-2": ["remind"], "A-1": ["request", "remind", "request", "escalate"]})
    assert rows == [
        {"Chương trình / Agreement": "A-1", "Đề nghị / Requests": 2, "Nhắc / Reminders": 1,
         "Chuyển cấp / Escalations": 1},
        {"Chương trình / Agreement": "B-2", "Đề nghị / Requests": 0, "Nhắc / Reminders": 1,
         "Chuyển cấp / Escalations": 0}]
