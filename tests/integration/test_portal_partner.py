"""The partner side of the portal over HTTP, on SQLite and PostgreSQL: attachments,
e-mail receipts, prefilled indicator values, who answered, and a Prefect event per reply."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from core.calendar import local_instant
from models.links import issue
from models.tables import Contact, Obligation, OutboxMessage, Party, Reply
from notifications.send import send_pending
from portal import uploads
from portal.app import create_app
from services.imports import import_agreement
from services.replies import record_reply
from tests.conftest import QT, ROOT
from tests.smtp_sink import free_port
from tests.unit.test_uploads import PDF_BYTES, docx, image, xlsx

TZ = "Asia/Ho_Chi_Minh"
BASE = "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt"
KEY = f"{BASE}/2022"
MIB = 1024 * 1024


def _link(app, key: str, at) -> str:
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(Obligation.key == key)).one()
        focal = s.exec(select(Contact).join(Party, Party.id == Contact.party_id).where(
            Party.key == "so-gddt", Contact.role == "focal")).one()
        return issue(s, app.secret_key, purpose="reply", now=at,
                     expires_at=o.deadline + timedelta(days=60), obligation_id=o.id,
                     contact_id=focal.id).token


def _setup(app, clock) -> tuple[TestClient, str]:
    clock.at = local_instant(date(2022, 5, 18), clock_time(0, 0), TZ)
    import_agreement(app, QT.read_bytes(), str(QT))
    clock.at = local_instant(date(2022, 12, 1), clock_time(9, 0), TZ)
    return TestClient(create_app(app)), _link(app, KEY, clock.at)


@pytest.fixture
def portal(app, clock):
    return _setup(app, clock)


def _form(client: TestClient, token: str) -> dict[str, str]:
    page = client.get(f"/r/{token}").text
    return {name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1)
            for name in ("csrf", "form_nonce")}


def _count(app, table) -> int:
    with app.session() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def _files(app) -> list[Path]:
    folder = uploads.folder_of(app.settings.data_dir)
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _post(client, token, form, name, content, ctype="application/pdf"):
    return client.post(f"/r/{token}", data=form, files={"attachment": (name, content, ctype)})


def _raw_multipart(fields: dict[str, str], filename: bytes, content: bytes
                   ) -> tuple[bytes, str]:
    """A multipart body with the file name's bytes exactly as given (no client escaping)."""
    boundary = "phoihopboundary7MA4YWxk"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             .encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="attachment"; '
                 f'filename="'.encode() + filename + b'"\r\nContent-Type: application/pdf'
                 b'\r\n\r\n' + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


# -- attachments ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "make", "kind"), [
    ("Báo cáo kết quả 2022.pdf", lambda: PDF_BYTES, "application/pdf"),
    ("bang-so-lieu.xlsx", xlsx, uploads.XLSX),
    ("bao-cao.docx", docx, uploads.DOCX),
    ("anh-chup.jpg", lambda: image("JPEG"), "image/jpeg"),
])
def test_an_attachment_is_stored_under_a_random_name_and_downloaded(app, portal, name, make,
                                                                   kind):
    client, token = portal
    content = make()
    form = _form(client, token) | {"status": "done", "answered_by": "Lê Thị Hoa"}
    # the browser's Content-Type is a lie on purpose: the bytes decide
    r = _post(client, token, form, name, content, "text/html")
    assert r.status_code == 200 and "Đã ghi nhận trả lời" in r.text
    with app.session() as s:
        reply = s.exec(select(Reply)).one()
    assert reply.attachment_name == name and reply.attachment_type == kind
    (stored,) = _files(app)
    assert stored.name == reply.attachment_path and uploads.STORED.match(stored.name)
    assert stored.read_bytes() == content
    page = client.get(f"/r/{token}").text
    assert f'href="/r/{token}/files/{reply.id}"' in page and name in page
    got = client.get(f"/r/{token}/files/{reply.id}")
    assert got.status_code == 200 and got.content == content
    assert got.headers["content-type"] == kind
    assert got.headers["content-disposition"].startswith("attachment; filename=")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]


