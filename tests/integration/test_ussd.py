"""USSD self-service end to end, in both dialects: paid, unpaid, pensioner,
household, unknown phone, the ID check and its lock, language switch, paging,
repeated hops, privacy between phones, and Redis stopping mid-session.

Every screen is checked against the USSD length limit."""
import os
import signal
import time

from harness import HOTLINE, wait_until
from ussd_util import AT, PHONE, Hubtel, load_roster, main_menu_ok, sid


# ---- information screens ----

def test_paid_resident_sees_status_in_both_dialects(env):
    load_roster(env)
    for Session in (AT, Hubtel):
        s = Session(env, PHONE["paid"])
        kind, text = s.dial()
        assert kind == "CON", text
        main_menu_ok(text)
        assert "张三" not in text, "full name on screen: %r" % text
        kind, text = s.press("1")
        assert kind == "CON" and "2026" in text and "300元" in text, text
        assert "应缴" not in text, text


def test_unpaid_resident_sees_amount_and_due_date(env):
    load_roster(env)
    with env.local_time(2026, 12, 1):
        for Session in (AT, Hubtel):
            s = Session(env, PHONE["unpaid"])
            s.dial()
            kind, text = s.press("1")
            assert kind == "CON", text
            assert "200元" in text and "请最迟于2026年12月31日缴费" in text, text
    # once the due date has passed, the screen does not ask to pay by it
    with env.local_time(2027, 1, 5):
        s = AT(env, PHONE["unpaid"])
        s.dial()
        kind, text = s.press("1")
        assert kind == "CON" and "缴费截止日2026年12月31日已过" in text, text
        assert "应缴金额：200元" in text and "缴费档次：200元" in text, text
        assert "请最迟于" not in text and "请找村协理员" in text, text


def test_pensioner_sees_payments(env):
    load_roster(env)
    s = AT(env, PHONE["pensioner"])
    s.dial()
    kind, text = s.press("3")
    assert "186.50元" in text and "2026年11月10日" in text, text
    kind, text = s.press("0")
    main_menu_ok(text)


def test_english_speaker_gets_english_formats(env):
    load_roster(env)
    s = Hubtel(env, PHONE["english"])
    kind, text = s.dial()
    assert "Amy" not in text, text
    kind, text = s.press("1")
    assert "500 yuan" in text and "2026" in text, text
    kind, text = s.press("0")
    kind, text = s.press("3")
    assert "pension" in text.lower(), text


def test_unknown_phone_is_told_how_to_register(env):
    load_roster(env)
    for Session in (AT, Hubtel):
        kind, text = Session(env, PHONE["unknown"]).dial()
        assert kind == "END" and HOTLINE in text, text


def test_phone_numbers_in_any_written_form(env):
    load_roster(env)
    for form in ("+8613800000201", "8613800000201", "008613800000201", "+86 138 0000 0201"):
        kind, text = AT(env, form).dial()
        assert kind == "CON", (form, text)
        main_menu_ok(text)


# ---- households and privacy ----

def test_household_chooses_the_person_first(env):
    load_roster(env)
    s = AT(env, PHONE["household"])
    kind, text = s.dial()
    assert kind == "CON", text
    assert "刘丙" not in text and "刘丁" not in text, "names not masked: %r" % text
    lines = [l for l in text.split("\n") if l[:2] in ("1 ", "2 ")]
    assert len(lines) == 2 and lines[0] != lines[1], "people not told apart: %r" % text
    kind, text = s.press("2")
    main_menu_ok(text)
    kind, text = s.press("3")
    assert "203.40元" in text, text            # U-HH2's pension, not U-HH1's
    kind, text = s.press("0")
    kind, text = s.press("0")                  # back to the list of people
    assert lines[0] in text and lines[1] in text, text
    kind, text = s.press("1")
    kind, text = s.press("1")
    assert "100元" in text and "203.40" not in text, text


