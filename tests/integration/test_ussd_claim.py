"""USSD menu 4: a mutual-aid member reports a claim (报案) themselves: the kind,
then the date (YYYYMMDD, or MMDD of this year), then the reference and the
deadline of the calendar rule, or the deadline that passed and the hotline.

The clock is moved (GW_CLOCK_OFFSET_S) so that "today" is fixed: 2026-09-29
puts an accident of 2026-09-28 before National Day, its deadline moved from
2026-10-01 to 2026-10-08. Every screen is checked against the USSD length limit
(ussd_util); incidents are checked in Redis (gw:inc:REF, gw:{p:ID}:incidents)."""
import calendar
import os
import shutil
import signal
import time

from harness import HOTLINE, REPO, wait_until
from ussd_util import AT, PHONE, Hubtel, load_roster, main_menu_ok, sid

ROW = ("{pid},{phone},{name},1234,白水乡,石桥村,{lang},2026,100,100,2026-12-31,500.00,,,"
       "{member}")
EXTRA = [
    ROW.format(pid="U-AID", phone="13800000211", name="孙七", lang="zh", member="yes"),
    ROW.format(pid="U-AIDEN", phone="13800000212", name="赵六", lang="en", member="yes"),
]
MEMBER, MEMBER_PHONE = "U-AID", "13800000211"
EN_MEMBER, EN_PHONE = "U-AIDEN", "13800000212"


def load(env):
    load_roster(env, EXTRA)


def today_is(env, ymd):
    """gatewayd restarted with its one clock at noon (Shanghai) on YMD; back after."""
    y, m, d = (int(x) for x in ymd.split("-"))
    return env.local_time(y, m, d)


def incidents_of(env, pid):
    return sorted(env.redis("SMEMBERS", "gw:{p:%s}:incidents" % pid))


def incident(env, ref):
    flat = env.redis("HGETALL", "gw:inc:" + ref)
    return dict(zip(flat[::2], flat[1::2]))


def reference_in(text):
    for word in text.replace("：", " ").replace(":", " ").split():
        if word.startswith("BA") and "-" in word:
            return word.rstrip(".,。，")
    raise AssertionError("no reference on the screen: %r" % text)


def to_date_screen(s, kind="1"):
    kind_, text = s.dial()
    assert kind_ == "CON" and any(l.startswith("4 ") for l in text.split("\n")), text
    kind_, text = s.press("4")
    assert kind_ == "CON" and "1 " in text and "2 " in text, text
    kind_, text = s.press(kind)
    assert kind_ == "CON" and "20260928" in text, text
    return text


# ---- reporting ----

def test_member_reports_an_accident_and_gets_reference_and_deadline(env):
    with today_is(env, "2026-09-29"):
        load(env)
        s = AT(env, MEMBER_PHONE)
        to_date_screen(s, "1")
        kind, text = s.press("20260928")
        assert kind == "END", text
        assert "2026年10月8日" in text, text                    # not 2026年10月1日
        ref = reference_in(text)
        assert ref.startswith("BA20260928-"), ref
        assert incidents_of(env, MEMBER) == [ref]
        inc = incident(env, ref)
        assert inc["state"] == "reported" and inc["channel"] == "ussd", inc
        assert inc["kind"] == "accident" and inc["occurred_on"] == "2026-09-28", inc
        assert inc["deadline"] == "2026-10-08" and inc["participant"] == MEMBER, inc
        assert int(inc["reported_ms"]) > 0, inc
        # critical illness, in the other dialect, the date as MMDD of this year:
        # 2026-09-20 + 10 days is 2026-09-30, a working day
        h = Hubtel(env, MEMBER_PHONE)
        to_date_screen(h, "2")
        kind, text = h.press("0920")
        assert kind == "END" and "2026年9月30日" in text, text
        ref2 = reference_in(text)
        assert ref2.startswith("BA20260920-") and ref2 != ref, (ref, ref2)
        assert incident(env, ref2)["kind"] == "critical_illness"
        assert len(incidents_of(env, MEMBER)) == 2