def test_a_file_is_served_only_through_a_link_of_its_obligation(app, portal, clock):
    client, token = portal
    r = _post(client, token, _form(client, token) | {"status": "done"}, "a.pdf", PDF_BYTES)
    assert r.status_code == 200
    with app.session() as s:
        reply_id = s.exec(select(Reply.id)).one()
    other = _link(app, f"{BASE}/2023", clock.at)  # same party, another obligation
    refusal = client.get("/r/" + "A" * 43).text
    for url in (f"/r/{other}/files/{reply_id}", f"/r/{token}/files/{reply_id + 1}",
                f"/r/{token}/files/abc", f"/r/{token}/files/-1",
                f"/r/{token[:-2]}xx/files/{reply_id}"):
        got = client.get(url)
        assert got.status_code == 404 and got.text == refusal, url
    assert client.get(f"/r/{token}/files/{reply_id}").status_code == 200


@pytest.mark.parametrize("filename", [b"../../etc/passwd", b"..\\..\\x.pdf",
                                      b"a\x00b.pdf", b"/etc/cron.d/x.pdf",
                                      "../../Báo cáo.pdf".encode()])
def test_path_traversal_names_are_only_text(app, portal, filename):
    client, token = portal
    body, ctype = _raw_multipart(_form(client, token) | {"status": "done"}, filename, PDF_BYTES)
    r = client.post(f"/r/{token}", content=body, headers={"content-type": ctype})
    assert r.status_code == 200, r.text
    (stored,) = _files(app)
    assert stored.parent == uploads.folder_of(app.settings.data_dir)
    with app.session() as s:
        reply = s.exec(select(Reply)).one()
    assert stored.name == reply.attachment_path
    shown = reply.attachment_name
    assert shown and "/" not in shown and "\\" not in shown and "\x00" not in shown
    assert not shown.startswith(".")
    assert not (app.settings.data_dir / "etc").exists() and not Path("/etc/cron.d/x.pdf").exists()


@pytest.mark.parametrize(("content", "name", "error"), [
    (PDF_BYTES + b"0" * (10 * MIB), "big.pdf", "Tệp lớn hơn 10 MB"),
    (b"<html><script>alert(1)</script></html>", "bao-cao.pdf", "Chỉ nhận tệp PDF"),
    (b"MZ\x90\x00" + b"\x00" * 512, "anh.png", "Chỉ nhận tệp PDF"),
])
def test_a_refused_file_comes_back_next_to_its_field_with_the_values_kept(
        app, portal, content, name, error):
    client, token = portal
    form = _form(client, token) | {"status": "done", "v-gdht-dang-ky": "1200",
                                   "note": "Kèm báo cáo", "answered_by": "Lê Thị Hoa"}
    r = _post(client, token, form, name, content)
    assert r.status_code == 422
    field = r.text.split('id="attachment"', 1)[1].split("<label", 1)[0]
    assert error in field  # the message sits with the file field
    assert 'value="1200"' in r.text and "Kèm báo cáo" in r.text and 'value="Lê Thị Hoa"' in r.text
    assert _count(app, Reply) == 0 and _count(app, OutboxMessage) == 0
    assert _files(app) == []


def test_exactly_ten_mib_is_taken(app, portal):
    client, token = portal
    content = PDF_BYTES.ljust(10 * MIB, b" ")
    r = _post(client, token, _form(client, token) | {"status": "done"}, "full.pdf", content)
    assert r.status_code == 200
    (stored,) = _files(app)
    assert stored.stat().st_size == 10 * MIB


def test_a_good_file_with_other_errors_is_not_kept_and_asked_again(app, portal):
    client, token = portal
    form = _form(client, token) | {"status": "blocked", "reason": ""}
    r = _post(client, token, form, "bao-cao.pdf", PDF_BYTES)
    assert r.status_code == 422 and "lý do" in r.text
    assert "Tệp “bao-cao.pdf” chưa được lưu" in r.text
    assert _files(app) == [] and _count(app, Reply) == 0