def test_a_phone_never_sees_another_households_data(env):
    load_roster(env)
    others = ["5321.47", "1208", "8650.20", "186.50", "777.77", "9999.99", "432.10"]
    own = {"paid": ["5321.47"], "unpaid": ["1208"], "pensioner": ["8650.20", "186.50"]}
    ids = {"paid": "2741", "unpaid": "5318", "pensioner": "690x"}
    for who in ("paid", "unpaid", "pensioner"):
        seen = []
        s = AT(env, PHONE[who])
        seen.append(s.dial()[1])
        for keys in (["1", "0"], ["3", "0"], ["2", ids[who], "0"]):
            for k in keys:
                seen.append(s.press(k)[1])
        text = "\n".join(seen)
        for amount in others:
            if amount not in own[who]:
                assert amount not in text, "%s saw %s: %r" % (who, amount, text)
    # The same session id sent from another phone starts afresh for that phone.
    s = AT(env, PHONE["paid"])
    s.dial()
    s.press("2")
    intruder = AT(env, PHONE["unknown"], session=s.session)
    intruder.inputs = ["2"]
    kind, text = intruder.press("2741")
    assert kind == "END" and HOTLINE in text and "5321.47" not in text, text


# ---- the balance check ----

def test_balance_after_id_check(env):
    load_roster(env)
    s = AT(env, PHONE["pensioner"])
    s.dial()
    kind, text = s.press("2")
    assert kind == "CON" and "8650.20" not in text, text
    kind, text = s.press("1234")
    assert kind == "CON" and "2" in text and "8650.20" not in text, text
    kind, text = s.press("690x")               # the X may be typed in lower case
    assert "8650.20元" in text, text


def test_three_wrong_ids_lock_balance_across_sessions(env):
    load_roster(env)
    s = AT(env, PHONE["paid"])
    s.dial()
    s.press("2")
    for attempt in range(2):
        kind, text = s.press("000%d" % attempt)
        assert kind == "CON", text
    kind, text = s.press("0009")
    assert kind == "END" and "5321.47" not in text, text
    assert ":" in text, "no unlock time on the lock screen: %r" % text
    # Another session, another dialect: still locked, even with the right answer.
    h = Hubtel(env, PHONE["paid"])
    h.dial()
    kind, text = h.press("2")
    assert kind == "END" and "5321.47" not in text, text
    # The lock lasts 15 minutes.
    ttl = int(env.redis("PTTL", "gw:{p:U-PAID}:idlock"))
    assert 14 * 60 * 1000 < ttl <= 15 * 60 * 1000, ttl
    # Other participants are not affected.
    p = AT(env, PHONE["unpaid"])
    p.dial()
    p.press("2")
    kind, text = p.press("5318")
    assert "1208元" in text, text


def test_wrong_answers_spread_over_sessions_also_lock(env):
    load_roster(env)
    for attempt in range(3):
        s = Hubtel(env, PHONE["unpaid"])
        s.dial()
        kind, text = s.press("2")
        kind, text = s.press("9999")
    assert kind == "END", text
    assert env.redis("EXISTS", "gw:{p:U-UNPAID}:idlock") == 1


# ---- language, paging, repeated hops ----

def test_language_switch_sticks_to_the_phone(env):
    load_roster(env)
    s = AT(env, PHONE["paid"])
    s.dial()
    kind, text = s.press("6")
    assert "English" in text, text
    kind, text = s.press("2")
    main_menu_ok(text)
    kind, text = s.press("1")
    assert "300 yuan" in text, text
    kind, text = AT(env, PHONE["paid"]).dial()     # a new session keeps English
    assert "Contribution" in text or "contribution" in text, text
    s = AT(env, PHONE["paid"])
    s.dial()
    s.press("6")
    s.press("1")
    kind, text = s.press("1")
    assert "300元" in text, text


def test_long_lists_are_paged(env):
    family = ["U-BIG%02d,13800000299,欧阳小明%02d,1234,青山镇,上岭村,zh,2026,100,100,"
              "2026-12-31,%d.00,,,no" % (i, i, 1000 + i) for i in range(12)]
    load_roster(env, family)
    s = AT(env, "13800000299")
    kind, first = s.dial()
    assert kind == "CON" and "98" in first, first
    kind, second = s.press("98")
    assert second != first and "0 " in second, second
    kind, back = s.press("0")
    assert back == first, (back, first)
    s.press("98")
    kind, text = s.press("12")                       # a person from page 2
    main_menu_ok(text)
    kind, text = s.press("1")
    assert "100元" in text, text


