"""Issue 19 (the command line tells the truth) and issue 14.8 (terminal output inert):
each point through the real entry point on a scratch data dir, or on SQLite and
PostgreSQL through the store."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from models.store import RegistrationRefused
from models.tables import Obligation
from services.imports import import_agreement
from tests.conftest import QT, TH
from tests.integration.test_store import BASE
from tests.smtp_sink import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(data: Path, *args: str, lang: str = "vi", columns: str | None = None,
         **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PHOIHOP_", "PREFECT_")) or k.startswith("PHOIHOP_TEST_")}
    env.pop("COLUMNS", None)
    env.update({"PHOIHOP_DATA_DIR": str(data), "PHOIHOP_LANGUAGE": lang,
                "PREFECT_HOME": str(data / "prefect-home"), **extra})
    if columns:
        env["COLUMNS"] = columns
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=90, cwd=ROOT)


# --- 19.1: an amendment never revives an unrecorded obligation -----------------------

WITHOUT_B = BASE[:BASE.index("  - id: b\n    title: Việc B")]


def test_a_restored_unrecorded_obligation_stays_unrecorded(app, clock):
    clock.at = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)  # 2024's items had passed
    import_agreement(app, BASE.encode(), "am.yaml")
    with app.session() as s:
        before = {o.key: (o.status, o.next_fire) for o in s.exec(select(Obligation))}
    unrecorded = {k for k, (st, _nf) in before.items() if st == "unrecorded"}
    assert "AM-1/b/hkh/2024-H1" in unrecorded and before["AM-1/b/hkh/2025-H1"][0] == "open"
    clock.at = datetime(2025, 3, 2, 1, 0, tzinfo=UTC)
    assert import_agreement(app, WITHOUT_B.encode(), "am.yaml").withdrawn > 0
    clock.at = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
    import_agreement(app, BASE.encode(), "am.yaml")  # the original again: b restored
    with app.session() as s:
        after = {o.key: (o.status, o.next_fire) for o in s.exec(select(Obligation))}
    for key in unrecorded:
        assert after[key] == ("unrecorded", None), key
    assert after["AM-1/b/hkh/2025-H1"][0] == "open" and after["AM-1/b/hkh/2025-H1"][1]


# --- 19.8: importing with the real registration date ----------------------------------

def test_import_with_the_real_registration_date(app, clock):
    clock.at = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
    registered = datetime(2024, 1, 2, 1, 0, tzinfo=UTC)
    with pytest.raises(RegistrationRefused):
        import_agreement(app, BASE.encode(), "am.yaml", registered_at=clock.at.replace(
            year=2026))
    result = import_agreement(app, BASE.encode(), "am.yaml", registered_at=registered)
    assert result.unrecorded == 0 and result.added > 0
    with app.session() as s:
        rows = {o.key: (o.status, o.next_fire) for o in s.exec(select(Obligation))}
    status, next_fire = rows["AM-1/b/hkh/2024-H1"]  # due in 2024: open, chased now
    assert status == "open" and next_fire is not None and next_fire < clock.at
    with pytest.raises(RegistrationRefused):  # only on a first import
        import_agreement(app, WITHOUT_B.encode(), "am.yaml", registered_at=registered)


def test_a_new_user_imports_an_agreement_two_years_old_and_sees_what_is_overdue(tmp_path):
    data = tmp_path / "data"
    imported = _run(data, "import", str(TH), "--registered-at", "2024-01-02")
    assert imported.returncode == 0, imported.stderr
    assert "quá hạn trước khi đăng ký 0" in imported.stdout
    overdue = _run(data, "obligations", "--status", "overdue", "--at",
                   "2026-06-01T08:00:00+07:00", "--json")
    rows = json.loads(overdue.stdout)["obligations"]
    assert len(rows) > 10 and {r["status"] for r in rows} == {"overdue"}
    again = _run(data, "import", str(TH), "--registered-at", "2024-01-02")
    assert again.returncode == 1 and "Không lưu gì." in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


# --- 19.2, 19.3, 19.9: validate, exit codes, usage -------------------------------------

def test_validate_checks_every_file_past_a_missing_one(tmp_path):
    out = _run(tmp_path, "validate", str(QT), str(tmp_path / "missing.yaml"), str(TH))
    assert out.returncode == 1
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3, out.stdout
    assert lines[1] == f"{tmp_path / 'missing.yaml'}: không có tệp này"
    assert lines[2].startswith(f"{TH}: hợp lệ")


def test_usage_shows_argument_names():
    """The usage lines `--help` and a usage error print (the command objects of the real
    app; a subprocess adds nothing here but seconds)."""
    import typer.main

    from cli.main import app

    group = typer.main.get_group(app)
    for verb, name in (("validate", "FILE..."), ("import", "FILE..."), ("plan", "FILE"),
                       ("simulate", "FILE"), ("dossier", "FILE"), ("up", "[FILES]...")):
        command = group.commands[verb]
        with command.context_class(command, info_name=verb) as ctx:
            usage = command.get_usage(ctx)
            text = command.get_help(ctx)
        assert usage.splitlines()[0].endswith(f"[OPTIONS] {name}"), usage
        assert "{" not in text


def test_portal_on_a_busy_port_exits_1_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = _run(tmp_path, "portal", "--port", str(port), lang="en")
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip() == (
        f"Cannot listen on 127.0.0.1:{port} (Address already in use); is the port in use? "
        "Choose another with --port or the setting portal_port.")


def test_portal_workers_print_no_alembic_lines(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOIHOP_")}
    env.update(PHOIHOP_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "portal", "--workers", "2",
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError as exc:
                if getattr(exc, "code", None):  # the app answered (even 404): up
                    break
                assert proc.poll() is None and time.monotonic() < deadline, "portal not up"
                time.sleep(0.3)
        time.sleep(1.5)  # both workers started
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert "alembic" not in err and "alembic" not in out, err
    assert "Context impl" not in err


def test_sync_without_a_reachable_prefect_api_says_so_in_one_line(tmp_path):
    """19.3 / 14.5: no temporary Prefect server, no traceback: one line, exit 1."""
    for extra, words in (({}, "PREFECT_API_URL is not set"),
                         ({"PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"},
                          "Cannot reach the Prefect server at http://127.0.0.1:")):
        out = _run(tmp_path, "sync", lang="en", **extra)
        assert out.returncode == 1, out.stderr
        assert words in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr and "temporary" not in out.stderr.lower()
    vi = _run(tmp_path, "sync")
    assert vi.returncode == 1 and "chưa đặt PREFECT_API_URL" in vi.stderr


# --- 19.6, 19.7: listings complete, statuses as the filters name them ------------------

@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("listing") / "data"
    out = _run(data, "import", str(QT), str(TH))
    assert out.returncode == 0, out.stderr
    return data


AT = "2027-06-01T08:00:00+07:00"


def test_obligations_json_carries_every_row_it_counts(stored):
    full = json.loads(_run(stored, "obligations", "--json").stdout)
    assert full["total"] == 229 and len(full["obligations"]) == 229
    assert "limit" not in full
    some = json.loads(_run(stored, "obligations", "--json", "--limit", "10").stdout)
    assert (some["total"], len(some["obligations"]), some["limit"], some["truncated"]) == \
        (229, 10, 10, True)


def test_the_table_says_what_it_leaves_out(stored):
    table = _run(stored, "obligations", lang="en")
    assert "Obligations (200/229)" in table.stdout
    assert ("Showing 200 of 229 rows (by deadline); 29 more: add --all to see them all, "
            "or --limit N.") in table.stdout
    everything = _run(stored, "obligations", "--all", lang="en")
    assert "Obligations (229/229)" in everything.stdout and "more:" not in everything.stdout


def test_tables_are_full_width_off_a_terminal(stored):
    """Piped (no terminal, no COLUMNS): no cell cut with "…"; at 80 columns cells fold
    onto more lines, never cut either."""
    out = _run(stored, "obligations", "--all")
    assert "…" not in out.stdout and "QT-KHKT-2021-2025" in out.stdout
    assert re.search(r"\b15/07/2022\b", out.stdout)
    narrow = _run(stored, "obligations", "--all", columns="80")
    assert "…" not in narrow.stdout
    agreements = _run(stored, "agreements")
    assert "…" not in agreements.stdout and "TH-KHKT-2024-2030" in agreements.stdout


@pytest.mark.parametrize("status", ["overdue", "upcoming", "unrecorded", "open"])
def test_rows_carry_the_status_they_were_filtered_by(stored, status):
    rows = json.loads(_run(stored, "obligations", "--status", status, "--at", AT,
                           "--json").stdout)["obligations"]
    assert rows
    shown = {r["status"] for r in rows}
    assert shown <= ({"overdue", "upcoming"} if status == "open" else {status}), shown


# --- 14.8: user text is printed, never interpreted -------------------------------------

HOSTILE = "[link=http://evil.example/phish]bấm vào[/link] [bold]Đậm[/bold]"


def test_markup_in_user_text_is_printed_literally(tmp_path):
    source = TH.read_text(encoding="utf-8")
    title = re.search(r"^title: (.*)$", source, re.M)
    assert title is not None
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(source.replace(title[0], f'title: "{HOSTILE}"', 1), encoding="utf-8")
    data = tmp_path / "data"
    assert _run(data, "import", str(hostile)).returncode == 0
    for args in (("plan", str(hostile)), ("agreements",)):
        out = _run(data, *args, FORCE_COLOR="1", TTY_COMPATIBLE="1")
        assert out.returncode == 0, out.stderr
        plain = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)
        assert "\x1b]8;" not in out.stdout, args  # no OSC-8 hyperlink
        assert HOSTILE in plain, (args, plain)  # full width off a terminal: one line


# --- 19.4, 19.9: the dossier in the language of the setting, dated --at ---------------

def test_review_files_follow_the_language_and_the_date_line_is_at(tmp_path):
    data = tmp_path / "data"
    assert _run(data, "import", str(QT)).returncode == 0
    at = "2022-12-20T08:00:00+07:00"
    en = _run(data, "review", "QT-KHKT-2021-2025", "--cycle", "1", "--at", at, "--out",
              str(tmp_path / "en"), lang="en")
    assert en.returncode == 0, en.stderr
    names = sorted(p.name for p in (tmp_path / "en").iterdir() if p.suffix != ".png")
    assert names == ["QT-KHKT-2021-2025_cycle-1_final.docx",
                     "QT-KHKT-2021-2025_cycle-1_final.html"], names
    assert "figures as of 20/12/2022 08:00" in en.stdout
    vi = _run(data, "review", "QT-KHKT-2021-2025", "--cycle", "1", "--at", at, "--out",
              str(tmp_path / "vi"))
    html = next((tmp_path / "vi").glob("*.html")).read_text(encoding="utf-8")
    assert vi.returncode == 0 and "ngày 20 tháng 12 năm 2022" in html


def test_the_demo_tables_say_what_they_leave_out_and_how_to_see_it(tmp_path):
    """19.6: each demo table that shows fewer rows than it counts prints the command that
    lists them all, and that command lists exactly that many."""
    out = _run(tmp_path, "demo", "--no-server", "--today", "2024-12-13", lang="en")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    overdue = next(line for line in lines if line.startswith("Overdue ("))
    shown, total = map(int, re.findall(r"\((\d+)/(\d+)\)", overdue)[0])
    assert shown < total
    hint = next(line for line in lines if line.startswith(f"{total - shown} more rows; "))
    words = hint.split(": ", 1)[1].split()
    env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("--"))
    args = [w for w in words if w not in [f"{k}={v}" for k, v in env.items()]][1:]
    assert args[:3] == ["obligations", "--status", "overdue"] and "--all" in args
    listed = _run(Path(env["PHOIHOP_DATA_DIR"]), *args, "--json", lang="en")
    assert json.loads(listed.stdout)["total"] == total == len(
        json.loads(listed.stdout)["obligations"])
    steps = next(line for line in lines if line.startswith("What the ladder sends next ("))
    shown, total = map(int, re.findall(r"\((\d+)/(\d+)", steps)[0])
    assert shown < total and any(line.startswith(f"{total - shown} more, of the open")
                                 for line in lines)