def test_an_unwritable_attachments_folder_gives_a_clear_page_and_writes_nothing(app, portal):
    client, token = portal
    blocker = uploads.folder_of(app.settings.data_dir)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the folder should be")  # root ignores chmod; this doesn't
    form = _form(client, token) | {"status": "done", "answered_by": "Lê Thị Hoa"}
    r = _post(client, token, form, "bao-cao.pdf", PDF_BYTES)
    assert r.status_code == 503
    assert "không lưu được tệp đính kèm" in r.text and "Traceback" not in r.text
    assert _count(app, Reply) == 0 and _count(app, OutboxMessage) == 0
    assert blocker.read_text() == "a file where the folder should be"
    assert list(blocker.parent.glob("*.part")) == []
    # without a file the same form still works
    r = client.post(f"/r/{token}", data=_form(client, token) | {"status": "done"})
    assert r.status_code == 200 and _count(app, Reply) == 1


def test_a_refused_reply_removes_its_staged_file(app, portal):
    client, token = portal
    form = _form(client, token) | {"status": "done"}
    with app.session(write=True) as s:  # the coordinator closed it meanwhile
        o = s.exec(select(Obligation).where(Obligation.key == KEY)).one()
        o.status = "accepted"
        s.add(o)
    r = _post(client, token, form, "late.pdf", PDF_BYTES)
    assert r.status_code == 404
    assert _files(app) == [] and _count(app, Reply) == 0


def test_a_replayed_form_with_a_file_keeps_one_reply_one_file_one_receipt(app, portal):
    client, token = portal
    form = _form(client, token) | {"status": "done"}
    assert _post(client, token, form, "a.pdf", PDF_BYTES).status_code == 200
    assert _post(client, token, form, "a.pdf", PDF_BYTES).status_code == 200
    assert _count(app, Reply) == 1 and len(_files(app)) == 1
    with app.session() as s:
        assert len(s.exec(select(OutboxMessage).where(OutboxMessage.kind == "receipt")).all()) \
            == 1


def test_the_history_escapes_the_file_name(app, portal):
    client, token = portal
    form = _form(client, token) | {"status": "done"}
    body, ctype = _raw_multipart(form, b"<img src=x onerror=alert(1)>.pdf", PDF_BYTES)
    assert client.post(f"/r/{token}", content=body, headers={"content-type": ctype}
                       ).status_code == 200
    page = client.get(f"/r/{token}").text
    assert "<img src=x" not in page
    assert " download>&lt;img src=x onerror=alert(1)&gt;.pdf</a>" in page


def test_bodies_over_the_limit_are_refused_even_when_chunked(app, portal):
    client, token = portal
    form = _form(client, token) | {"status": "done"}
    body, ctype = _raw_multipart(form, b"big.pdf", PDF_BYTES + b"0" * (11 * MIB))

    def chunks():  # no Content-Length: the middleware's header check cannot see the size
        for i in range(0, len(body), MIB):
            yield body[i:i + MIB]

    r = client.post(f"/r/{token}", content=chunks(), headers={"content-type": ctype})
    assert r.status_code == 413
    assert _count(app, Reply) == 0 and _files(app) == []


def test_two_files_or_a_broken_body_get_a_clear_page(app, portal):
    client, token = portal
    form = _form(client, token) | {"status": "done"}
    two = client.post(f"/r/{token}", data=form, files=[("attachment", ("a.pdf", PDF_BYTES)),
                                                        ("attachment", ("b.pdf", PDF_BYTES))])
    broken = client.post(f"/r/{token}", content=b"--x\r\ngarbage",
                         headers={"content-type": "multipart/form-data"})  # no boundary
    for r in (two, broken):
        assert r.status_code == 400 and "Biểu mẫu gửi lên không đọc được" in r.text
    assert _count(app, Reply) == 0 and _files(app) == []