def test_staff_registered_incident_is_reported_by_the_member(env):
    with today_is(env, "2026-09-29"):
        load(env)
        status, answer = env.admin("POST", "/v1/incidents", {
            "participant_id": MEMBER, "kind": "accident", "occurred_on": "2026-09-28"})
        assert status == 201, answer
        ref = answer["reference"]
        assert incident(env, ref)["state"] == "open"
        s = AT(env, MEMBER_PHONE)
        to_date_screen(s, "1")
        kind, text = s.press("0928")
        assert kind == "END" and reference_in(text) == ref, (ref, text)
        assert "2026年10月8日" in text, text
        inc = incident(env, ref)
        assert inc["state"] == "reported" and int(inc["reported_ms"]) > 0, inc
        assert inc["channel"] == "admin" and inc["reported_channel"] == "ussd", inc
        assert incidents_of(env, MEMBER) == [ref]
        # another kind on the same day is another incident
        h = Hubtel(env, MEMBER_PHONE)
        to_date_screen(h, "2")
        kind, text = h.press("20260928")
        assert kind == "END" and reference_in(text) != ref, text
        assert len(incidents_of(env, MEMBER)) == 2


def test_repeated_hops_and_reports_make_one_incident(env):
    with today_is(env, "2026-09-29"):
        load(env)
        # Africa's Talking repeating the hop with the same text
        session = sid()
        for text in ("", "4", "4*1"):
            env.ussd_at(session, MEMBER_PHONE, text)
        a = env.ussd_at(session, MEMBER_PHONE, "4*1*20260928")
        b = env.ussd_at(session, MEMBER_PHONE, "4*1*20260928")
        assert a == b and a[0] == "END", (a, b)
        ref = reference_in(a[1])
        # Hubtel repeating the hop with the same sequence
        hs = sid()
        env.ussd_hubtel(hs, MEMBER_PHONE, "Initiation", "*120*12345#", 1)
        env.ussd_hubtel(hs, MEMBER_PHONE, "Response", "4", 2)
        env.ussd_hubtel(hs, MEMBER_PHONE, "Response", "1", 3)
        c = env.ussd_hubtel(hs, MEMBER_PHONE, "Response", "0928", 4)
        d = env.ussd_hubtel(hs, MEMBER_PHONE, "Response", "0928", 4)
        assert c == d and c[0] == "END" and reference_in(c[1]) == ref, (ref, c, d)
        # a second report in a new session: the same incident again
        s = AT(env, MEMBER_PHONE)
        to_date_screen(s, "1")
        kind, text = s.press("20260928")
        assert kind == "END" and reference_in(text) == ref, (ref, text)
        assert incidents_of(env, MEMBER) == [ref]
        assert env.redis("KEYS", "gw:inc:BA*") == ["gw:inc:" + ref]
        assert incident(env, ref)["state"] == "reported"


def test_window_closed_says_the_deadline_and_the_hotline(env):
    with today_is(env, "2026-10-09"):
        load(env)
        s = AT(env, MEMBER_PHONE)
        to_date_screen(s, "1")
        kind, text = s.press("20260928")           # deadline 2026-10-08: yesterday
        assert kind == "END", text
        assert "2026年10月8日" in text and HOTLINE in text, text
        assert "BA" not in text, text
        assert incidents_of(env, MEMBER) == []
        assert env.redis("KEYS", "gw:inc:BA*") == []
        # the last day itself is still inside the window
        h = Hubtel(env, MEMBER_PHONE)
        to_date_screen(h, "1")
        kind, text = h.press("20261006")          # 10-09 is a Friday: deadline 10-09
        assert kind == "END" and reference_in(text).startswith("BA20261006-"), text
        assert "2026年10月9日" in text, text


def test_open_incident_past_its_window_stays_open(env):
    with today_is(env, "2026-09-29"):
        load(env)
        status, answer = env.admin("POST", "/v1/incidents", {
            "participant_id": MEMBER, "kind": "accident", "occurred_on": "2026-09-28"})
        assert status == 201, answer
        ref = answer["reference"]
    with today_is(env, "2026-10-09"):
        s = Hubtel(env, MEMBER_PHONE)
        to_date_screen(s, "1")
        kind, text = s.press("20260928")
        assert kind == "END" and "2026年10月8日" in text and HOTLINE in text, text
        assert ref not in text, text
        assert incident(env, ref)["state"] == "open"
        assert incidents_of(env, MEMBER) == [ref]


