"""The reply portal over HTTP (FastAPI TestClient), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from core.calendar import local_instant
from models.links import issue, revoke
from models.tables import Contact, Link, Obligation, Party, Reply
from portal.app import create_app
from services.imports import import_agreement
from tests.conftest import QT

TZ = "Asia/Ho_Chi_Minh"
KEY = "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt/2022"


@pytest.fixture
def portal(app, clock):
    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    import_agreement(app, QT.read_bytes(), str(QT))
    clock.at = local_instant(date(2022, 12, 1), time(9, 0), TZ)
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(Obligation.key == KEY)).one()
        focal = s.exec(select(Contact).join(Party, Party.id == Contact.party_id).where(
            Party.key == "so-gddt", Contact.role == "focal")).one()
        token = issue(s, app.secret_key, purpose="reply", now=clock.at,
                      expires_at=o.deadline + timedelta(days=60), obligation_id=o.id,
                      contact_id=focal.id).token
    return TestClient(create_app(app)), token


def _form(client: TestClient, token: str) -> dict[str, str]:
    page = client.get(f"/r/{token}").text
    return {name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1)
            for name in ("csrf", "form_nonce")}


def _replies(app) -> int:
    with app.session() as s:
        return s.exec(select(func.count()).select_from(Reply)).one()


def test_get_shows_the_obligation_and_changes_nothing(app, portal):
    client, token = portal
    for _ in range(25):
        r = client.get(f"/r/{token}")
        client.head(f"/r/{token}")
    assert r.status_code == 200
    assert "Sở Giáo dục và Đào tạo tỉnh Quảng Trị" in r.text and "15/12/2022" in r.text
    assert "Số hộ đăng ký &#34;Gia đình học tập&#34;" in r.text or \
        "Số hộ đăng ký &quot;Gia đình học tập&quot;" in r.text
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    assert _replies(app) == 0
    with app.session() as s:
        assert s.exec(select(Link)).one().used_at is None


def test_valid_reply_is_recorded_once_and_stops_the_ladder(app, portal):
    client, token = portal
    form = _form(client, token) | {"status": "done", "v-gdht-dang-ky": "1200",
                                   "v-gdht-dat": "1100", "answered_by": "Lê Thị Hoa",
                                   "note": "<script>alert(1)</script> [x](http://evil.example)"}
    first = client.post(f"/r/{token}", data=form)
    again = client.post(f"/r/{token}", data=form)  # the same form submitted twice
    assert first.status_code == 200 and "Đã ghi nhận" in first.text
    assert again.status_code == 200
    assert _replies(app) == 1
    with app.session() as s:
        o = s.exec(select(Obligation).where(Obligation.key == KEY)).one()
        reply = s.exec(select(Reply)).one()
    assert o.status == "submitted" and o.next_fire is None
    assert reply.values == {"gdht-dang-ky": 1200, "gdht-dat": 1100}
    page = client.get(f"/r/{token}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


def test_invalid_values_are_shown_next_to_fields_and_kept(app, portal):
    client, token = portal
    form = _form(client, token) | {"status": "done", "v-gdht-dang-ky": "100",
                                   "v-gdht-dat": "150", "v-dvht-dang-ky": "-3"}
    r = client.post(f"/r/{token}", data=form)
    assert r.status_code == 422
    assert "Không được lớn hơn" in r.text and "số nguyên không âm" in r.text
    assert 'value="150"' in r.text
    blocked = client.post(f"/r/{token}", data=_form(client, token) | {"status": "blocked"})
    assert blocked.status_code == 422 and "lý do" in blocked.text
    assert _replies(app) == 0


def test_bad_links_get_one_identical_refusal(app, portal, clock):
    client, token = portal
    refusals = [client.get("/r/" + "A" * 43), client.get(f"/r/{token[:-2]}xx")]
    with app.session(write=True) as s:
        link = s.exec(select(Link)).one()
        revoke(s, link, clock.at)
    refusals.append(client.get(f"/r/{token}"))
    assert {r.status_code for r in refusals} == {404}
    assert len({r.text for r in refusals}) == 1
    assert client.post(f"/r/{token}", data={"status": "done"}).status_code == 404


def test_expired_link_is_refused(app, portal, clock):
    client, token = portal
    clock.at = datetime(2023, 3, 1, tzinfo=UTC)
    assert client.get(f"/r/{token}").status_code == 404


def test_csrf_and_cross_site_posts_are_refused(app, portal):
    client, token = portal
    assert client.post(f"/r/{token}", data={"status": "done"}).status_code == 403
    form = _form(client, token) | {"status": "done"}
    evil = client.post(f"/r/{token}", data=form, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert _replies(app) == 0


def test_oversized_body_and_rate_limit(app, portal):
    client, token = portal
    big = client.post(f"/r/{token}", content=b"x" * (11 * 1024 * 1024 + 1),
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413
    # the limiter's clock stands still: however slow the machine, the 130 guesses fall in
    # one window (on the wall clock a loaded machine let the limit refill: a flaky test)
    still = TestClient(create_app(app, monotonic=lambda: 1000.0))
    codes = [still.get("/r/" + f"guess{i:040d}").status_code for i in range(130)]
    assert 429 in codes and 200 not in codes


def test_english_switch(app, portal):
    client, token = portal
    r = client.get(f"/r/{token}?lang=en")
    assert "Report your progress" in r.text and "Reporting period" in r.text
    assert "Report your progress" in client.get(f"/r/{token}").text  # kept in a cookie


def test_values_beyond_the_bound_are_a_form_error_never_a_500(app, portal):
    """10^25 made the receipt fail (decimal.InvalidOperation: a 500); 6e24 was stored and
    later broke the review. Values from 10^15 up are refused next to their field; the
    largest accepted count is stored exactly (no float in between)."""
    client, token = portal
    for huge in ("10000000000000000000000000", "6e24", "1000000000000000", "9007199254740993"):
        form = _form(client, token) | {"status": "done", "v-gdht-dang-ky": huge}
        r = client.post(f"/r/{token}", data=form)
        assert r.status_code == 422, (huge, r.status_code)
        assert "Phải nhỏ hơn 1.000.000.000.000.000" in r.text
    assert _replies(app) == 0
    form = _form(client, token) | {"status": "done", "v-gdht-dang-ky": "999999999999999",
                                   "v-gdht-dat": "999999999999998"}
    ok = client.post(f"/r/{token}", data=form)
    assert ok.status_code == 200 and "Đã ghi nhận" in ok.text
    with app.session() as s:
        assert s.exec(select(Reply)).one().values == {"gdht-dang-ky": 999999999999999,
                                                      "gdht-dat": 999999999999998}