# -- receipts ---------------------------------------------------------------------------


def test_each_recorded_reply_sends_one_receipt_to_the_links_contact(mailer, smtp, clock):
    client, token = _setup(mailer, clock)
    form = _form(client, token) | {
        "status": "in_progress", "percent": "40", "v-gdht-dang-ky": "1200", "v-gdht-dat": "900",
        "note": "<script>alert(1)</script>\nđã gửi bản giấy", "answered_by": "Nguyễn Văn <b>An</b>"}
    assert _post(client, token, form, "Báo cáo <quý 4>.pdf", PDF_BYTES).status_code == 200
    assert _post(client, token, form, "Báo cáo <quý 4>.pdf", PDF_BYTES).status_code == 200
    with mailer.session() as s:
        reply = s.exec(select(Reply)).one()
        (row,) = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "receipt")).all()
    assert row.key == f"receipt#{reply.id}" and row.recipient == "hoa.lt@sogddt.quangtri.example"
    report = send_pending(mailer, clock.at, worker="w1")
    assert report.dead == 0 and report.retried == 0
    again = send_pending(mailer, clock.at + timedelta(minutes=5), worker="w2")
    (msg,) = [m for m in smtp.sink.messages
              if m["Subject"].startswith("[QT-KHKT-2021-2025] Đã ghi")]
    assert again.sent == 0
    assert msg["To"].addresses[0].addr_spec == "hoa.lt@sogddt.quangtri.example"
    assert "Đẩy mạnh phong trào học tập suốt đời" in msg["Subject"] and "lần 1" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = msg.get_body(("html",)).get_content()
    assert "lúc 01/12/2022 09:00" in text and "Sở Giáo dục và Đào tạo tỉnh Quảng Trị" in text
    assert "Tình hình: Đang thực hiện, 40%" in text
    assert 'Số hộ đăng ký "Gia đình học tập": 1.200' in text
    assert "Ghi chú: <script>alert(1)</script>\n    đã gửi bản giấy" in text
    assert "Tệp đính kèm: Báo cáo <quý 4>.pdf" in text
    assert "Người trả lời: Nguyễn Văn <b>An</b>" in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Nguyễn Văn &lt;b&gt;An&lt;/b&gt;" in html and "Báo cáo &lt;quý 4&gt;.pdf" in html
    # a second, real reply gets its own receipt
    second = _form(client, token) | {"status": "done", "answered_by": "Lê Thị Hoa"}
    assert client.post(f"/r/{token}", data=second).status_code == 200
    send_pending(mailer, clock.at + timedelta(minutes=10), worker="w1")
    receipts = [m for m in smtp.sink.messages if "Đã ghi nhận trả lời" in m["Subject"]]
    assert len(receipts) == 2 and "lần 2" in receipts[1]["Subject"]
    assert "Người trả lời: Lê Thị Hoa" in receipts[1].get_body(("plain",)).get_content()


def test_a_receipt_in_english_for_an_english_agreement(mailer, smtp, clock):
    client, token = _setup(mailer, clock)
    with mailer.session(write=True) as s:
        from models.tables import Agreement

        a = s.exec(select(Agreement)).one()
        a.language = "en"
        s.add(a)
    form = _form(client, token) | {"status": "blocked", "reason": "Chưa có số liệu"}
    assert client.post(f"/r/{token}", data=form).status_code == 200
    send_pending(mailer, clock.at, worker="w1")
    (msg,) = [m for m in smtp.sink.messages if "Reply recorded" in m["Subject"]]
    text = msg.get_body(("plain",)).get_content()
    assert "Status: Blocked" in text and "Reason / proposal: Chưa có số liệu" in text
    assert "Answered by: (no name given)" in text and "at 01/12/2022 09:00" in text


# -- prefill and who answers ------------------------------------------------------------