# ---- dates refused ----

def test_future_date_is_refused(env):
    with today_is(env, "2026-09-29"):
        load(env)
        s = AT(env, MEMBER_PHONE)
        date_screen = to_date_screen(s, "1")
        for future in ("20260930", "1001", "20270101"):
            kind, text = s.press(future)
            assert kind == "CON" and text != date_screen, (future, text)
            assert "还没到" in text, (future, text)
        assert env.redis("KEYS", "gw:inc:BA*") == []
        kind, text = s.press("20260929")           # today is fine
        assert kind == "END" and reference_in(text).startswith("BA20260929-"), text


def test_bad_dates_are_asked_again_with_a_reason(env):
    with today_is(env, "2026-09-29"):
        load(env)
        s = Hubtel(env, MEMBER_PHONE)
        to_date_screen(s, "2")
        seen = set()
        for bad, reason in (("2026092", "格式"), ("2026-09-28", "格式"), ("abc", "格式"),
                            ("20260230", "没有这一天"), ("1332", "没有这一天")):
            kind, text = s.press(bad)
            assert kind == "CON" and reason in text, (bad, text)
            assert "0 返回" in text, text
            seen.add(text)
        assert len(seen) == 2, seen            # one screen per reason
        assert env.redis("KEYS", "gw:inc:BA*") == []
        kind, text = s.press("20260920")       # the session goes on after a re-ask
        assert kind == "END" and "2026年9月30日" in text, text


def test_back_from_the_claim_screens(env):
    with today_is(env, "2026-09-29"):
        load(env)
        s = AT(env, MEMBER_PHONE)
        to_date_screen(s, "1")
        kind, text = s.press("0")                 # date -> kind
        assert kind == "CON" and "意外伤害" in text, text
        kind, text = s.press("7")                 # not a kind
        assert kind == "CON" and "输入有误" in text and "意外伤害" in text, text
        kind, text = s.press("0")                 # kind -> main menu
        assert kind == "CON" and "4 " in text and "6 " in text, text
        assert env.redis("KEYS", "gw:inc:BA*") == []


# ---- who is offered the item ----

def test_non_members_are_not_offered_a_claim(env):
    with today_is(env, "2026-09-29"):
        load(env)
        s = AT(env, PHONE["paid"])                 # not a member
        kind, text = s.dial()
        main_menu_ok(text)                         # no "4 " line
        kind, text = s.press("4")
        assert kind == "CON" and "输入有误" in text, text
        main_menu_ok(text)
        # a household: 刘丙 (U-HH1) is a member, 刘丁 (U-HH2) is not
        h = AT(env, PHONE["household"])
        h.dial()
        kind, text = h.press("2")
        main_menu_ok(text)
        kind, text = h.press("4")
        assert kind == "CON" and "输入有误" in text, text
        h = AT(env, PHONE["household"])
        h.dial()
        kind, text = h.press("1")
        main_menu_ok(text, claim=True)
        kind, text = h.press("4")
        assert kind == "CON" and "意外伤害" in text, text
        h.press("1")
        kind, text = h.press("20260928")
        assert kind == "END" and reference_in(text), text
        assert len(incidents_of(env, "U-HH1")) == 1
        assert incidents_of(env, "U-HH2") == [] and incidents_of(env, "U-PAID") == []


# ---- English ----

def test_english_screens(env):
    with today_is(env, "2026-09-29"):
        load(env)
        s = AT(env, EN_PHONE)
        kind, text = s.dial()
        main_menu_ok(text, claim=True)
        assert "98" not in text, "the main menu is paged: %r" % text
        kind, text = s.press("4")
        assert "Accident" in text and "Critical illness" in text, text
        kind, text = s.press("1")
        assert "8 digits" in text and "0 Back" in text, text
        kind, text = s.press("2026092")
        assert kind == "CON" and "8 digits" in text, text
        kind, text = s.press("20260230")
        assert kind == "CON" and "no such day" in text, text
        kind, text = s.press("20260930")
        assert kind == "CON" and "still to come" in text, text
        kind, text = s.press("20260928")
        assert kind == "END" and "2026-10-08" in text, text
        assert reference_in(text).startswith("BA20260928-"), text
        h = Hubtel(env, EN_PHONE)
        to_date_screen(h, "1")
        # 2026-09-23 + 3 is Saturday 09-26, Mid-Autumn (26, 27 off): deadline Monday 09-28
        kind, text = h.press("20260923")
        assert kind == "END" and "2026-09-28" in text and HOTLINE in text, text
        assert "call" in text, text


