"""core.feed: a party's deadlines as iCalendar, parsed back with `icalendar`.

All-day events on the due date, alarms at the ladder's request and remind steps (the
working-day shift and `send_at` included, in Asia/Ho_Chi_Minh), SEQUENCE and
LAST-MODIFIED after an extension, CANCELLED (and no alarm) once withdrawn."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from icalendar import Calendar

from core.agreement import DEFAULT_LADDER
from core.calendar import LOCAL_ZONE, WorkCalendar, local_instant
from core.feed import FeedEvent, FeedText, alarm_triggers, build_feed, last_modified, sequence
from core.ladder import fire_times
from core.statuses import ObligationStatus

CAL = WorkCalendar()
TEXT = FeedText("Hạn báo cáo — Sở GD&ĐT (QT-KHKT-2021-2025)",
                {"request": "Đề nghị báo cáo", "remind": "Nhắc hạn báo cáo"})
CREATED = datetime(2022, 5, 17, 17, 0, tzinfo=UTC)
NOW = datetime(2022, 11, 16, 2, 0, tzinfo=UTC)


def event(due: date, status: str = ObligationStatus.OPEN, seq: int = 0,
          modified: datetime = CREATED) -> FeedEvent:
    return FeedEvent(uid="QT/hoc-tap/so-gddt/2022@phoihop", due=due, status=status,
                     summary="Hạn báo cáo: Học tập suốt đời (năm 2022)",
                     description="Hạn: 15/12/2022", sequence=seq, created=CREATED,
                     last_modified=modified, url="https://portal.example/r/abc")


def parse(events: list[FeedEvent]) -> list[object]:
    triggers = {e.due: alarm_triggers(DEFAULT_LADDER, e.due, CAL, LOCAL_ZONE) for e in events}
    cal = Calendar.from_ical(build_feed(TEXT, LOCAL_ZONE, events, triggers, NOW))
    assert cal["X-WR-CALNAME"] == TEXT.name and cal["X-WR-TIMEZONE"] == LOCAL_ZONE
    assert cal["METHOD"] == "PUBLISH" and str(cal["VERSION"]) == "2.0"
    return list(cal.walk("VEVENT"))


def test_an_open_obligation_is_an_all_day_event_on_its_due_date_with_its_reply_link():
    (ev,) = parse([event(date(2022, 12, 15))])
    start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
    assert type(start) is date and start == date(2022, 12, 15)  # a date: no zone, no shift
    assert type(end) is date and end == date(2022, 12, 16)
    assert ev["DTSTART"].params.get("VALUE") == "DATE"
    assert str(ev["STATUS"]) == "CONFIRMED" and str(ev["TRANSP"]) == "TRANSPARENT"
    assert str(ev["UID"]) == "QT/hoc-tap/so-gddt/2022@phoihop"
    assert str(ev["URL"]) == "https://portal.example/r/abc"
    assert str(ev["SUMMARY"]) == "Hạn báo cáo: Học tập suốt đời (năm 2022)"
    assert ev.decoded("DTSTAMP") == NOW


def test_alarms_at_the_request_and_remind_steps_in_ho_chi_minh_time():
    due = date(2022, 12, 15)  # a Thursday
    (ev,) = parse([event(due)])
    alarms = [(str(a["DESCRIPTION"]).split(" — ")[0], a.decoded("TRIGGER"))
              for a in ev.walk("VALARM")]
    # the default ladder: request -30d, remind -7d and 0d (escalations are not alarms)
    assert [what for what, _ in alarms] == ["Đề nghị báo cáo", "Nhắc hạn báo cáo",
                                            "Nhắc hạn báo cáo"]
    start = local_instant(due, time(0, 0), LOCAL_ZONE)
    fired = [start + offset for _, offset in alarms]
    times = fire_times(DEFAULT_LADDER, due, CAL, LOCAL_ZONE)
    assert fired == [times[0], times[1], times[2]]  # exactly when the e-mails go out
    # 15/11/2022 is a Tuesday: -30d fires then, at 08:00 in Ho Chi Minh City (01:00 UTC)
    assert fired[0] == datetime(2022, 11, 15, 1, 0, tzinfo=UTC)
    assert alarms[0][1] == -timedelta(days=29, hours=16)
    assert alarms[2][1] == timedelta(hours=8)  # on the due day, 08:00 local
    assert all(str(a["ACTION"]) == "DISPLAY" for a in ev.walk("VALARM"))


def test_an_alarm_on_a_day_off_moves_to_the_next_working_day_as_the_ladder_does():
    due = date(2022, 12, 19)  # -30d is Saturday 19/11/2022: the request goes on Monday
    (ev,) = parse([event(due)])
    first = ev.walk("VALARM")[0].decoded("TRIGGER")
    fired = local_instant(due, time(0, 0), LOCAL_ZONE) + first
    assert fired == local_instant(date(2022, 11, 21), time(8, 0), LOCAL_ZONE)
    assert first == -timedelta(days=27, hours=16)


def test_an_extension_moves_the_event_with_a_higher_sequence_and_last_modified():
    granted = datetime(2022, 12, 10, 3, 0, tzinfo=UTC)
    before = event(date(2022, 12, 15), seq=sequence(1, 0, 0))
    # a partner's extension request (one reply), granted by a coordinator (one decision)
    after = event(date(2022, 12, 29), seq=sequence(1, 1, 1),
                  modified=last_modified(CREATED, None, granted - timedelta(hours=1), granted))
    (old,), (new,) = parse([before]), parse([after])
    assert old["UID"] == new["UID"]
    assert new.decoded("DTSTART") == date(2022, 12, 29)
    assert int(new["SEQUENCE"]) > int(old["SEQUENCE"]) == 0
    assert new.decoded("LAST-MODIFIED") == granted > old.decoded("LAST-MODIFIED")
    assert [a.decoded("TRIGGER") for a in new.walk("VALARM")] == [
        o for _, o in alarm_triggers(DEFAULT_LADDER, date(2022, 12, 29), CAL, LOCAL_ZONE)]


def test_a_withdrawn_obligation_is_cancelled_without_alarms():
    amended = datetime(2022, 12, 1, 2, 0, tzinfo=UTC)
    (ev,) = parse([event(date(2022, 12, 15), ObligationStatus.WITHDRAWN,
                         seq=sequence(2, 0, 0), modified=last_modified(CREATED, amended))])
    assert str(ev["STATUS"]) == "CANCELLED" and ev.walk("VALARM") == []
    assert int(ev["SEQUENCE"]) == 1 and ev.decoded("LAST-MODIFIED") == amended
    for status in (ObligationStatus.SUBMITTED, ObligationStatus.ACCEPTED,
                   ObligationStatus.WAIVED):
        (closed,) = parse([event(date(2022, 12, 15), status)])
        assert str(closed["STATUS"]) == "CANCELLED" and closed.walk("VALARM") == []


def test_the_sequence_never_decreases_as_changes_are_recorded():
    steps = [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 1, 1), (2, 2, 1), (3, 2, 2)]
    values = [sequence(*s) for s in steps]
    assert values == sorted(values) and values[0] == 0
    assert len(set(values)) == len(values)  # every recorded change is a new sequence


def test_long_vietnamese_text_is_folded_at_75_octets_and_escaped_inert():
    title = ("Kiểm tra, đánh giá; «báo cáo» \\ định kỳ " * 6
             + "\r\nEND:VEVENT\r\nBEGIN:VEVENT\nUID:forged")
    ev = FeedEvent(uid="QT/x/so-gddt/2022@phoihop", due=date(2022, 12, 15),
                   status=ObligationStatus.OPEN, summary=title, description=title + "\n2",
                   sequence=0, created=CREATED, last_modified=CREATED)
    body = build_feed(TEXT, LOCAL_ZONE, [ev], {}, NOW)
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    assert body.endswith(b"\r\n") and b"\n" not in body.replace(b"\r\n", b"")
    body.decode("utf-8")  # never cut inside a character
    (parsed,) = Calendar.from_ical(body).walk("VEVENT")  # one event: nothing forged
    assert str(parsed["SUMMARY"]) == title.replace("\r\n", "\n")
    assert str(parsed["DESCRIPTION"]) == title.replace("\r\n", "\n") + "\n2"
    assert str(parsed["UID"]) == "QT/x/so-gddt/2022@phoihop"


def test_the_ladder_mail_carries_the_feed_link_in_both_languages_escaped_in_html():
    from notifications.render import render

    item = {"action": "request", "audience": "focal", "agreement_code": "QT", "agreement_title":
            "Chương trình", "commitment": "Học tập", "party": "Sở GD&ĐT", "period": "năm 2022",
            "due": "15/12/2022", "days_text": "còn 30 ngày", "link": "https://p.example/r/a",
            "outstanding": []}
    calendars = [{"party": "Sở GD&ĐT <b> (QT)", "link": "https://p.example/c/feed"}]
    for lang, intro in (("vi", "Lịch hạn báo cáo cho điện thoại"),
                        ("en", "Deadlines for your phone's calendar")):
        out = render("ladder", lang, {"recipient": "Hoa", "sender": "Hội", "agreements": "QT",
                                      "items": [item], "calendars": calendars})
        assert intro in out.text and "  - Sở GD&ĐT <b> (QT): https://p.example/c/feed" in out.text
        assert 'href="https://p.example/c/feed"' in out.html and "&lt;b&gt;" in out.html
        without = render("ladder", lang, {"recipient": "Hoa", "sender": "Hội",
                                          "agreements": "QT", "items": [item], "calendars": []})
        assert intro not in without.text and "/c/" not in without.html