def test_values_are_prefilled_from_the_previous_report_and_get_changes_nothing(app, portal,
                                                                             clock):
    client, token = portal
    page = client.get(f"/r/{token}").text
    assert 'id="prefilled"' not in page and 'id="v-gdht-dang-ky" name="v-gdht-dang-ky" value=""' \
        in page  # nothing earlier to offer
    form = _form(client, token) | {"status": "done", "v-gdht-dang-ky": "1200",
                                   "v-gdht-dat": "1100", "v-dvht-dang-ky": "35"}
    assert client.post(f"/r/{token}", data=form).status_code == 200
    clock.at = local_instant(date(2023, 11, 20), clock_time(8, 0), TZ)
    next_year = _link(app, f"{BASE}/2023", clock.at)
    before = (_count(app, Reply), _count(app, OutboxMessage))
    page = client.get(f"/r/{next_year}").text
    assert (_count(app, Reply), _count(app, OutboxMessage)) == before
    assert "được điền sẵn từ báo cáo kỳ năm 2022 (ghi nhận ngày 01/12/2022)" in page
    assert 'name="v-gdht-dang-ky" value="1200"' in page
    assert 'name="v-dvht-dang-ky" value="35"' in page
    assert 'name="v-dvht-dat" value=""' in page
    en = client.get(f"/r/{next_year}?lang=en").text
    assert "prefilled from the report for 2022 (recorded on 01/12/2022)" in en
    client.cookies.clear()
    # the partner changes a prefilled value: what is sent is what is recorded
    form = _form(client, next_year) | {"status": "done", "v-gdht-dang-ky": "1350",
                                       "v-gdht-dat": "1200", "v-dvht-dang-ky": "35"}
    assert client.post(f"/r/{next_year}", data=form).status_code == 200
    with app.session() as s:
        latest = s.exec(select(Reply).join(Obligation).where(
            Obligation.key == f"{BASE}/2023")).one()
    assert latest.values == {"gdht-dang-ky": 1350, "gdht-dat": 1200, "dvht-dang-ky": 35}


def test_prefill_prefers_this_obligations_own_latest_values_and_never_overrides_typing(
        app, portal, clock):
    client, _ = portal
    with app.session(write=True) as s:  # an earlier year, recorded from a file
        record_reply(s, app, obligation_key=KEY, status="done", at=clock.at,
                     values={"gdht-dang-ky": 500}, source="test")
    clock.at = local_instant(date(2023, 6, 1), clock_time(10, 30), TZ)
    link = _link(app, f"{BASE}/2023", clock.at)
    form = _form(client, link) | {"status": "in_progress", "percent": "50",
                                  "v-gdht-dang-ky": "640"}
    assert client.post(f"/r/{link}", data=form).status_code == 200
    page = client.get(f"/r/{link}").text
    assert 'name="v-gdht-dang-ky" value="640"' in page
    assert "báo cáo kỳ năm 2023 (ghi nhận ngày 01/06/2023)" in page
    # a form sent back with errors shows what was typed (here: nothing), not the prefill
    bad = _form(client, link) | {"status": "blocked", "v-gdht-dang-ky": ""}
    r = client.post(f"/r/{link}", data=bad)
    assert r.status_code == 422 and 'name="v-gdht-dang-ky" value=""' in r.text
    assert 'id="prefilled"' not in r.text


def test_the_form_asks_who_answers_and_the_history_shows_it(app, portal):
    client, token = portal
    page = client.get(f"/r/{token}").text
    assert '<label for="answered_by">Người trả lời (họ tên)</label>' in page
    form = _form(client, token) | {"status": "in_progress", "percent": "30",
                                   "answered_by": "  Phạm Thu Trang  "}
    assert client.post(f"/r/{token}", data=form).status_code == 200
    with app.session() as s:
        assert s.exec(select(Reply)).one().answered_by == "Phạm Thu Trang"
    assert "— Phạm Thu Trang" in client.get(f"/r/{token}").text