# ---- Redis late ----

def test_hung_redis_gives_busy_and_the_report_can_be_made_again(env):
    with today_is(env, "2026-09-29"):
        load(env)
        s = AT(env, MEMBER_PHONE)
        to_date_screen(s, "1")
        os.kill(env.redis_proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            kind, text = s.press("20260928")
            elapsed = time.monotonic() - started
            assert kind == "END" and elapsed < 0.5 + 0.3, (elapsed, text)
        finally:
            os.kill(env.redis_proc.pid, signal.SIGCONT)
        assert wait_until(lambda: env.get_admin("/readyz")[0] == 200, 10)
        s = AT(env, MEMBER_PHONE)
        to_date_screen(s, "1")
        kind, text = s.press("20260928")
        assert kind == "END" and reference_in(text).startswith("BA20260928-"), text
        assert len(incidents_of(env, MEMBER)) == 1


# ---- a deadline set before its year's calendar was published ----

def test_a_deadline_counted_without_its_years_calendar_is_not_kept_short(env):
    """Staff register an accident of 2026-12-29 while only the 2026 calendar is
    loaded: the deadline, 2027-01-01, counts weekends only, and the answer says
    so. Once the 2027 calendar is in (1 to 3 January off), the member who
    reports on Monday 2027-01-04 is inside the window, told that deadline, and
    the incident keeps it."""
    cal2026 = os.path.join(env.dir, "CN-2026.tsv")
    shutil.copy(os.path.join(REPO, "ops", "calendars", "CN-2026.tsv"), cal2026)
    cal2027 = os.path.join(env.dir, "CN-2027.tsv")
    with open(cal2027, "w", encoding="utf-8") as f:
        f.write("2027-01-01\toff\t元旦\n2027-01-02\toff\t元旦\n2027-01-03\toff\t元旦\n")

    def at(ymd, files):
        y, m, d = (int(x) for x in ymd.split("-"))
        os.environ["GW_CLOCK_OFFSET_S"] = str(int(calendar.timegm((y, m, d, 4, 0, 0))
                                                  - time.time()))
        try:
            env.restart_gatewayd({"calendar": {"files": files}})
        finally:
            del os.environ["GW_CLOCK_OFFSET_S"]

    body = {"participant_id": MEMBER, "kind": "accident", "occurred_on": "2026-12-29"}
    try:
        at("2026-12-29", cal2026)
        load(env)
        status, answer = env.admin("POST", "/v1/incidents", body)
        assert status == 201 and answer["deadline"] == "2027-01-01", answer
        assert answer["created"] is True and "2027" in answer["warning"], answer
        ref = answer["reference"]
        status, answer = env.admin("POST", "/v1/incidents", body)
        assert status == 200 and answer["created"] is False, answer
        assert answer["reference"] == ref and answer["state"] == "open", answer
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "accident", "--date", "2026-12-29")
        assert rc == 0 and "already registered" in out and ref in out, (out, err)
        assert "warning: no business calendar for 2027" in out, out

        at("2027-01-04", cal2026 + ", " + cal2027)
        s = AT(env, MEMBER_PHONE)
        to_date_screen(s, "1")
        kind, text = s.press("20261229")
        assert kind == "END" and reference_in(text) == ref, text
        assert "2027年1月4日" in text, text
        inc = incident(env, ref)
        assert inc["state"] == "reported" and inc["deadline"] == "2027-01-04", inc
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "accident", "--date", "2026-12-29")
        assert rc == 0 and "was already reported; nothing to do" in out, (out, err)
        assert "warning" not in out, out
        rc, out, err = env.gatewayctl("incident", "add", "--participant", "U-\udcff",
                                      "--kind", "accident", "--date", "2026-12-29")
        assert rc == 2 and "UTF-8" in err, (rc, out, err)
    finally:
        env.restart_gatewayd()