def test_repeated_hops_get_the_same_answer(env):
    load_roster(env)
    session = sid()
    a = env.ussd_at(session, PHONE["paid"], "")
    b = env.ussd_at(session, PHONE["paid"], "")          # the carrier retried the first hop
    assert a == b, (a, b)
    c = env.ussd_at(session, PHONE["paid"], "1")
    d = env.ussd_at(session, PHONE["paid"], "1")
    assert c == d and "300元" in c[1], (c, d)
    e = env.ussd_at(session, PHONE["paid"], "1*0")      # still one step deep, not two
    main_menu_ok(e[1])
    hs = sid()
    a = env.ussd_hubtel(hs, PHONE["paid"], "Initiation", "*120*12345#", 1)
    b = env.ussd_hubtel(hs, PHONE["paid"], "Initiation", "*120*12345#", 1)
    assert a == b, (a, b)
    c = env.ussd_hubtel(hs, PHONE["paid"], "Response", "1", 2)
    d = env.ussd_hubtel(hs, PHONE["paid"], "Response", "1", 2)
    assert c == d and "300元" in c[1], (c, d)
    kind, text = env.ussd_hubtel(hs, PHONE["paid"], "Release", "", 3)
    assert kind == "END", text


def test_invalid_choices_repeat_the_screen(env):
    load_roster(env)
    s = Hubtel(env, PHONE["paid"])
    s.dial()
    for bad in ("9", "abc", "", "4", "7", "98"):
        kind, text = s.press(bad)
        assert kind == "CON", (bad, text)
        main_menu_ok(text)


def test_session_state_lives_in_redis_with_ttl(env):
    load_roster(env)
    s = AT(env, PHONE["paid"])
    s.dial()
    keys = sorted(env.redis("KEYS", "gw:{s:*"))
    assert len(keys) == 2 and keys[1] == keys[0] + ":p", keys   # state, and the people
    for key in keys:
        ttl = int(env.redis("TTL", key))
        assert 170 <= ttl <= 180, (key, ttl)
    # A second daemon would answer the next hop from the same state: simulate by
    # restarting this one between hops.
    env.restart_gatewayd()
    kind, text = s.press("1")
    assert "300元" in text, text


# ---- Redis down or slow ----

def test_redis_stopped_mid_session_gives_busy_then_recovers(env):
    load_roster(env)
    s = AT(env, PHONE["paid"])
    s.dial()
    env.stop_redis()
    started = time.monotonic()
    kind, text = s.press("1")
    elapsed = time.monotonic() - started
    assert kind == "END", text
    assert elapsed < 0.5 + 0.3, "busy answer took %.3f s" % elapsed
    assert env.gatewayd_alive()
    assert env.get_admin("/readyz")[0] == 503
    env.start_redis()
    assert wait_until(lambda: env.get_admin("/readyz")[0] == 200, 10), "no recovery"
    kind, text = AT(env, PHONE["paid"]).dial()
    main_menu_ok(text)


def test_hung_redis_gives_busy_within_the_deadline(env):
    load_roster(env)
    s = AT(env, PHONE["paid"])
    s.dial()
    os.kill(env.redis_proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        kind, text = s.press("1")
        elapsed = time.monotonic() - started
        assert kind == "END", text
        assert 0.45 <= elapsed < 0.5 + 0.3, "answered after %.3f s" % elapsed
        assert env.metric("gateway_ussd_requests_total", {"outcome": "busy"}) >= 1
    finally:
        os.kill(env.redis_proc.pid, signal.SIGCONT)
    assert wait_until(lambda: env.get_admin("/readyz")[0] == 200, 10)
    kind, text = AT(env, PHONE["paid"]).dial()
    main_menu_ok(text)


def test_repeated_end_and_notice_screens_are_the_same(env):
    load_roster(env)
    # An END screen (unknown phone), repeated by the carrier.
    session = sid()
    a = env.ussd_at(session, PHONE["unknown"], "")
    b = env.ussd_at(session, PHONE["unknown"], "")
    assert a == b and a[0] == "END", (a, b)
    # A screen with a notice line (a wrong ID), repeated.
    session = sid()
    env.ussd_at(session, PHONE["paid"], "")
    env.ussd_at(session, PHONE["paid"], "2")
    a = env.ussd_at(session, PHONE["paid"], "2*1111")
    b = env.ussd_at(session, PHONE["paid"], "2*1111")
    assert a == b and a[0] == "CON" and "2" in a[1], (a, b)
    # The lock's END screen with its time, repeated: the same time again.
    env.ussd_at(session, PHONE["paid"], "2*1111*2222")
    a = env.ussd_at(session, PHONE["paid"], "2*1111*2222*3333")
    b = env.ussd_at(session, PHONE["paid"], "2*1111*2222*3333")
    assert a == b and a[0] == "END" and ":" in a[1], (a, b)
    # The session's state stays small: no screen text in it.
    state = env.redis("GET", "gw:{s:at:%s}" % session)
    assert len(state.encode()) < 160, state
