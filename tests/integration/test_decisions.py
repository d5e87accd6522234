"""Coordinator decisions end to end: partner replies through the portal, messages through
a real SMTP server, decision links confirmed and acted on, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from core.calendar import local_instant
from models.links import hash_token, issue, revoke
from models.tables import Contact, Link, Obligation, OutboxMessage, Party, Reply
from notifications.send import send_pending
from portal.app import create_app
from services.imports import import_agreement
from services.ladder import fire_steps
from services.replies import record_reply
from tests.conftest import QT

TZ = "Asia/Ho_Chi_Minh"
CODE = "QT-KHKT-2021-2025"
KEY = f"{CODE}/hoc-tap-suot-doi/so-gddt/2022"  # due 15/12/2022
KEY2 = f"{CODE}/hoc-tap-suot-doi/tinh-doan/2022"
HOA = "hoa.lt@sogddt.quangtri.example"  # so-gddt's focal contact
NGOC = "ngoc.ht@tinhdoan.quangtri.example"  # tinh-doan's focal contact
DUC = "duc.tm@hkh.quangtri.example"  # the convener's coordinator
PORTAL = "http://127.0.0.1:8600"


def at(day: date, hh: int = 9, mm: int = 0):
    return local_instant(day, time(hh, mm), TZ)


def _registered(app, clock) -> None:
    clock.at = at(date(2022, 5, 18), 0)
    import_agreement(app, QT.read_bytes(), str(QT))


def _reply_link(app, clock, key: str, party: str) -> str:
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(Obligation.key == key)).one()
        focal = s.exec(select(Contact).join(Party, Party.id == Contact.party_id).where(
            Party.key == party, Contact.role == "focal")).one()
        return issue(s, app.secret_key, purpose="reply", now=clock.at,
                     expires_at=o.deadline + timedelta(days=60), obligation_id=o.id,
                     contact_id=focal.id).token


def _form(client: TestClient, path: str) -> dict[str, str]:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return {name: re.search(rf'name="{name}" value="([^"]+)"', page.text).group(1)
            for name in ("csrf", "form_nonce")}


def _reply(client: TestClient, token: str, **fields: str):
    r = client.post(f"/r/{token}", data=_form(client, f"/r/{token}") | fields)
    assert r.status_code == 200, r.text
    return r


def _mail(app, smtp, now) -> list:
    """Send what is due; the messages received, as (recipient, message)."""
    before = len(smtp.sink.messages)
    send_pending(app, now, worker="t")
    return [(m["To"].addresses[0].addr_spec, m) for m in smtp.sink.messages[before:]]


def _to(received, address: str, kind_words: str) -> list:
    return [m for a, m in received if a == address and kind_words in str(m["Subject"])]


def _kinds(app, address: str) -> list[str]:
    """The kinds of message recorded for an address, oldest first."""
    with app.session() as s:
        return list(s.exec(select(OutboxMessage.kind).where(OutboxMessage.recipient == address)
                           .order_by(col(OutboxMessage.id))))


def _text(m) -> str:
    return m.get_body(("plain",)).get_content().replace("\r\n", "\n")


def _html(m) -> str:
    return m.get_body(("html",)).get_content()


def _links(text: str, label: str) -> list[str]:
    return re.findall(rf"{label}: {re.escape(PORTAL)}(/d/[A-Za-z0-9_-]+)", text)


def _state(app, key: str = KEY) -> tuple:
    with app.session() as s:
        o = s.exec(select(Obligation).where(Obligation.key == key)).one()
        replies = s.exec(select(Reply.version, Reply.decision, Reply.decision_comment)
                         .where(Reply.obligation_id == o.id).order_by(Reply.version)).all()
        used = s.exec(select(func.count()).select_from(Link).where(
            col(Link.used_at).is_not(None))).one()
        outbox = s.exec(select(func.count()).select_from(OutboxMessage)).one()
    return o.status, o.due, o.next_fire, tuple(replies), used, outbox


def test_submission_returned_then_the_ladder_resumes(mailer, smtp, clock):
    _registered(mailer, clock)
    client = TestClient(create_app(mailer))
    # the request step fires on 15/11/2022: the partner's link comes by e-mail
    request_at = at(date(2022, 11, 15), 8)
    fired = [i for i in fire_steps(mailer, request_at) if i.obligation_key == KEY]
    assert [(i.step, i.action) for i in fired] == [(0, "request")]
    [request] = [m for a, m in _mail(mailer, smtp, request_at) if a == HOA
                 and "Đẩy mạnh phong trào học tập suốt đời" in _text(m)]
    item = re.search(r"«Đẩy mạnh phong trào học tập suốt đời[^»]*» kỳ năm 2022.*?"
                     rf"{re.escape(PORTAL)}/r/([A-Za-z0-9_-]+)", _text(request), re.S)
    token = item.group(1)

    clock.at = at(date(2022, 12, 1))
    _reply(client, token, status="done", **{"v-gdht-dang-ky": "1200", "v-gdht-dat": "1100"},
           answered_by="Lê Thị Hoa", note="<b>Đã gửi</b> bản giấy & bản điện tử")
    received = _mail(mailer, smtp, at(date(2022, 12, 1), 9, 1))
    [review] = _to(received, DUC, "chờ xem xét")
    assert str(review["Subject"]) == (
        "[QT-KHKT-2021-2025] Báo cáo đã nộp chờ xem xét: Đẩy mạnh phong trào học tập suốt đời "
        "trong gia đình, dòng họ, cộng đồng, đơn vị (năm 2022) — Sở Giáo dục và Đào tạo tỉnh "
        "Quảng Trị")
    text, html = _text(review), _html(review)
    assert "Kính gửi Trần Minh Đức" in text and "01/12/2022 09:00" in text
    assert 'Số hộ đăng ký "Gia đình học tập": 1.200' in text
    assert "<b>Đã gửi</b>" in text  # plain text is not HTML
    assert "&lt;b&gt;Đã gửi&lt;/b&gt; bản giấy &amp; bản điện tử" in html
    assert "<b>Đã gửi</b>" not in html
    [accept], [back] = _links(text, "Chấp nhận"), _links(text, "Trả lại để bổ sung")
    assert accept != back
    with mailer.session() as s:
        stored = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "submission")).one()
        link = s.exec(select(Link).where(Link.token_hash == hash_token(back[3:]))).one()
    assert back[3:] not in str(stored.context)  # tokens are never stored
    assert (link.purpose, link.contact_id) == ("return", stored.contact_id)

    # GET shows what was sent and changes nothing (scanners open links)
    before = _state(mailer)
    page = client.get(back)
    for _ in range(3):
        client.get(back)
        client.head(back)
    assert page.status_code == 200
    for shown in ("Trả lại báo cáo để bổ sung", "Sở Giáo dục và Đào tạo tỉnh Quảng Trị",
                  "01/12/2022 09:00", "Lê Thị Hoa", "1.200", "1.100", "năm 2022",
                  "&lt;b&gt;Đã gửi&lt;/b&gt; bản giấy &amp; bản điện tử"):
        assert shown in page.text, shown
    assert "<b>Đã gửi</b>" not in page.text
    assert "Return a report for revision" in client.get(f"{back}?lang=en").text
    client.cookies.clear()
    accept_form = _form(client, accept)  # kept for acting twice below
    assert _state(mailer) == before and before[0] == "submitted" and before[2] is None

    # refused: no form token, a foreign Origin, no comment
    assert client.post(back, data={"comment": "x"}).status_code == 403
    form = _form(client, back)
    assert client.post(back, data=form | {"comment": "x"},
                       headers={"Origin": "https://evil.example"}).status_code == 403
    empty = client.post(back, data=form | {"comment": "   "})
    assert empty.status_code == 422 and "Cần ghi ý kiến" in empty.text
    assert _state(mailer) == before

    clock.at = at(date(2022, 12, 2), 10)
    comment = "Thiếu số liệu <i>quý 4</i>, đề nghị bổ sung"
    used_form = _form(client, back)
    done = client.post(back, data=used_form | {"comment": comment})
    assert done.status_code == 200 and "Đã ghi nhận quyết định" in done.text
    status, due, next_fire, replies, used, _ = _state(mailer)
    assert (status, due, replies, used) == ("open", date(2022, 12, 15),
                                            ((1, "returned", comment),), 1)
    assert next_fire == at(date(2022, 12, 8), 8)  # the -7d reminder, not used yet

    # acting twice, through this link or its sibling: 409, nothing changes
    after = _state(mailer)
    again = client.post(back, data=used_form | {"comment": "lần hai"})
    assert again.status_code == 409 and "Việc này đã được quyết định" in again.text
    foreign = client.post(back, data=_form(client, f"/r/{token}") | {"comment": "lần hai"})
    assert foreign.status_code == 403  # a form token is bound to its link
    twice = client.post(accept, data=accept_form | {"comment": ""})
    assert twice.status_code == 409 and "đã được quyết định" in twice.text
    assert "trả lại để bổ sung lúc 02/12/2022 10:00" in twice.text
    assert client.get(back).status_code == 409 and client.get(accept).status_code == 409
    assert _state(mailer) == after

    # the partner is told, with the comment and the link to revise
    received = _mail(mailer, smtp, at(date(2022, 12, 2), 10, 1))
    [told] = _to(received, HOA, "trả lại")
    assert str(told["Subject"]) == (
        "[QT-KHKT-2021-2025] Báo cáo được trả lại để bổ sung: Đẩy mạnh phong trào học tập suốt "
        "đời trong gia đình, dòng họ, cộng đồng, đơn vị (năm 2022)")
    assert f"Ý kiến của cán bộ theo dõi: {comment}" in _text(told)
    assert f"{PORTAL}/r/{token}" in _text(told)
    assert "Thiếu số liệu &lt;i&gt;quý 4&lt;/i&gt;" in _html(told)
    assert _kinds(mailer, DUC).count("submission") == 1

    # the partner's form shows the comment
    form_page = client.get(f"/r/{token}").text
    assert "Cơ quan chủ trì trả lại để bổ sung: Thiếu số liệu &lt;i&gt;quý 4&lt;/i&gt;" in form_page

    # the ladder resumes at the next step's time
    assert [i for i in fire_steps(mailer, at(date(2022, 12, 8), 7, 59))
            if i.obligation_key == KEY] == []
    fired = [i for i in fire_steps(mailer, at(date(2022, 12, 8), 8)) if i.obligation_key == KEY]
    assert [(i.step, i.action) for i in fired] == [(1, "remind")]


def test_submissions_digest_then_accept_once(mailer, smtp, clock):
    _registered(mailer, clock)
    clock.at = at(date(2022, 12, 1))
    t1, t2 = _reply_link(mailer, clock, KEY, "so-gddt"), _reply_link(mailer, clock, KEY2,
                                                                      "tinh-doan")
    client = TestClient(create_app(mailer))
    _reply(client, t1, status="done", **{"v-gdht-dang-ky": "10"})
    clock.at = at(date(2022, 12, 1), 10)
    _reply(client, t2, status="done", note="Báo cáo của Tỉnh đoàn")
    received = _mail(mailer, smtp, at(date(2022, 12, 1), 10, 5))
    to_duc = [m for a, m in received if a == DUC]
    assert len(to_duc) == 1  # one digest for the two submissions
    assert str(to_duc[0]["Subject"]) == "[QT-KHKT-2021-2025] 2 báo cáo đã nộp chờ xem xét"
    text = _text(to_duc[0])
    accepts, returns = _links(text, "Chấp nhận"), _links(text, "Trả lại để bổ sung")
    assert len(set(accepts)) == 2 and len(set(returns)) == 2
    assert text.index("Sở Giáo dục và Đào tạo tỉnh Quảng Trị") < text.index("Tỉnh Đoàn Quảng Trị")
    assert "Số hộ đăng ký \"Gia đình học tập\": 10\n" in text

    second = accepts[1]  # items in the order they were sent: Tỉnh đoàn second
    assert "Báo cáo của Tỉnh đoàn" in client.get(second).text
    form = _form(client, second)
    clock.at = at(date(2022, 12, 3), 8, 30)
    ok = client.post(second, data=form | {"comment": ""})
    assert ok.status_code == 200 and "đã được chấp nhận" in ok.text
    status, _, next_fire, replies, _, _ = _state(mailer, KEY2)
    assert (status, next_fire, replies) == ("accepted", None, ((1, "accepted", None),))
    assert _state(mailer, KEY)[0] == "submitted"  # the other one waits
    again = client.post(second, data=form | {"comment": ""})
    assert again.status_code == 409 and "đã được chấp nhận lúc 03/12/2022 08:30" in again.text
    assert client.get(returns[1]).status_code == 409

    received = _mail(mailer, smtp, at(date(2022, 12, 3), 8, 31))
    [told] = _to(received, NGOC, "chấp nhận")
    assert str(told["Subject"]).startswith("[QT-KHKT-2021-2025] Báo cáo đã được chấp nhận: ")
    assert "đã được cơ quan chủ trì chương trình QT-KHKT-2021-2025 chấp nhận" in _text(told)
    assert "decision" not in _kinds(mailer, HOA)


def test_extension_granted_once_automatically_then_denied(mailer, smtp, clock):
    _registered(mailer, clock)
    clock.at = at(date(2022, 12, 1))
    token = _reply_link(mailer, clock, KEY, "so-gddt")
    client = TestClient(create_app(mailer))
    # 29/12/2022 is 14 days (auto_extension_days) after the due date: granted at once
    _reply(client, token, status="extension", until="2022-12-29", reason="Chờ số liệu xã")
    status, due, next_fire, replies, _, _ = _state(mailer)
    assert (status, due, replies) == ("open", date(2022, 12, 29), ((1, "granted", None),))
    assert next_fire == at(date(2022, 11, 29), 8)  # the unused request, re-timed (-30d)
    received = _mail(mailer, smtp, at(date(2022, 12, 1), 9, 1))
    [told] = _to(received, HOA, "Đồng ý gia hạn")
    assert str(told["Subject"]).endswith("(năm 2022), hạn mới 29/12/2022")
    assert str(told["Subject"]).startswith("[QT-KHKT-2021-2025] Đồng ý gia hạn: ")
    assert "chấp nhận tự động" in _text(told) and "Hạn báo cáo mới: 29/12/2022" in _text(told)
    assert "extension_request" not in _kinds(mailer, DUC)  # nobody was asked
    assert "Đã được gia hạn" in client.get(f"/r/{token}").text

    # a second request, however short, waits for the coordinator
    clock.at = at(date(2022, 12, 5))
    _reply(client, token, status="extension", until="2023-01-03", reason="Thêm vài ngày")
    status, due, next_fire, replies, _, _ = _state(mailer)
    assert (status, due, replies[-1]) == ("open", date(2022, 12, 29), (2, "pending", None))
    assert next_fire == at(date(2022, 11, 29), 8)
    assert "Đang chờ cơ quan chủ trì quyết định" in client.get(f"/r/{token}").text
    received = _mail(mailer, smtp, at(date(2022, 12, 5), 9, 1))
    [asked] = _to(received, DUC, "gia hạn")
    assert str(asked["Subject"]) == (
        "[QT-KHKT-2021-2025] Đề nghị gia hạn chờ duyệt: Đẩy mạnh phong trào học tập suốt đời "
        "trong gia đình, dòng họ, cộng đồng, đơn vị (năm 2022) — Sở Giáo dục và Đào tạo tỉnh "
        "Quảng Trị, đến 03/01/2023")
    text = _text(asked)
    assert "đã xin gia hạn nội dung này trước đó" in text and "Lý do / đề xuất: Thêm vài ngày" \
        in text
    [approve], [deny] = _links(text, "Đồng ý gia hạn"), _links(text, "Không đồng ý")
    assert _kinds(mailer, HOA).count("decision") == 1  # the partner hears of the decision

    before = _state(mailer)
    page = client.get(deny)
    assert page.status_code == 200 and "03/01/2023" in page.text and "thêm 5 ngày" in page.text
    assert _state(mailer) == before
    approve_form = _form(client, approve)
    clock.at = at(date(2022, 12, 6), 14)
    done = client.post(deny, data=_form(client, deny) | {"comment": "Đã gia hạn một lần"})
    assert done.status_code == 200 and "hạn vẫn là 29/12/2022" in done.text
    status, due, next_fire, replies, _, _ = _state(mailer)
    assert (due, replies[-1], next_fire) == (
        date(2022, 12, 29), (2, "denied", "Đã gia hạn một lần"), at(date(2022, 11, 29), 8))
    twice = client.post(approve, data=approve_form | {"comment": ""})
    assert twice.status_code == 409 and "bị từ chối lúc 06/12/2022 14:00" in twice.text
    assert _state(mailer)[1] == date(2022, 12, 29)

    received = _mail(mailer, smtp, at(date(2022, 12, 6), 14, 1))
    [told] = _to(received, HOA, "Không đồng ý gia hạn")
    assert str(told["Subject"]).endswith("(năm 2022), hạn vẫn là 29/12/2022")
    assert "Lý do: Đã gia hạn một lần." in _text(told) and "03/01/2023" in _text(told)


def test_long_extension_waits_then_is_approved(mailer, smtp, clock):
    _registered(mailer, clock)
    clock.at = at(date(2022, 12, 1))
    token = _reply_link(mailer, clock, KEY, "so-gddt")
    client = TestClient(create_app(mailer))
    _reply(client, token, status="extension", until="2022-12-30", note="Xin thêm <15> ngày")
    status, due, next_fire, replies, _, _ = _state(mailer)
    assert (due, replies, next_fire) == (date(2022, 12, 15), ((1, "pending", None),),
                                         at(date(2022, 11, 15), 8))
    received = _mail(mailer, smtp, at(date(2022, 12, 1), 9, 1))
    [asked] = _to(received, DUC, "gia hạn")
    assert "quá 14 ngày được gia hạn tự động" in _text(asked)
    assert "từ 15/12/2022 đến 30/12/2022 (thêm 15 ngày)" in _text(asked)
    assert "Xin thêm &lt;15&gt; ngày" in _html(asked)
    [approve], [deny] = _links(_text(asked), "Đồng ý gia hạn"), _links(_text(asked),
                                                                      "Không đồng ý")
    page = client.get(approve)
    assert page.status_code == 200 and "Đồng ý gia hạn" in page.text
    assert "Xin thêm &lt;15&gt; ngày" in page.text
    clock.at = at(date(2022, 12, 2), 8)
    form = _form(client, approve)
    done = client.post(approve, data=form | {"comment": ""})
    assert done.status_code == 200 and "hạn mới: 30/12/2022" in done.text
    status, due, next_fire, replies, used, _ = _state(mailer)
    assert (status, due, replies, used) == ("open", date(2022, 12, 30),
                                            ((1, "granted", None),), 1)
    assert next_fire == at(date(2022, 11, 30), 8)  # the unused request, re-timed (-30d)
    assert client.get(deny).status_code == 409
    assert client.post(approve, data={"comment": ""}).status_code == 403
    assert client.post(approve, data=form | {"comment": ""}).status_code == 409

    received = _mail(mailer, smtp, at(date(2022, 12, 2), 8, 1))
    [told] = _to(received, HOA, "Đồng ý gia hạn")
    assert str(told["Subject"]).endswith("hạn mới 30/12/2022")
    assert "cơ quan chủ trì chương trình QT-KHKT-2021-2025 đồng ý" in _text(told)
    assert "tự động" not in _text(told)


def test_replies_from_files_are_facts(app, clock):
    """An extension recorded from a file (CLI, demo) is granted as given; nobody is asked."""
    _registered(app, clock)
    with app.session(write=True) as s:
        record_reply(s, app, obligation_key=KEY, status="extension", until=date(2023, 1, 31),
                     at=at(date(2022, 12, 1)), source="cli")
        record_reply(s, app, obligation_key=KEY2, status="done", at=at(date(2022, 12, 1)),
                     source="cli")
    with app.session() as s:
        o = s.exec(select(Obligation).where(Obligation.key == KEY)).one()
        decisions = s.exec(select(Reply.decision)).all()
        messages = s.exec(select(func.count()).select_from(OutboxMessage)).one()
    assert o.due == date(2023, 1, 31) and decisions == [None, None] and messages == 0


def test_bad_decision_links_get_the_one_refusal(app, clock):
    _registered(app, clock)
    clock.at = at(date(2022, 12, 1))
    token = _reply_link(app, clock, KEY, "so-gddt")
    client = TestClient(create_app(app))
    _reply(client, token, status="done")
    with app.session(write=True) as s:
        links = {link.purpose: link for link in s.exec(select(Link).where(
            col(Link.purpose).in_(("accept", "return"))))}
        from models.links import token_of

        accept = token_of(links["accept"], app.secret_key)
        ret = token_of(links["return"], app.secret_key)
        revoke(s, links["return"], clock.at)
    reference = client.get("/r/" + "A" * 43)
    refusals = [client.get("/d/" + "A" * 43), client.get(f"/d/{accept[:-2]}xx"),
                client.get(f"/d/{ret}"),  # revoked
                client.get(f"/d/{token}"),  # a reply link is no decision link
                client.get(f"/r/{accept}"),  # nor the reverse
                client.post(f"/d/{ret}", data={"comment": "x"})]
    clock.at = at(date(2023, 3, 1))  # 60 days after the deadline of 15/12/2022
    refusals.append(client.get(f"/d/{accept}"))
    assert {r.status_code for r in refusals} == {404}
    assert {r.text for r in refusals} == {reference.text}
    with app.session() as s:
        assert s.exec(select(Reply.decision)).all() == [None]


def test_decision_links_share_the_rate_limit(app, clock):
    _registered(app, clock)
    # The buckets' clock stands still: on a slow run they refilled a token a second.
    client = TestClient(create_app(app, monotonic=lambda: 1000.0))
    codes = [client.get("/d/" + "B" * 43).status_code for _ in range(62)]
    assert codes[0] == 404 and codes[-1] == 429


def test_an_english_agreement_speaks_english(mailer, smtp, clock):
    clock.at = at(date(2022, 5, 18), 0)
    source = QT.read_text().replace("convener: hkh-qt\n", "convener: hkh-qt\nlanguage: en\n")
    import_agreement(mailer, source.encode(), "qt-en.yaml")
    clock.at = at(date(2022, 12, 1))
    t1, t2 = _reply_link(mailer, clock, KEY, "so-gddt"), _reply_link(mailer, clock, KEY2,
                                                                      "tinh-doan")
    client = TestClient(create_app(mailer))
    _reply(client, t1, status="done", note="<script>x</script>")
    _reply(client, t2, status="extension", until="2023-02-01", reason="Waiting for districts")
    received = _mail(mailer, smtp, at(date(2022, 12, 1), 9, 1))
    [review] = _to(received, DUC, "Report submitted for review: ")
    [asked] = _to(received, DUC, "Extension request awaits a decision: ")
    assert str(asked["Subject"]).endswith("— Tỉnh Đoàn Quảng Trị, until 01/02/2023")
    assert "&lt;script&gt;x&lt;/script&gt;" in _html(review)
    assert "longer than the 14 days granted automatically" in _text(asked)
    [back], [deny] = _links(_text(review), "Return for revision"), _links(_text(asked), "Deny")
    page = client.get(deny)
    assert "Deny an extension" in page.text and "Extension asked until" in page.text
    assert "Không đồng ý gia hạn" in client.get(f"{deny}?lang=vi").text
    client.cookies.clear()
    assert client.post(deny, data=_form(client, deny)).status_code == 200
    assert client.post(back, data=_form(client, back) | {"comment": "Add Q4"}).status_code == 200
    assert "Returned: Add Q4" in client.get(f"/r/{t1}").text
    assert "Extension denied: no reason given" in client.get(f"/r/{t2}").text
    received = _mail(mailer, smtp, at(date(2022, 12, 1), 9, 2))
    [returned] = _to(received, HOA, "Report returned for revision: ")
    [denied] = _to(received, NGOC, "Extension denied: ")
    assert "The coordinator's comment: Add Q4" in _text(returned)
    assert str(denied["Subject"]).endswith("still due 15/12/2022")
    assert "Reason: none given." in _text(denied)


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("decision", ["accepted", "returned", "granted", "denied"])
def test_every_decision_message_renders(language, decision):
    from notifications.render import render

    item = {"agreement_code": "X-1", "commitment": "Báo <cáo>", "period": "năm 2022",
            "party": "Sở A", "when": "01/12/2022 09:00", "until": "30/12/2022"}
    out = render("decision", language, {"recipient": "B", "sender": "phoihop", "item": item,
                                        "decision": decision, "auto": False, "comment": "<c>",
                                        "due": "30/12/2022", "link": "http://x/r/t"})
    assert out.subject.startswith("[X-1] ") and "Báo <cáo>" in out.subject
    assert "Báo &lt;cáo&gt;" in out.html and "<cáo>" not in out.html
    assert "http://x/r/t" in out.text and "<c>" in out.text and "&lt;c&gt;" in out.html
    assert ("30/12/2022" in out.text) == (decision != "accepted")
    assert ("30/12/2022" in out.subject) == (decision in ("granted", "denied"))


def test_review_dossiers_name_every_decision():
    """The dossier's "latest reply" column words every decision a reply can carry."""
    from reviews.wording import WORDS, Words

    decisions = ("accepted", "returned", "granted", "denied", "pending", "superseded")
    for language in ("vi", "en"):
        assert all(WORDS[language].get(f"decision_{d}") for d in decisions), language
    assert Words("vi").decision("denied") == "không đồng ý gia hạn"