# -- Prefect events ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_reply_records_with_no_prefect_server(app, portal, tmp_path):
    """A process pointed at a Prefect server that does not answer still records replies."""
    _, token = portal
    dead = f"http://127.0.0.1:{free_port()}/api"
    script = tmp_path / "reply.py"
    script.write_text(f"""
import json, re, sys, time
from datetime import datetime
from fastapi.testclient import TestClient
from config.bootstrap import bootstrap
from config.settings import Settings
from portal.app import create_app
at = datetime.fromisoformat({app.now().isoformat()!r})
app = bootstrap(Settings(database_url={app.settings.db_url!r},
                         data_dir={str(app.settings.data_dir)!r}), clock=lambda: at)
client = TestClient(create_app(app))
page = client.get("/r/{token}").text
form = {{n: re.search(f'name="{{n}}" value="([^"]+)"', page).group(1)
        for n in ("csrf", "form_nonce")}}
started = time.perf_counter()
r = client.post("/r/{token}", data=form | {{"status": "done"}},
                files={{"attachment": ("a.pdf", b"%PDF-1.4 x")}})
print(json.dumps({{"status": r.status_code, "seconds": time.perf_counter() - started}}))
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PHOIHOP_"))}
    env |= {"PREFECT_API_URL": dead, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_HOME": str(tmp_path / "prefect"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 200
    assert _count(app, Reply) == 1 and len(_files(app)) == 1
    # the event was handed to Prefect's worker, which could not deliver it
    assert "Unable to connect to 'ws://127.0.0.1" in done.stderr
    print(f"reply POST with an unreachable Prefect server: {result['seconds'] * 1000:.0f} ms")


@pytest.fixture
def harness(prefect_harness):
    """The session's Prefect test server: Prefect's events worker is one per process and
    keeps the server it started with, so a second harness would never see the events."""
    return prefect_harness


def _events(resource_id: str, since: datetime, want: int, seconds: float = 30) -> list:
    """The reply events of one obligation that occurred since `since` (the harness is
    shared by the SQLite and PostgreSQL runs, which record the same obligation)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while True:
            flt = EventFilter(event=EventNameFilter(name=["phoihop.reply.recorded"]),
                              resource=EventResourceFilter(id=[resource_id]),
                              occurred=EventOccurredFilter(since=since))  # until: now
            found = client.read_events(filter=flt, limit=50).events
            if len(found) >= want or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


@pytest.mark.slow
def test_each_recorded_reply_is_a_prefect_event_after_the_commit(harness, app, portal):
    client, token = portal
    started = datetime.now(UTC) - timedelta(seconds=1)
    first = _form(client, token) | {"status": "in_progress", "percent": "20"}
    assert client.post(f"/r/{token}", data=first).status_code == 200
    assert client.post(f"/r/{token}", data=first).status_code == 200  # a replay: no event
    second = _form(client, token) | {"status": "done"}
    assert client.post(f"/r/{token}", data=second).status_code == 200
    resource_id = f"phoihop.obligation.{KEY}"
    events = _events(resource_id, started, want=2)
    time.sleep(1.5)  # let anything late (a replay's event would be) arrive too
    events = _events(resource_id, started, want=3, seconds=0)
    assert sorted((e.payload["version"], e.payload["status"]) for e in events) == \
        [(1, "in_progress"), (2, "done")]
    event = next(e for e in events if e.payload["version"] == 2)
    assert event.resource.id == resource_id and event.resource["prefect.resource.name"] == KEY
    with app.session() as s:
        reply_id = s.exec(select(Reply.id).where(Reply.version == 2)).one()
    assert event.resource["phoihop.reply.id"] == str(reply_id)
    roles = {r.role: r.id for r in event.related}
    assert roles == {"agreement": "phoihop.agreement.QT-KHKT-2021-2025",
                     "party": "phoihop.party.QT-KHKT-2021-2025.so-gddt"}
