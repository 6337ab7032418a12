"""Campaigns end to end: POST /v1/campaigns (dry run and start), the roster in
Redis, the queue, the fake carrier over real HTTP, delivery reports, and
GET /v1/campaigns/{id}; checks at send time (paid since, opted out since,
duplicates, cancel) and the send window, with the daemon's one clock moved
(GW_CLOCK_OFFSET_S) to a chosen local time in Asia/Shanghai."""
import calendar
import csv
import io
import os
import re
import subprocess
import threading
import time
import urllib.parse

import fake_carrier
from fake_carrier import FakeCarrier
from harness import wait_until
from ussd_util import AT, HEADER, main_menu_ok

CARRIER = FakeCarrier().start()
TIMEOUT = 120
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIGNATURE = "【某县人社】"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CONFIG = {
    "provider at": {"type": "africastalking", "base_url": CARRIER.url,
                    "username": fake_carrier.DEFAULT_AT_USERNAME,
                    "api_key": fake_carrier.DEFAULT_AT_API_KEY, "sender": "12333",
                    "priority": 1, "max_tps": 0, "timeout_ms": 2000},
    "sms": {"signature": SIGNATURE, "max_segments": 3, "default_provider": "at"},
    "reminders": {"timezone": "Asia/Shanghai", "send_window": "08:00-20:00",
                  "min_interval_hours": 20, "unpaid_offsets_days": ""},
}

# A village of 上岭村 (青山镇) and one of 下河村: who is paid, unpaid, without a
# phone, opted out, on a shared phone; amounts differ so texts can be told apart.
ROWS = [
    "C-01,13700000001,赵一,1001,青山镇,上岭村,zh,2026,100,,2026-12-31,10,,,no",
    "C-02,13700000002,钱二,1002,青山镇,上岭村,zh,2026,200,0,2026-12-31,10,,,no",
    "C-03,13700000003,孙三,1003,青山镇,上岭村,zh,2026,300,300,2026-12-31,10,,,no",   # paid
    "C-04,,李四,1004,青山镇,上岭村,zh,2026,100,,2026-12-31,10,,,no",                  # no phone
    "C-05,13700000005,周五,1005,青山镇,上岭村,zh,2026,100,,2026-12-31,10,,,no",       # opts out
    "C-06,13700000006,吴六,1006,青山镇,上岭村,zh,2026,500,,2026-12-31,10,,,no",       # household
    "C-07,13700000006,吴七,1007,青山镇,上岭村,zh,2026,600,,2026-12-31,10,,,no",       # household
    "C-08,13700000008,Ann Lee,1008,青山镇,上岭村,en,2026,100,,2026-12-31,10,,,no",
    "C-09,13700000009,郑九,1009,青山镇,下河村,zh,2026,100,,2026-12-31,10,,,no",       # other village
]
UNPAID_IN_VILLAGE = {"C-01": "+8613700000001", "C-02": "+8613700000002",
                     "C-06": "+8613700000006", "C-07": "+8613700000006",
                     "C-08": "+8613700000008"}           # C-05 opted out, C-03 paid, C-04 no phone
VILLAGE = {"township": "青山镇", "village": "上岭村"}


def at_local(env, y, m, d, hh, mm=0, overrides=None, fresh=False):
    """Restarts gatewayd with its clock moved to Y-M-D HH:MM in Asia/Shanghai.
    FRESH (a test's start): the fake carrier forgets what it received."""
    target = calendar.timegm((y, m, d, hh - 8, mm, 0, 0, 0, 0))
    os.environ["GW_CLOCK_OFFSET_S"] = str(round(target - time.time()))
    try:
        env.restart_gatewayd(overrides)
    finally:
        del os.environ["GW_CLOCK_OFFSET_S"]
    if fresh:
        CARRIER.reset()


def setup(env, hour=10):
    at_local(env, 2026, 12, 2, hour, fresh=True)
    status, answer = env.import_csv("\n".join([HEADER] + ROWS) + "\n")
    assert status == 200 and answer["rejected"] == [], answer
    status, _ = env.admin("POST", "/v1/optouts", {"phone": "13700000005", "action": "add"})
    assert status in (200, 201), status


def campaign(env, body, expect):
    status, answer = env.admin("POST", "/v1/campaigns", body)
    assert status == expect, (status, answer)
    return answer


def counts(env, cid):
    status, answer = env.admin("GET", "/v1/campaigns/%s" % cid)
    assert status == 200, (status, answer)
    return answer


def ucs2_segments(text):
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def reminder_zh(name, amount):
    return (SIGNATURE + "%s您好，您2026年度的居民养老保险还没有缴费，应缴%s元，请最迟于2026年12月31日"
            "缴费。已缴请忽略。回复TD退订" % (name, amount))


def reminder_en(name, amount):
    return (SIGNATURE + "Hi %s, your 2026 pension contribution of %s yuan is due by 2026-12-31. "
            "If paid, ignore this. Reply TD to stop." % (name, amount))


EXPECTED_TEXT = {
    "C-01": reminder_zh("赵一", 100), "C-02": reminder_zh("钱二", 200),
    "C-06": reminder_zh("吴六", 500), "C-07": reminder_zh("吴七", 600),
    "C-08": reminder_en("Ann Lee", 100),
}


def test_parts_follow_each_persons_text(env):
    """The SMS parts counted for each person: texts that differ only by the
    name's length differ in parts (a long name takes a third), and the same
    length counts the same (the count is kept per kind of text, not per person)."""
    names = ["Al", "Bo", "Alexandra Montgomery-Fitzwilliam", "Cy", "Benedict Okonkwo-Rutherfordson"]
    rows = ["L-%02d,1380000%04d,%s,1001,白水乡,前湾村,en,2026,100,,2026-12-31,10,,,no"
            % (i, i, name) for i, name in enumerate(names)]
    at_local(env, 2026, 12, 2, 10, fresh=True)
    status, answer = env.import_csv("\n".join([HEADER] + rows) + "\n")
    assert status == 200 and answer["rejected"] == [], answer
    segs = [ucs2_segments(reminder_en(n, 100)) for n in names]
    assert segs[0] != segs[2], segs                  # the test means something
    answer = campaign(env, {"kind": "unpaid_contribution",
                            "filter": {"township": "白水乡", "village": "前湾村"},
                            "dry_run": True}, 200)
    assert answer["recipients"] == 5, answer
    assert answer["segments_total"] == sum(segs), (answer, segs)
    assert answer["segments_per_message"] == max(segs), answer
    assert "warning" not in answer, answer
    # allowed fewer parts than a long name takes: said beforehand, sent whole
    at_local(env, 2026, 12, 2, 10, overrides={"sms": {"max_segments": str(max(segs) - 1)}})
    answer = campaign(env, {"kind": "unpaid_contribution",
                            "filter": {"township": "白水乡", "village": "前湾村"}}, 202)
    assert answer["segments_total"] == sum(segs), answer
    assert "more than [sms] max_segments (%d)" % (max(segs) - 1) in answer["warning"], answer
    got = sorted(m["text"] for m in CARRIER.wait_messages(5))
    assert got == sorted(reminder_en(n, 100) for n in names), got


def test_parts_sent_are_counted_as_written_when_they_go(env):
    """A reminder is written when it goes: renamed since it was queued, it
    takes the parts of the text sent, and the parts sent are counted so."""
    row = "L-01,13800000001,%s,1001,白水乡,前湾村,en,2026,100,,2026-12-31,10,,,no"
    at_local(env, 2026, 12, 2, 10, fresh=True)
    status, answer = env.import_csv("\n".join([HEADER, row % "Al"]) + "\n")
    assert status == 200 and answer["rejected"] == [], answer
    long_name = "Alexandra Montgomery-Fitzwilliam"
    short = ucs2_segments(reminder_en("Al", 100))
    longer = ucs2_segments(reminder_en(long_name, 100))
    assert longer > short, (short, longer)             # the test means something
    answer = campaign(env, {"kind": "unpaid_contribution", "filter": {"township": "白水乡"},
                            "send_at": "2026-12-02T10:00:04+08:00"}, 202)
    assert answer["segments_total"] == short, answer
    status, answer = env.import_csv("\n".join([HEADER, row % long_name]) + "\n")
    assert status == 200 and answer["updated"] == 1, answer
    before = env.metric("gateway_sms_segments_total") or 0
    msgs = CARRIER.wait_messages(1, timeout=12)
    assert msgs[0]["text"] == reminder_en(long_name, 100), msgs
    assert wait_until(lambda: (env.metric("gateway_sms_segments_total") or 0) - before == longer,
                      5), (env.metric("gateway_sms_segments_total"), before, longer)


def test_dry_run_matches_the_roster_and_queues_nothing(env):
    setup(env)
    answer = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE, "dry_run": True}, 200)
    assert answer["recipients"] == len(UNPAID_IN_VILLAGE), answer
    assert answer["skipped"] == {"paid": 1, "opted_out": 1, "no_phone": 1, "duplicate": 0,
                                 "past_due": 0}, answer
    segs = [ucs2_segments(t) for t in EXPECTED_TEXT.values()]
    assert answer["segments_total"] == sum(segs), (answer, segs)
    assert answer["segments_per_message"] == max(segs), answer
    # now: the moved clock is 10:00 give or take the restart's half second
    assert answer["send_at"][:16] in ("2026-12-02T09:59", "2026-12-02T10:00") and \
        answer["send_at"].endswith("+08:00"), answer
    assert "id" not in answer and "recipients_list" not in answer, answer
    # who they are, when asked: exactly the roster's unpaid with a phone
    listed = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE, "dry_run": True,
                            "list": True}, 200)
    assert {e["participant_id"]: e["phone"] for e in listed["recipients_list"]} == \
        UNPAID_IN_VILLAGE and listed["recipients_list_complete"] is True, listed
    names = {r.split(",")[0]: r.split(",")[2] for r in ROWS}
    assert all(e["name"] == names[e["participant_id"]] for e in listed["recipients_list"]), listed
    status, answer = env.admin("POST", "/v1/campaigns", {"kind": "unpaid_contribution",
                                                         "filter": VILLAGE, "list": True})
    assert status == 400 and "dry run" in answer["message"], answer     # a start lists nothing
    assert env.redis("KEYS", "gw:{q}:camp:*") == [] and env.redis("KEYS", "gw:{q}:b:*") == []
    # a list of participants, one of them unknown
    answer = campaign(env, {"kind": "unpaid_contribution", "dry_run": True,
                            "filter": {"participant_ids": ["C-01", "C-03", "NOBODY"]}}, 200)
    assert answer["recipients"] == 1 and answer["skipped"]["paid"] == 1, answer
    assert answer["unknown_ids"] == 1 and answer["unknown_ids_first"] == ["NOBODY"], answer


def test_start_delivers_to_exactly_those_and_counts_reports(env):
    setup(env)
    answer = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE}, 202)
    cid = answer["id"]
    assert answer["recipients"] == len(UNPAID_IN_VILLAGE) and answer["state"] == "running", answer
    msgs = CARRIER.wait_messages(len(UNPAID_IN_VILLAGE))
    time.sleep(0.5)
    msgs = CARRIER.messages()
    assert sorted((m["to"], m["text"]) for m in msgs) == sorted(
        (UNPAID_IN_VILLAGE[p], EXPECTED_TEXT[p]) for p in UNPAID_IN_VILLAGE), msgs
    assert wait_until(lambda: counts(env, cid)["counts"]["sent"] == 5, 10), counts(env, cid)
    got = counts(env, cid)
    assert got["state"] == "done" and got["counts"]["queued"] == 0, got
    # delivery reports move the campaign's counts (issue: delivered and failed)
    ids = [m["carrier_id"] for m in msgs]
    for cid_, st in zip(ids, ["Success", "Success", "Success", "Failed"]):
        body = urllib.parse.urlencode({"id": cid_, "status": st, "phoneNumber": "+8613700000001"})
        assert env.carrier("POST", "/dlr/africastalking", body, FORM)[0] == 200
    assert env.carrier("POST", "/dlr/africastalking", urllib.parse.urlencode(
        {"id": ids[0], "status": "Success"}), FORM)[0] == 200         # repeated: counted once
    got = counts(env, cid)["counts"]
    assert got == {"queued": 0, "sent": 1, "delivered": 3, "failed": 1, "skipped": 0}, got
    # cancelling it now changes nothing: it is done
    status, answer = env.admin("POST", "/v1/campaigns/%s/cancel" % cid)
    assert status == 200 and answer["state"] == "done", answer
    rc, out, err = env.gatewayctl("campaign", "cancel", str(cid))
    assert rc == 0 and "nothing to cancel" in out, (out, err)
    # the same campaign again sends nothing twice; only the one reported
    # undelivered did not reach its person, and goes again
    again = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE, "dry_run": True}, 200)
    assert again["recipients"] == 1 and again["skipped"]["duplicate"] == 4, again
    again = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE}, 202)
    assert again["recipients"] == 1, again
    CARRIER.wait_messages(6)
    time.sleep(1.0)
    assert len(CARRIER.messages()) == 6
    assert (CARRIER.messages()[5]["to"], CARRIER.messages()[5]["text"]) == (
        msgs[3]["to"], msgs[3]["text"])
    again = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE, "dry_run": True}, 200)
    assert again["recipients"] == 0 and again["skipped"]["duplicate"] == 5, again


def test_a_reminder_the_carrier_refused_does_not_count_as_sent(env):
    """min_interval_hours keeps a person from hearing the same reminder twice;
    one the carrier refused never reached them, so the next campaign does."""
    setup(env)
    CARRIER.set_mode("permanent", number="+8613700000001")
    try:
        answer = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE}, 202)
        cid = answer["id"]
        assert wait_until(lambda: counts(env, cid)["counts"]["failed"] == 1 and
                          counts(env, cid)["counts"]["sent"] == 4, 10), counts(env, cid)
    finally:
        CARRIER.set_mode("ok", number="+8613700000001")
    assert "+8613700000001" not in [m["to"] for m in CARRIER.messages()]
    again = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE, "dry_run": True}, 200)
    assert again["recipients"] == 1 and again["skipped"]["duplicate"] == 4, again
    campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE}, 202)
    CARRIER.wait_messages(5)
    time.sleep(1.0)
    assert sorted(m["to"] for m in CARRIER.messages()) == sorted(UNPAID_IN_VILLAGE.values())


def test_paid_or_opted_out_since_scheduling_is_skipped(env):
    setup(env)
    answer = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE,
                            "send_at": "2026-12-02T10:00:04+08:00"}, 202)
    cid = answer["id"]
    assert answer["recipients"] == 5, answer
    # before it goes: C-01 pays (a roster update), C-08 replies TD
    row = ROWS[0].replace("2026,100,,", "2026,100,100,")
    status, _ = env.import_csv(HEADER + "\n" + row + "\n")
    assert status == 200
    status, _ = env.admin("POST", "/v1/optouts", {"phone": "13700000008", "action": "add"})
    assert status in (200, 201)
    try:
        CARRIER.wait_messages(3, timeout=15)
    except AssertionError as e:
        raise AssertionError("%s; campaign %s; stats %s" % (
            e, counts(env, cid), env.redis("HGETALL", "gw:{q}:stats")))
    assert wait_until(lambda: counts(env, cid)["counts"]["queued"] == 0, 10), counts(env, cid)
    time.sleep(0.5)
    assert sorted(m["to"] for m in CARRIER.messages()) == [
        "+8613700000002", "+8613700000006", "+8613700000006"]
    got = counts(env, cid)["counts"]
    assert got["skipped"] == 2 and got["sent"] == 3, got
    # the coordinator sees why
    assert counts(env, cid)["skipped_why"] == {"paid": 1, "opted_out": 1}, counts(env, cid)
    rc, out, err = env.gatewayctl("campaign", "status", str(cid))
    assert rc == 0 and "skipped since: " in out and "1 paid" in out and "1 opted out" in out, out
    assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                         {"reason": "paid"}) == 1, 5)
    assert env.metric("gateway_reminders_skipped_total", {"reason": "opted_out"}) == 1


def test_reminders_go_to_the_phone_the_roster_has_when_they_go(env):
    """Between the start and the send time a roster update gives C-01 a new
    phone, C-02 an opted-out one and C-08 none: C-01's reminder goes to the
    new phone; C-02's and C-08's are skipped (opted out, phone changed)."""
    setup(env)
    answer = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE,
                            "send_at": "2026-12-02T10:00:04+08:00"}, 202)
    cid = answer["id"]
    assert answer["recipients"] == 5, answer
    rows = [ROWS[0].replace("13700000001", "13700000011"),
            ROWS[1].replace("13700000002", "13700000005"),
            ROWS[7].replace("13700000008", "")]
    status, got = env.import_csv(HEADER + "\n" + "\n".join(rows) + "\n")
    assert status == 200 and got["updated"] == 3, got
    CARRIER.wait_messages(3, timeout=15)
    assert wait_until(lambda: counts(env, cid)["counts"]["queued"] == 0, 10), counts(env, cid)
    time.sleep(0.5)
    msgs = CARRIER.messages()
    assert sorted(m["to"] for m in msgs) == [
        "+8613700000006", "+8613700000006", "+8613700000011"], msgs
    [new] = [m for m in msgs if m["to"] == "+8613700000011"]
    assert "赵一" in new["text"], new
    assert counts(env, cid)["skipped_why"] == {"opted_out": 1, "no_phone": 1}, \
        counts(env, cid)
    # the last-sent mark is the new phone's message: it is not sent again
    status, again = env.admin("POST", "/v1/campaigns", {
        "kind": "unpaid_contribution", "filter": {"participant_ids": ["C-01"]},
        "dry_run": True})
    assert status == 200 and again["recipients"] == 0, again


def test_claim_reminders_go_to_a_new_phone(env):
    """A member's phone changes in the roster after staff registered the
    accident: the eve's reminder goes to the new phone."""
    ref = member_accident(env)
    CARRIER.wait_messages(1, timeout=10)
    status, got = env.import_csv(HEADER + "\n" +
                                 MEMBER_ROW.replace("13700000010", "13700000020") + "\n")
    assert status == 200 and got["updated"] == 1, got
    at_local(env, 2026, 12, 3, 8)
    msgs = CARRIER.wait_messages(2, timeout=10)
    assert msgs[-1]["to"] == "+8613700000020" and ref in msgs[-1]["text"], msgs[-1]


def test_an_opt_out_of_the_old_phone_does_not_stop_a_new_one(env):
    """A member moved to a new phone; the old number (given to someone else)
    opts out: the claim reminder still goes to the member's new phone."""
    ref = member_accident(env)
    CARRIER.wait_messages(1, timeout=10)
    status, got = env.import_csv(HEADER + "\n" +
                                 MEMBER_ROW.replace("13700000010", "13700000020") + "\n")
    assert status == 200 and got["updated"] == 1, got
    status, _ = env.admin("POST", "/v1/optouts", {"phone": "13700000010", "action": "add"})
    assert status in (200, 201)
    at_local(env, 2026, 12, 3, 8)
    msgs = CARRIER.wait_messages(2, timeout=10)
    assert msgs[-1]["to"] == "+8613700000020" and ref in msgs[-1]["text"], msgs[-1]


def household_notice(env, ids, place=None):
    """A notice written per person ("test": it names them) to IDS (or PLACE),
    due at 10:00:04, queued once for the household phone ...006 (C-06 and C-07
    on it) or for C-01. Returns the start's answer."""
    setup(env)
    answer = campaign(env, {"kind": "policy_notice",
                            "filter": place or {"participant_ids": ids},
                            "template": "test", "send_at": "2026-12-02T10:00:04+08:00"}, 202)
    assert answer["recipients"] == (5 if place else 1), answer
    return answer


def reimport(env, *rows):
    status, got = env.import_csv(HEADER + "\n" + "\n".join(rows) + "\n")
    assert status == 200 and got["updated"] == len(rows), got


def c_06_moves_the_notice_stays(env, phone):
    """A notice to C-06 and C-07 (one shared phone); C-06 given PHONE (or none)
    before it goes: the shared phone gets it once, written for C-07."""
    answer = household_notice(env, ["C-06", "C-07"])
    reimport(env, ROWS[5].replace("13700000006", phone))
    [m] = CARRIER.wait_messages(1, timeout=15)
    time.sleep(1.0)
    assert m["to"] == "+8613700000006" and "吴七" in m["text"], m
    assert len(CARRIER.messages()) == 1 and counts(env, answer["id"])["recipients"] == 1


def test_a_household_notice_stays_with_the_household_phone(env):
    """Queued once for the shared phone (for C-06, or for C-07: the walk's
    order), the notice goes there, written for C-07, when C-06 gets a phone
    of their own before it goes: it reaches the phones the walk found."""
    c_06_moves_the_notice_stays(env, "13700000066")


def test_a_village_notice_stays_with_the_household_phone(env):
    household_notice(env, None, VILLAGE)
    reimport(env, ROWS[5].replace("13700000006", "13700000066"))
    CARRIER.wait_messages(5, timeout=15)
    time.sleep(1.0)
    got = [(m["to"], m["text"][len(SIGNATURE):len(SIGNATURE) + 2]) for m in CARRIER.messages()]
    assert ("+8613700000006", "吴七") in got and len(got) == 5, got


def test_a_notice_follows_the_person_from_a_phone_that_opted_out(env):
    """C-06's notice was queued for the shared phone; C-06 moves to a phone of
    their own and the shared one opts out: it goes to C-06's."""
    household_notice(env, ["C-06", "C-07"])
    reimport(env, ROWS[5].replace("13700000006", "13700000066"))
    status, _ = env.admin("POST", "/v1/optouts", {"phone": "13700000006", "action": "add"})
    assert status in (200, 201)
    [m] = CARRIER.wait_messages(1, timeout=15)
    assert m["to"] == "+8613700000066" and "吴六" in m["text"], m


def test_a_notice_follows_the_person_from_a_phone_that_had_it(env):
    """The same, when the shared phone has had the notice (C-01, also reached,
    moved onto it)."""
    setup(env)
    campaign(env, {"kind": "policy_notice", "filter": {"participant_ids": ["C-01", "C-06",
                                                                           "C-07"]},
                   "template": "test", "send_at": "2026-12-02T10:00:04+08:00"}, 202)
    reimport(env, ROWS[0].replace("13700000001", "13700000006"),
             ROWS[5].replace("13700000006", "13700000066"))
    CARRIER.wait_messages(2, timeout=15)
    time.sleep(1.0)
    got = sorted((m["to"], m["text"][len(SIGNATURE):len(SIGNATURE) + 2])
                 for m in CARRIER.messages())
    assert got == [("+8613700000006", "赵一"), ("+8613700000066", "吴六")], got


def test_a_household_notice_stays_when_one_of_them_has_no_phone_now(env):
    c_06_moves_the_notice_stays(env, "")


def test_a_notice_does_not_follow_a_number_given_to_someone_else(env):
    """C-01 changes number and C-01's old one goes to C-09 (another village,
    not in the notice): the notice goes to C-01's new phone, and nothing
    written for C-01 reaches C-09."""
    household_notice(env, ["C-01"])
    reimport(env, ROWS[0].replace("13700000001", "13700000011"),
             ROWS[8].replace("13700000009", "13700000001"))
    [m] = CARRIER.wait_messages(1, timeout=15)
    time.sleep(1.0)
    assert m["to"] == "+8613700000011" and "赵一" in m["text"], m
    assert len(CARRIER.messages()) == 1


def test_started_at_night_goes_at_eight(env):
    setup(env, hour=22)
    answer = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE}, 202)
    assert answer["send_at"] == "2026-12-03T08:00:00+08:00", answer
    due = calendar.timegm((2026, 12, 3, 0, 0, 0, 0, 0, 0))
    assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % due) == 5
    time.sleep(1.5)
    assert CARRIER.messages() == []
    at_local(env, 2026, 12, 3, 7, 59)
    time.sleep(1.5)
    assert CARRIER.messages() == []
    at_local(env, 2026, 12, 3, 8, 0)
    CARRIER.wait_messages(5, timeout=15)
    assert counts(env, answer["id"])["counts"]["sent"] == 5 or wait_until(
        lambda: counts(env, answer["id"])["counts"]["sent"] == 5, 10)


def test_cancel_before_it_goes(env):
    setup(env)
    answer = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE,
                            "send_at": "2026-12-02T10:00:03+08:00"}, 202)
    cid = answer["id"]
    status, got = env.admin("POST", "/v1/campaigns/%s/cancel" % cid)
    assert status == 200 and got["state"] == "cancelled", got
    assert got["counts"]["queued"] == 0 and got["counts"]["skipped"] == 5, got
    assert got["skipped_why"] == {"cancelled": 5}, got
    time.sleep(4.5)
    assert CARRIER.messages() == []
    assert counts(env, cid)["counts"] == {"queued": 0, "sent": 0, "delivered": 0, "failed": 0,
                                          "skipped": 5}
    # a corrected campaign is not blocked by the cancelled one
    again = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE}, 202)
    assert again["recipients"] == 5, again
    CARRIER.wait_messages(5, timeout=10)


def overlapping(env, first_at, second_at):
    """Two unpaid campaigns to the village, the second started while the
    first is pending (as a corrected one is): the second counts its people
    duplicates and holds them. Returns both answers."""
    setup(env)
    body = {"kind": "unpaid_contribution", "filter": VILLAGE}
    first = campaign(env, dict(body, send_at="2026-12-02T10:00:%02d+08:00" % first_at), 202)
    assert first["recipients"] == 5, first
    dry = campaign(env, dict(body, dry_run=True), 200)
    second = campaign(env, dict(body, send_at="2026-12-02T10:00:%02d+08:00" % second_at), 202)
    assert dry["recipients"] == 0 and dry["skipped"]["duplicate"] == 5, dry
    assert second["recipients"] == 0 and second["skipped"]["duplicate"] == 5, second
    assert second["held"] == 5 and first["held"] == 0, (first, second)
    assert second["segments_per_message"] == 0 and second["segments_total"] == 0, second
    got = counts(env, second["id"])
    assert got["state"] == "running" and got["held"] == 5, got
    rc, out, err = env.gatewayctl("campaign", "status", str(second["id"]))
    assert rc == 0 and "5 of the duplicates are pending in another campaign" in out, (out, err)
    assert "duplicate: the same reminder was sent within [reminders] min_interval_hours" in out, out
    rc, out, err = env.gatewayctl("campaign", "preview", "--kind", "unpaid", "--township",
                                  VILLAGE["township"], "--village", VILLAGE["village"])
    assert rc == 0 and "0 recipients" in out and "5 duplicate\n  duplicate: " in out, (out, err)
    return first, second


def sent_once(env, second, wait_s):
    """The village's five reminders went, each once (none more WAIT_S seconds
    later); returns the counts of campaign SECOND, done by then."""
    CARRIER.wait_messages(5, timeout=12)
    time.sleep(wait_s)
    got = sorted((m["to"], m["text"]) for m in CARRIER.messages())
    assert got == sorted((UNPAID_IN_VILLAGE[p], EXPECTED_TEXT[p]) for p in UNPAID_IN_VILLAGE), got
    assert wait_until(lambda: counts(env, second["id"])["state"] == "done", 5)
    got = counts(env, second["id"])
    assert got["held"] == 0, got
    return got


def test_a_corrected_campaign_goes_when_the_first_is_cancelled(env):
    """Started before the first is cancelled: its held reminders go at its
    time, and count as its recipients."""
    first, second = overlapping(env, 6, 6)
    status, got = env.admin("POST", "/v1/campaigns/%s/cancel" % first["id"])
    assert status == 200 and got["state"] == "cancelled", got
    got = sent_once(env, second, 1.5)
    assert got["recipients"] == 5 and got["skipped_at_start"]["duplicate"] == 0, got
    assert got["counts"] == {"queued": 0, "sent": 5, "delivered": 0, "failed": 0,
                             "skipped": 0}, got
    assert counts(env, first["id"])["counts"]["skipped"] == 5


def test_held_reminders_are_dropped_while_the_other_campaign_goes_on(env):
    """Neither cancelled: the first campaign's reminders go, and the second's
    held copies are dropped when they fall due, also days later, when the
    minimum interval since the first's is over."""
    first, second = overlapping(env, 5, 7)
    status, answer = env.admin("POST", "/v1/campaigns", {
        "kind": "unpaid_contribution", "filter": VILLAGE,
        "send_at": "2026-12-05T09:00:00+08:00"})
    assert status == 202 and answer["skipped"]["duplicate"] == 5, answer
    later = answer["id"]
    got = sent_once(env, second, 3.5)
    assert got["recipients"] == 0 and got["skipped_at_start"]["duplicate"] == 5, got
    assert got["counts"] == {"queued": 0, "sent": 0, "delivered": 0, "failed": 0,
                             "skipped": 0}, got
    assert counts(env, first["id"])["counts"]["sent"] == 5
    # three days on, the minimum interval (20 h) since the first's is over
    for key in env.redis("KEYS", "gw:{q}:last:*"):
        env.redis("DEL", key)
    at_local(env, 2026, 12, 5, 9, 0)
    assert wait_until(lambda: counts(env, later)["state"] == "done", 10), counts(env, later)
    assert len(CARRIER.messages()) == 5
    assert counts(env, later)["recipients"] == 0
    assert env.redis("EXISTS", "gw:{q}:held") == 0


def test_a_campaign_due_before_the_one_it_duplicates_holds_its_reminders(env):
    """Started second but due first: its held reminders are dropped, and the
    first campaign's go at their time."""
    first, second = overlapping(env, 8, 5)
    got = sent_once(env, second, 1.5)
    assert got["recipients"] == 0 and got["skipped_at_start"]["duplicate"] == 5, got
    got = counts(env, first["id"])
    assert got["counts"]["sent"] == 5, got


def test_the_first_cancelled_after_the_second_fell_due(env):
    """Due first, the second campaign's held reminders wait for the first's
    time; the first cancelled meanwhile, they go then, as its recipients."""
    first, second = overlapping(env, 9, 4)
    early, later = local_sec(2026, 12, 2, 10, 0) + 4, local_sec(2026, 12, 2, 10, 0) + 10
    assert wait_until(lambda: env.redis("LLEN", "gw:{q}:b:bulk:%d" % later) == 5, 10), \
        env.redis("LLEN", "gw:{q}:b:bulk:%d" % early)
    assert CARRIER.messages() == []
    status, got = env.admin("POST", "/v1/campaigns/%s/cancel" % first["id"])
    assert status == 200 and got["state"] == "cancelled", got
    got = sent_once(env, second, 1.5)
    assert got["recipients"] == 5 and got["counts"]["sent"] == 5, got


def test_held_reminders_waiting_days_keep_their_text(env):
    """Held for a campaign due 12 days later, a reminder waits that long: its
    campaign's text is kept as long (else it could not go if that one is
    cancelled)."""
    setup(env)
    body = {"kind": "unpaid_contribution", "filter": VILLAGE}
    campaign(env, dict(body, send_at="2026-12-14T10:00:00+08:00"), 202)
    second = campaign(env, dict(body, send_at="2026-12-02T10:00:03+08:00"), 202)
    assert second["held"] == 5, second
    later = local_sec(2026, 12, 14, 10) + 1
    assert wait_until(lambda: env.redis("LLEN", "gw:{q}:b:bulk:%d" % later) == 5, 10)
    ttl = int(env.redis("TTL", "gw:{q}:body:c%s" % second["id"]))
    assert ttl > 12 * 86400, ttl


def test_policy_notice_once_per_phone(env):
    setup(env)
    body = {"kind": "policy_notice", "filter": {"township": "青山镇"},
            "text": "12月20日起村卫生室可办理医保缴费。"}
    answer = campaign(env, dict(body, dry_run=True), 200)
    # 8 with a phone, one opted out, the household's second person is a duplicate
    assert answer["recipients"] == 6, answer
    assert answer["skipped"] == {"paid": 0, "opted_out": 1, "no_phone": 1, "duplicate": 1,
                                 "past_due": 0}, answer
    assert answer["segments_per_message"] == 1 and answer["segments_total"] == 6, answer
    answer = campaign(env, body, 202)
    assert answer["recipients"] == 6, answer
    CARRIER.wait_messages(6, timeout=10)
    time.sleep(0.5)
    msgs = CARRIER.messages()
    assert len(msgs) == 6 and len({m["to"] for m in msgs}) == 6, msgs
    assert all(m["text"] == SIGNATURE + body["text"] for m in msgs), msgs


def test_bad_requests_change_nothing(env):
    setup(env)
    cases = [
        ({"kind": "flood"}, 400, "bad_kind"),
        ({"kind": "policy_notice"}, 400, "bad_text"),
        # places nobody of the roster lives in: most likely misspelt
        ({"kind": "unpaid_contribution", "filter": {"village": "上林村"}}, 422, "unknown_place"),
        ({"kind": "policy_notice", "text": "通知", "filter": {"township": "青山乡"}}, 422,
         "unknown_place"),
        ({"kind": "unpaid_contribution", "filter": {"participant_ids": []}}, 400, "bad_filter"),
        ({"kind": "unpaid_contribution", "filter": {"participant_ids": ["a b"]}}, 400,
         "bad_filter"),
        ({"kind": "unpaid_contribution", "filter": {"county": "x"}}, 400, "bad_filter"),
        ({"kind": "unpaid_contribution", "template": "nope"}, 400, "bad_template"),
        ({"kind": "unpaid_contribution", "send_at": "tomorrow"}, 400, "bad_send_at"),
        # a year and more ahead: its recipients would be held from other campaigns
        ({"kind": "unpaid_contribution", "send_at": "2199-01-01T09:00:00+08:00"}, 400,
         "bad_send_at"),
        # the wrong year: not "at once"
        ({"kind": "unpaid_contribution", "send_at": "2025-12-02T09:00:00+08:00"}, 400,
         "bad_send_at"),
        ({"kind": "unpaid_contribution", "dry_run": "yes"}, 400, "bad_request"),
        ({"kind": "unpaid_contribution", "colour": 1}, 400, "bad_request"),
        ({"kind": "policy_notice", "text": "通知" * 200}, 422, "text_too_long"),
    ]
    for body, code, err in cases:
        status, answer = env.admin("POST", "/v1/campaigns", body)
        assert status == code and answer["error"] == err, (body, status, answer)
    assert env.admin("GET", "/v1/campaigns/99")[0] == 404
    assert env.admin("GET", "/v1/campaigns/abc")[0] == 404
    assert env.admin("POST", "/v1/campaigns/99/cancel")[0] == 404
    assert env.admin("POST", "/v1/campaigns", {"kind": "unpaid_contribution"}, token=False)[0] == 401
    # a field given twice is refused: the second "dry_run" must not start it
    for path, text in (("/v1/campaigns", '{"kind":"policy_notice","text":"x","dry_run":true,'
                                         '"dry_run":false}'),
                       ("/v1/messages", '{"to":"13700000001","text":"x","text":"y"}'),
                       ("/v1/incidents", '{"participant_id":"C-01","kind":"accident",'
                                         '"occurred_on":"2026-12-01","occurred_on":"2026-12-02"}'),
                       ("/v1/optouts", '{"phone":"13700000001","action":"remove",'
                                       '"action":"add"}')):
        status, answer = env.admin("POST", path, text, content_type="application/json")
        assert status == 400, (path, status, answer)
        assert path in ("/v1/optouts",) or "duplicate" in answer["message"], (path, answer)
    assert env.redis("KEYS", "gw:{q}:camp:*") == [] and env.redis("KEYS", "gw:{q}:b:*") == []
    assert env.redis("KEYS", "gw:inc:BA*") == [] and env.redis("HLEN", "gw:{q}:optout") == 1


def test_a_village_alone_and_places_not_in_the_roster(env):
    """A village given without its township is the one village of that name;
    one found in two townships is refused naming them, and a township or
    village nobody of the roster lives in is refused naming those there are
    (422: most likely misspelt). Nothing is started by a refusal."""
    setup(env)
    status, answer = env.import_csv(HEADER + "\n" +
                                    "C-20,13700000020,冯十,1020,白水镇,下河村,zh,2026,100,,"
                                    "2026-12-31,10,,,no\n")
    assert status == 200 and answer["imported"] == 1, answer
    alone = campaign(env, {"kind": "unpaid_contribution", "filter": {"village": "上岭村"},
                           "dry_run": True}, 200)
    both = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE, "dry_run": True}, 200)
    assert alone["township"] == "青山镇" and "township" not in both, (alone, both)
    assert alone["recipients"] == both["recipients"] == 5, (alone, both)
    assert alone["skipped"] == both["skipped"], (alone, both)
    # the preview shows the message as its first recipient will get it
    assert alone["sample"].startswith(SIGNATURE + "赵一您好") or \
        alone["sample"].startswith(SIGNATURE + "钱二您好") or \
        alone["sample"].startswith(SIGNATURE + "吴六您好") or \
        alone["sample"].startswith(SIGNATURE + "吴七您好") or \
        alone["sample"].startswith(SIGNATURE + "Hi Ann Lee"), alone
    assert "2026年12月31日" in alone["sample"] or "2026-12-31" in alone["sample"], alone
    notice = campaign(env, {"kind": "policy_notice", "text": "12月10日上午村委会办理缴费",
                            "filter": {"village": "下河村", "township": "白水镇"},
                            "dry_run": True}, 200)
    assert notice["sample"] == SIGNATURE + "12月10日上午村委会办理缴费", notice
    for flt, code, err, key, names in (
            ({"village": "下河村"}, 400, "ambiguous_village", "townships", ["白水镇", "青山镇"]),
            ({"township": "火星乡"}, 422, "unknown_place", "townships", ["白水镇", "青山镇"]),
            ({"township": "青山镇", "village": "火星村"}, 422, "unknown_place", "villages",
             ["上岭村", "下河村"]),
            ({"township": "白水镇", "village": "上岭村"}, 422, "unknown_place", "villages",
             ["下河村"]),
            ({"village": "火星村"}, 422, "unknown_place", "townships", ["白水镇", "青山镇"])):
        for dry in (True, False):
            status, answer = env.admin("POST", "/v1/campaigns", {
                "kind": "policy_notice", "text": "通知", "filter": flt, "dry_run": dry})
            assert (status, answer["error"], answer[key]) == (code, err, names), (flt, answer)
            assert all(n in answer["message"] for n in names), answer
    assert env.redis("KEYS", "gw:{q}:camp:*") == [], "a refused campaign was started"
    # the two 下河村 each by their township: one recipient each
    for tw in ("青山镇", "白水镇"):
        got = campaign(env, {"kind": "unpaid_contribution", "dry_run": True,
                             "filter": {"township": tw, "village": "下河村"}}, 200)
        assert got["recipients"] == 1, (tw, got)
    # a village alone, started: its township's people only
    cid = campaign(env, {"kind": "unpaid_contribution", "filter": {"village": "上岭村"}},
                   202)["id"]
    assert env.redis("HGET", "gw:{q}:camp:" + cid, "recipients") == "5"


def test_places_are_found_again_under_another_redis_process(env):
    """After an update the places are found from the records by HSCAN, its
    cursor kept between calls; one kept under another Redis process (a
    restart, a failover: the hashes are seeded anew) is not followed, the
    walk starts over. Under the same process it goes on from there."""
    setup(env)
    run = re.search(r"run_id:(\w+)", env.redis("INFO", "server")).group(1)
    everywhere = sorted({"%s\x1f%s" % (r.split(",")[4], r.split(",")[5]) for r in ROWS})
    dry = {"kind": "policy_notice", "text": "通知", "dry_run": True}
    for cursor, found in (("o:0:" + "0" * 40, everywhere),   # another process' cursor
                          ("o:0:" + run, [])):               # this one's: class o is left
        env.redis("DEL", "gw:pt:places")
        env.redis("SET", "gw:idx:placemove", cursor)
        env.restart_gatewayd()
        assert wait_until(lambda: env.admin("POST", "/v1/campaigns", dry)[0] == 200, 15)
        assert env.redis("GET", "gw:idx:placemove") == "done"
        assert sorted(env.redis("HKEYS", "gw:pt:places")) == found, cursor


def test_gatewayctl_campaign(env):
    setup(env)
    rc, out, err = env.gatewayctl("campaign", "preview", "--kind", "unpaid", "--township",
                                  "青山镇", "--village", "上岭村")
    assert rc == 0, (out, err)
    assert "5 recipients" in out and "1 paid, 1 opted out, 1 without a phone" in out, out
    assert "spelled" not in out and "to: village 青山镇 上岭村" in out, out
    assert "  the first of them will get:\n    " + SIGNATURE in out, out
    assert "recipients (participant id" not in out, out
    rc, out, err = env.gatewayctl("campaign", "preview", "--kind", "unpaid", "--township",
                                  "青山镇", "--village", "上岭村", "--list")
    assert rc == 0 and "  recipients (participant id, name, phone):\n" in out, (out, err)
    lines = [l.split() for l in out.splitlines() if l.startswith("    C-")]
    assert sorted(l[0] for l in lines) == sorted(UNPAID_IN_VILLAGE), out
    assert ["C-01", "赵一", "+8613700000001"] in lines, out
    rc, out, err = env.gatewayctl("campaign", "preview", "--kind", "unpaid", "--ids", "C-01,X-1")
    assert rc == 0 and ": 1 recipient, 1 SMS part in all" in out, (out, err)
    assert "1 participant id is not in the roster: X-1" in out, out
    assert "to: the 2 participant ids given" in out, out
    # a township nobody lives in: most likely misspelt, and refused naming those there are
    rc, out, err = env.gatewayctl("campaign", "start", "--kind", "notice", "--text", "通知",
                                  "--township", "青山乡")
    assert rc == 1 and 'HTTP 422 unknown_place: no participant of the roster lives in ' \
        'township "青山乡"; its townships: 青山镇' in err, (out, err)
    # a village alone: the township it is in is said
    rc, out, err = env.gatewayctl("campaign", "preview", "--kind", "unpaid", "--village", "下河村")
    assert rc == 0 and ": 1 recipient" in out and "to: village 青山镇 下河村" in out, (out, err)
    rc, out, err = env.gatewayctl("campaign", "preview", "--kind", "notice", "--text", "通知")
    assert rc == 0 and "to: everyone in the roster" in out, (out, err)
    # a start to everyone is said so: without --everyone it is refused, nothing started
    rc, out, err = env.gatewayctl("campaign", "start", "--kind", "notice", "--text", "通知")
    assert rc == 2 and "goes to everyone in the roster" in err and "--everyone" in err, (out, err)
    assert env.redis("KEYS", "gw:{q}:camp:*") == [], "started without --everyone"
    rc, out, err = env.gatewayctl("campaign", "start", "--kind", "notice", "--text", "通知",
                                  "--township", "青山镇", "--everyone")
    assert rc == 2 and "--everyone is instead of" in err, (out, err)
    # a township typed in a GBK terminal is refused, not left out (which was everyone)
    gbk = "青山镇".encode("gbk").decode("utf-8", "surrogateescape")
    rc, out, err = env.gatewayctl("campaign", "start", "--kind", "notice", "--text", "通知",
                                  "--township", gbk)
    assert rc == 2 and "the value of --township is not UTF-8 text" in err, (out, err)
    assert env.redis("KEYS", "gw:{q}:camp:*") == [], "started with a township left out"
    rc, out, err = env.gatewayctl("campaign", "start", "--kind", "unpaid", "--ids",
                                  "C-01,C-02,C-09", "--at", "2026-12-02T10:00:03+08:00")
    assert rc == 0 and "3 recipients" in out, (out, err)
    cid = out.split("campaign ", 1)[1].split(":", 1)[0]
    rc, out, err = env.gatewayctl("campaign", "status", cid, "--watch", timeout=30)
    assert rc == 0 and "done" in out and "100%" in out, (out, err)
    rc, out, err = env.gatewayctl("campaign", "status", cid)
    assert rc == 0 and "sent 3" in out, (out, err)
    rc, out, err = env.gatewayctl("campaign", "start", "--kind", "sometimes")
    assert rc == 2, (rc, out, err)
    # not gone yet and due tomorrow: it waits, and says until when (gatewayctl on
    # the daemon's clock, moved to 2026-12-02 10:00)
    later = campaign(env, {"kind": "policy_notice", "filter": VILLAGE, "text": "通知",
                           "send_at": "2026-12-03T09:00:00+08:00"}, 202)
    os.environ["GW_CLOCK_OFFSET_S"] = str(round(calendar.timegm((2026, 12, 2, 2, 0, 0, 0, 0, 0))
                                                - time.time()))
    try:
        rc, out, err = env.gatewayctl("campaign", "status", str(later["id"]))
    finally:
        del os.environ["GW_CLOCK_OFFSET_S"]
    assert rc == 0 and "waiting" in out and "(goes at 2026-12-03T09:00:00+08:00)" in out, out
    # --everyone: the whole roster, as asked
    rc, out, err = env.gatewayctl("campaign", "start", "--kind", "notice", "--text", "全县通知",
                                  "--everyone", "--at", "2026-12-03T09:00:00+08:00")
    assert rc == 0 and "to: everyone in the roster" in out and "6 recipients" in out, (out, err)


def local_sec(y, m, d, hh, mm=0):
    return calendar.timegm((y, m, d, hh - 8, mm, 0, 0, 0, 0))


def test_automatic_unpaid_reminders_follow_the_roster(env):
    auto = {"reminders": {"unpaid_offsets_days": "7,1"}}
    at_local(env, 2026, 12, 2, 10, overrides=auto, fresh=True)
    roster = "\n".join([HEADER] + ROWS) + "\n"
    status, answer = env.import_csv(roster)
    assert status == 200 and answer["rejected"] == [], answer
    env.admin("POST", "/v1/optouts", {"phone": "13700000005", "action": "add"})
    d24, d30 = local_sec(2026, 12, 24, 8), local_sec(2026, 12, 30, 8)
    # unpaid with a phone: C-01 C-02 C-05 C-06 C-07 C-08 C-09, 7 and 1 days before 12-31
    assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % d24) == 7
    assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % d30) == 7
    # the same roster again adds nothing
    status, answer = env.import_csv(roster)
    assert status == 200 and answer["unchanged"] == 9, answer
    assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % d24) == 7
    # C-01's due date moves to 2027-01-15: new reminders, the old ones will not go;
    # C-02 pays; C-08 draws a pension now and owes no contribution
    moved = ROWS[0].replace("2026-12-31", "2027-01-15")
    paid = ROWS[1].replace("2026,200,0,", "2026,200,200,")
    pensioner = ROWS[7].replace(",en,2026,100,,2026-12-31,10,,,", ",en,,,,,10,150,2026-11-15,")
    status, answer = env.import_csv("\n".join([HEADER, moved, paid, pensioner]) + "\n")
    assert status == 200 and answer["updated"] == 3, answer
    assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % local_sec(2027, 1, 8, 8)) == 1
    assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % d24) == 7
    time.sleep(1.5)
    assert CARRIER.messages() == []
    # 2026-12-24 08:00: C-06 C-07 C-09 get theirs
    at_local(env, 2026, 12, 24, 8, overrides=auto)
    CARRIER.wait_messages(3, timeout=15)
    time.sleep(1.0)
    got = sorted(m["to"] for m in CARRIER.messages())
    assert got == ["+8613700000006", "+8613700000006", "+8613700000009"], got
    assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                         {"reason": "rescheduled"}) == 1, 5)
    assert env.metric("gateway_reminders_skipped_total", {"reason": "no_contribution"}) == 1
    assert env.metric("gateway_reminders_skipped_total", {"reason": "paid"}) == 1
    assert env.metric("gateway_reminders_skipped_total", {"reason": "opted_out"}) == 1


def test_after_the_due_date_an_unpaid_campaign_reminds_nobody(env):
    """In January the unpaid of 2026 (due 2026-12-31) can no longer pay by that
    day: a reminder would ask them to. The preview counts them apart
    (past_due) and a start queues nothing."""
    setup(env)
    # at 21:00 on the due date it goes at tomorrow's opening: past it already
    at_local(env, 2026, 12, 31, 21)
    got = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE, "dry_run": True}, 200)
    assert got["recipients"] == 0 and got["skipped"]["past_due"] == 7, got
    at_local(env, 2027, 1, 5, 10)
    got = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE, "dry_run": True}, 200)
    # the five unpaid with a phone, the one without and the one opted out: all past it
    assert got["recipients"] == 0 and got["skipped"]["past_due"] == 7, got
    assert got["skipped"]["paid"] == 1, got
    rc, out, err = env.gatewayctl("campaign", "preview", "--kind", "unpaid", "--township",
                                  "青山镇", "--village", "上岭村")
    assert rc == 0 and "whose last day to pay has passed" in out, (out, err)
    started = campaign(env, {"kind": "unpaid_contribution", "filter": VILLAGE}, 202)
    assert started["recipients"] == 0, started
    status, got = env.admin("GET", "/v1/campaigns/%s" % started["id"])
    assert status == 200 and got["skipped_at_start"]["past_due"] == 7, got
    time.sleep(1.0)
    assert CARRIER.messages() == []


def test_a_roster_corrected_back_and_forth_sends_one_reminder(env):
    """Paid, then unpaid again on the same day: the reminders queued for the
    first unpaid spell are still in the queue beside the new ones. Even with
    no minimum interval between reminders, one goes."""
    auto = {"reminders": {"unpaid_offsets_days": "7", "min_interval_hours": "0"}}
    at_local(env, 2026, 12, 2, 10, overrides=auto, fresh=True)
    unpaid = ROWS[8]
    paid = unpaid.replace("2026,100,,", "2026,100,100,")
    for row in (unpaid, paid, unpaid):
        status, answer = env.import_csv("\n".join([HEADER, row]) + "\n")
        assert status == 200 and answer["rejected"] == [], answer
    assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % local_sec(2026, 12, 24, 8)) == 2
    at_local(env, 2026, 12, 24, 8, overrides=auto)
    CARRIER.wait_messages(1, timeout=15)
    assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                         {"reason": "duplicate"}) == 1, 5)
    assert [m["to"] for m in CARRIER.messages()] == ["+8613700000009"]


def test_a_participant_given_twice_in_one_file_is_imported_once(env):
    """Two rows with one participant_id (unpaid, then paid) say different
    things: the first is imported, the later one rejected naming the first's
    line. Before, both were applied in turn, and every import of the same
    file queued that person's reminders again."""
    auto = {"reminders": {"unpaid_offsets_days": "7"}}
    at_local(env, 2026, 12, 2, 10, overrides=auto, fresh=True)
    unpaid = ROWS[8]
    paid = unpaid.replace("2026,100,,", "2026,100,100,")
    roster = "\n".join([HEADER, unpaid, ROWS[0], paid]) + "\n"
    d24 = local_sec(2026, 12, 24, 8)
    for _ in range(3):
        status, answer = env.import_csv(roster)
        assert status == 200 and [r["line"] for r in answer["rejected"]] == [4], answer
        reason = answer["rejected"][0]["reason"]
        assert "C-09 is given twice" in reason and "line 2" in reason, reason
        assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % d24) == 2     # C-09 and C-01, once
    status, got = env.admin("GET", "/v1/participants/C-09")
    assert status == 200 and got["contribution_paid_yuan"] in (None, 0, "0", "0.00"), got


def test_last_years_roster_by_mistake_then_this_years(env):
    """A file of last year imported by mistake (due dates past: nothing to
    schedule) and then the right one again: the reminders are scheduled
    anew and one goes, where before the stale mark left none."""
    auto = {"reminders": {"unpaid_offsets_days": "7"}}
    at_local(env, 2026, 12, 20, 10, overrides=auto, fresh=True)
    row = ROWS[8]
    d24 = local_sec(2026, 12, 24, 8)
    for r, queued in ((row, 1), (row.replace("2026-12-31", "2025-12-31"), 1), (row, 2)):
        status, answer = env.import_csv("\n".join([HEADER, r]) + "\n")
        assert status == 200 and answer["rejected"] == [], answer
        assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % d24) == queued, r
    at_local(env, 2026, 12, 24, 8, overrides=auto)
    CARRIER.wait_messages(1, timeout=15)
    assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                         {"reason": "duplicate"}) == 1, 5)
    assert [m["to"] for m in CARRIER.messages()] == ["+8613700000009"]


def test_a_roster_imported_on_the_due_date_reminds_at_once(env):
    """The due date is the last day to pay: a participant imported on it, while
    the send window is open, is reminded then; after the window has closed,
    not at all (tomorrow the date has passed)."""
    auto = {"reminders": {"unpaid_offsets_days": "7,1"}}
    at_local(env, 2026, 12, 31, 10, overrides=auto, fresh=True)
    status, answer = env.import_csv("\n".join([HEADER, ROWS[8]]) + "\n")
    assert status == 200 and answer["rejected"] == [], answer
    CARRIER.wait_messages(1, timeout=15)
    # "at the latest on" the due date: on that day "before it" would read as too late
    assert [(m["to"], m["text"]) for m in CARRIER.messages()] == [
        ("+8613700000009", reminder_zh("郑九", 100))]
    assert "请最迟于2026年12月31日缴费" in reminder_zh("郑九", 100)
    at_local(env, 2026, 12, 31, 21, overrides=auto, fresh=True)
    status, answer = env.import_csv("\n".join([HEADER, ROWS[0]]) + "\n")
    assert status == 200 and answer["imported"] == 1, answer
    assert env.redis("HGET", "gw:{q}:n", "bulk") in (None, "0")
    time.sleep(1.0)
    assert CARRIER.messages() == []


MEMBER_ROW = "C-10,13700000010,冯十,1010,白水乡,石桥村,zh,2026,100,100,2026-12-31,10,,,yes"


def member_accident(env):
    """Wednesday 2026-12-02 10:00: member C-10 imported, staff register their
    accident of the day before (deadline Friday 2026-12-04). Its reference."""
    at_local(env, 2026, 12, 2, 10, fresh=True)
    status, answer = env.import_csv(HEADER + "\n" + MEMBER_ROW + "\n")
    assert status == 200 and answer["rejected"] == [], answer
    status, answer = env.admin("POST", "/v1/incidents", {
        "participant_id": "C-10", "kind": "accident", "occurred_on": "2026-12-01"})
    assert status == 201 and answer["deadline"] == "2026-12-04", answer
    return answer["reference"]


def test_incident_reminders_stop_when_the_member_reports(env):
    """Staff register an accident on Wednesday 2026-12-02 10:00 (occurred the day
    before): the member is reminded at once and is due reminders on the
    deadline's eve and on the last day (deadline 2026-12-04: 12-03 and 12-04 at
    08:00); reporting on USSD menu 4 stops both."""
    ref = member_accident(env)
    [m] = CARRIER.wait_messages(1, timeout=10)
    assert m["to"] == "+8613700000010", m
    # it names the accident's day, and how to report it: USSD menu 4
    assert m["text"] == (SIGNATURE + "冯十您好，您2026年12月1日发生的意外伤害，互助保障请最迟在"
                         "2026年12月4日报案，逾期不能理赔。可拨*120*12345#主菜单选4报案"
                         "（共用手机先选本人），也可找村协理员或打12333。登记号%s" % ref), m
    eve, day = local_sec(2026, 12, 3, 8), local_sec(2026, 12, 4, 8)
    assert env.redis("LLEN", "gw:{q}:b:prio:%d" % eve) == 1
    assert env.redis("LLEN", "gw:{q}:b:prio:%d" % day) == 1
    # the member reports it on USSD menu 4: accident, date 1201
    session = "it-claim-%d" % time.time_ns()
    for text in ("", "4", "4*1"):
        env.ussd_at(session, "13700000010", text)
    kind, screen = env.ussd_at(session, "13700000010", "4*1*1201")
    assert kind == "END" and ref in screen, screen
    assert env.redis("HGET", "gw:inc:" + ref, "state") == "reported"
    # staff typing in the paper form afterwards: the same incident, no reminder
    status, again = env.admin("POST", "/v1/incidents", {
        "participant_id": "C-10", "kind": "accident", "occurred_on": "2026-12-01"})
    assert status == 200 and again["reference"] == ref and again["state"] == "reported", again
    at_local(env, 2026, 12, 3, 8)
    assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                         {"reason": "reported"}) == 1, 10)
    at_local(env, 2026, 12, 4, 8)
    assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                         {"reason": "reported"}) == 2, 10)
    assert env.redis("LLEN", "gw:{q}:b:prio:%d" % day) == 0
    assert len(CARRIER.messages()) == 1


def test_incident_reminders_stop_when_staff_record_the_report(env):
    """The member reported the accident at the township office: staff record it
    (gatewayctl incident reported REF), and the eve's and last day's reminders
    do not go."""
    ref = member_accident(env)
    CARRIER.wait_messages(1, timeout=10)
    rc, out, err = env.gatewayctl("incident", "reported", ref)
    assert rc == 0 and "recorded as reported: no more reminders" in out, (out, err)
    for day, skipped in ((3, 1), (4, 2)):
        at_local(env, 2026, 12, day, 8)
        assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                             {"reason": "reported"}) == skipped, 10)
    assert len(CARRIER.messages()) == 1
    # a claim campaign no longer counts it
    got = campaign(env, {"kind": "claim_report", "filter": {}, "dry_run": True}, 200)
    assert got["recipients"] == 0, got


def test_unreported_claim_is_reminded_on_the_eve_and_the_last_day(env):
    """Not reported: the member hears at once, on the deadline's eve and on the
    last day (each at 08:00), and nothing after the deadline."""
    ref = member_accident(env)
    CARRIER.wait_messages(1, timeout=10)
    last_day = last_day_text("2026年12月4日", ref)
    # the daemon's clock moves a day at a time, Redis' does not: the eve's
    # last-send mark (kept min_interval_hours, 20) is still there on the last
    # day, which must not make the last day's reminder a duplicate of it
    for n, day in ((2, 3), (3, 4)):
        at_local(env, 2026, 12, day, 8)
        msgs = CARRIER.wait_messages(n, timeout=10)
        assert msgs[-1]["to"] == "+8613700000010" and msgs[-1]["text"] == last_day, msgs[-1]
    at_local(env, 2026, 12, 5, 8)
    time.sleep(1.5)
    assert len(CARRIER.messages()) == 3
    assert env.redis("ZCARD", "gw:{q}:sched:bulk") == 0


def last_day_text(day, ref, occurred=None):
    """C-10's reminder of the eve and of the last day of claim REF, due DAY, for
    an accident on OCCURRED (the day the reference names)."""
    if occurred is None:
        occurred = "%d年%d月%d日" % (int(ref[2:6]), int(ref[6:8]), int(ref[8:10]))
    return (SIGNATURE + "冯十您好，您%s发生的意外伤害，互助保障报案最后一天是%s，逾期不能理赔。"
            "请尽快拨*120*12345#主菜单选4（共用手机先选本人），也可找村协理员或打12333。"
            "登记号%s" % (occurred, day, ref))


def judged_again(env, when, overrides, ref, deadline):
    """gatewayd restarted at WHEN (y, m, d, hour) with OVERRIDES (a calendar
    since which REF's deadline is DEADLINE, later): it is moved, with two
    reminders for the new dates."""
    mark = env.log_size()
    at_local(env, *when, overrides=overrides)
    assert wait_until(lambda: "judged by the calendar" in env.log_since(mark), 10), \
        env.log_since(mark)
    assert "1 deadlines moved later (2 reminders queued" in env.log_since(mark)
    assert env.redis("HGET", "gw:inc:" + ref, "deadline") == deadline


def year_end_accident(env, cal27, reminders=None, at=(2026, 12, 29, 10)):
    """Tuesday 2026-12-29 10:00 (or AT: y, m, d, hour), 2027 without a calendar
    file: member C-10's accident of 2026-12-29 gets Friday 2027-01-01 (weekends
    only), and its reminder at once goes (inside the send window). CAL27 is the
    text of a 2027 file (a test's, not the notice) for later. Returns the
    reference and the overrides before and after that file is loaded (with
    [reminders] REMINDERS)."""
    cal26 = os.path.join(REPO, "ops", "calendars", "CN-2026.tsv")
    path = os.path.join(env.dir, "CN-2027.tsv")
    with open(path, "w", encoding="utf-8") as f:
        f.write(cal27)
    before = {"calendar": {"files": cal26}, "reminders": reminders or {}}
    after = {"calendar": {"files": cal26 + ", " + path}, "reminders": reminders or {}}
    at_local(env, *at, overrides=before, fresh=True)
    status, answer = env.import_csv(HEADER + "\n" + MEMBER_ROW + "\n")
    assert status == 200 and answer["rejected"] == [], answer
    status, answer = env.admin("POST", "/v1/incidents", {
        "participant_id": "C-10", "kind": "accident", "occurred_on": "2026-12-29"})
    assert status == 201 and answer["deadline"] == "2027-01-01", answer
    if 8 <= at[3] < 20:
        CARRIER.wait_messages(1, timeout=10)
    return answer["reference"], before, after


def test_claim_reminders_follow_a_deadline_the_calendar_moves_later(env):
    """An accident of Tuesday 2026-12-29, registered while 2027 had no calendar
    file, gets Friday 2027-01-01 (weekends only). Once 2027's file is loaded
    (New Year's Day a holiday), the deadline is Monday 2027-01-04 and the
    member is reminded on the new eve and last day, not on the old ones."""
    ref, _, after = year_end_accident(
        env, "2027-01-01\toff\t元旦\n2027-01-02\toff\t元旦\n2027-01-03\toff\t元旦\n")
    judged_again(env, (2026, 12, 29, 11), after, ref, "2027-01-04")
    for sec, letter in ((local_sec(2026, 12, 31, 8), "l"), (local_sec(2027, 1, 1, 8), "d"),
                        (local_sec(2027, 1, 3, 8), "l"), (local_sec(2027, 1, 4, 8), "d")):
        [m] = env.redis("LRANGE", "gw:{q}:b:prio:%d" % sec, 0, -1)
        assert m.endswith(":%s,0,C-10,%s" % (letter, ref)), (sec, m)
    # the old eve and last day pass by; the new ones name the new date
    for n, (y, m, d) in enumerate(((2026, 12, 31), (2027, 1, 1))):
        at_local(env, y, m, d, 8, overrides=after)
        assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                             {"reason": "rescheduled"}) == n + 1, 10)
    last_day = last_day_text("2027年1月4日", ref)
    for n, day in ((2, 3), (3, 4)):
        at_local(env, 2027, 1, day, 8, overrides=after)
        msgs = CARRIER.wait_messages(n, timeout=10)
        assert msgs[-1]["text"] == last_day, msgs[-1]
    assert len(CARRIER.messages()) == 3
    env.restart_gatewayd()


def test_a_deadline_moved_at_night_is_reminded_on_its_new_eve(env):
    """The old eve's reminder went on 2026-12-31; that night 2027's file comes
    (New Year's Day off, Saturday 2027-01-02 a working day): the deadline is
    2027-01-02, and the member hears on the new eve (the next morning: the
    earlier one does not make it a duplicate) and on the new last day."""
    ref, before, after = year_end_accident(
        env, "2027-01-01\toff\t元旦\n2027-01-02\tworkday\t元旦\n", {"min_interval_hours": 30})
    at_local(env, 2026, 12, 31, 8, overrides=before)
    CARRIER.wait_messages(2, timeout=10)
    judged_again(env, (2026, 12, 31, 21), after, ref, "2027-01-02")
    last_day = last_day_text("2027年1月2日", ref)
    for n, day in ((3, 1), (4, 2)):
        at_local(env, 2027, 1, day, 8, overrides=after)
        msgs = CARRIER.wait_messages(n, timeout=10)
        assert msgs[-1]["text"] == last_day, msgs[-1]
    assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                         {"reason": "rescheduled"}) == 1, 10)
    time.sleep(1.0)
    assert len(CARRIER.messages()) == 4
    env.restart_gatewayd()


def test_a_deadline_moved_before_the_reminder_at_once_went_is_told_once(env):
    """Registered at 21:00 on 2026-12-31 (deadline 2027-01-01): its one
    reminder goes at 08:00 the next day, with the last day's text. Moved that
    night to 2027-01-02, no eve's reminder is queued beside it; the member hears
    once that morning, of the new date, and on the new last day."""
    ref, _, after = year_end_accident(
        env, "2027-01-01\toff\t元旦\n2027-01-02\tworkday\t元旦\n", at=(2026, 12, 31, 21))
    mark = env.log_size()
    at_local(env, 2026, 12, 31, 22, overrides=after)
    assert wait_until(lambda: "1 deadlines moved later (1 reminders queued" in
                      env.log_since(mark), 10), env.log_since(mark)
    for n, day in ((1, 1), (2, 2)):
        at_local(env, 2027, 1, day, 8, overrides=after)
        msgs = CARRIER.wait_messages(n, timeout=10)
        assert msgs[-1]["text"] == last_day_text("2027年1月2日", ref), msgs[-1]
    time.sleep(1.0)
    assert len(CARRIER.messages()) == 2
    env.restart_gatewayd()


def test_registered_again_with_a_phone_the_reminders_follow_the_stored_deadline(env):
    """Registered under accident_days = 5 while the member had no phone
    (deadline Monday 2026-12-07, no reminders); registered again under 3 days
    once the roster has a phone: the stored deadline stands, and its eve's and
    last day's reminders are planned for it, not for 2026-12-04."""
    at_local(env, 2026, 12, 2, 10, overrides={"claims": {"accident_days": 5}}, fresh=True)
    status, got = env.import_csv(HEADER + "\n" + MEMBER_ROW.replace("13700000010", "") + "\n")
    assert status == 200, got
    body = {"participant_id": "C-10", "kind": "accident", "occurred_on": "2026-12-01"}
    status, answer = env.admin("POST", "/v1/incidents", body)
    assert status == 201 and answer["deadline"] == "2026-12-07", answer
    ref = answer["reference"]
    at_local(env, 2026, 12, 2, 10)
    reimport(env, MEMBER_ROW)
    status, again = env.admin("POST", "/v1/incidents", body)
    assert status == 200 and again["reference"] == ref, again
    assert again["deadline"] == "2026-12-07" and again["reminders"] == 3, again
    assert env.redis("HGET", "gw:inc:" + ref, "reminded_for") == "2026-12-07"
    for sec, letter in ((local_sec(2026, 12, 6, 8), "l"), (local_sec(2026, 12, 7, 8), "d")):
        [m] = env.redis("LRANGE", "gw:{q}:b:prio:%d" % sec, 0, -1)
        assert m.endswith(":%s,0,C-10,%s" % (letter, ref)), (sec, m)
    env.restart_gatewayd()


def test_registered_again_a_deadline_stored_earlier_is_made_the_laws(env):
    """An open incident without reminders whose stored deadline is earlier than
    the law's now (a daemon with a calendar missing a holiday stored it):
    registered again with a phone, it gets the law's deadline and its
    reminders."""
    at_local(env, 2026, 12, 2, 10, fresh=True)
    reimport_new = HEADER + "\n" + MEMBER_ROW.replace("13700000010", "") + "\n"
    assert env.import_csv(reimport_new)[0] == 200
    body = {"participant_id": "C-10", "kind": "accident", "occurred_on": "2026-12-01"}
    status, answer = env.admin("POST", "/v1/incidents", body)
    assert status == 201 and answer["deadline"] == "2026-12-04", answer
    env.redis("HSET", "gw:inc:" + answer["reference"], "deadline", "2026-12-03")
    reimport(env, MEMBER_ROW)
    status, again = env.admin("POST", "/v1/incidents", body)
    assert status == 200 and again["deadline"] == "2026-12-04", again
    assert again["reminders"] == 3, again
    assert env.redis("HGET", "gw:inc:" + answer["reference"], "deadline") == "2026-12-04"


def test_a_deadline_an_older_version_moved_keeps_its_reminders(env):
    """An incident whose deadline an older version moved later (its reminders
    left at the old times, no reminded_for): they still go, naming the new
    date, rather than being skipped with nothing in their place."""
    ref = member_accident(env)
    CARRIER.wait_messages(1, timeout=10)
    env.redis("HSET", "gw:inc:" + ref, "deadline", "2026-12-07")
    env.redis("HDEL", "gw:inc:" + ref, "reminded_for")
    for n, day in ((2, 3), (3, 4)):
        at_local(env, 2026, 12, day, 8)
        msgs = CARRIER.wait_messages(n, timeout=10)
        assert "2026年12月7日" in msgs[-1]["text"], msgs[-1]


def test_an_eve_reminder_late_until_the_last_day_does_not_go_beside_it(env):
    """gatewayd down all of the eve (2026-12-03) and back at 21:30: the eve's
    reminder waits for the morning, the last day, and then only that day's
    own reminder (the same text) goes."""
    ref = member_accident(env)
    CARRIER.wait_messages(1, timeout=10)
    at_local(env, 2026, 12, 3, 21, 30)
    day = local_sec(2026, 12, 4, 8)
    assert wait_until(lambda: env.redis("LLEN", "gw:{q}:b:prio:%d" % day) == 2, 10)
    at_local(env, 2026, 12, 4, 8)
    msgs = CARRIER.wait_messages(2, timeout=10)
    assert msgs[-1]["text"] == last_day_text("2026年12月4日", ref), msgs[-1]
    assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                         {"reason": "expired"}) == 1, 10)
    time.sleep(1.0)
    assert len(CARRIER.messages()) == 2


def test_claim_reminders_go_ahead_of_a_campaign_backlog(env, throttled=False):
    """A carrier account of one SMS a second, seven notices of a campaign
    waiting: the reminder of a claim registered after them goes next, not
    last (its window is the law's); also when the carrier throttles it once
    (it goes back among the claim reminders)."""
    at_local(env, 2026, 12, 2, 10, overrides={"provider at": {"max_tps": 1}}, fresh=True)
    if throttled:
        CARRIER.set_mode("throttle", number="+8613700000010", count=1, retry_after=1)
    status, answer = env.import_csv("\n".join([HEADER] + ROWS + [MEMBER_ROW]) + "\n")
    assert status == 200 and answer["rejected"] == [], answer
    answer = campaign(env, {"kind": "policy_notice", "filter": {"township": "青山镇"},
                            "text": "12月20日起村卫生室可办理医保缴费。"}, 202)
    assert answer["recipients"] == 7, answer
    time.sleep(1.2)             # the notices' second is an older one than the claim's
    status, answer = env.admin("POST", "/v1/incidents", {
        "participant_id": "C-10", "kind": "accident", "occurred_on": "2026-12-01"})
    assert status == 201, answer
    msgs = CARRIER.wait_messages(8, timeout=20)
    order = [m["to"] for m in msgs]
    assert order.index("+8613700000010") <= 4, order
    CARRIER.set_mode("ok")
    env.restart_gatewayd()


def test_a_throttled_claim_reminder_stays_ahead_of_a_campaign_backlog(env):
    test_claim_reminders_go_ahead_of_a_campaign_backlog(env, throttled=True)


NOTICE_AT_NINE = {"kind": "policy_notice", "filter": {}, "send_at": "2026-12-03T09:00:00+08:00",
                  "text": "12月20日起村卫生室可办理医保缴费。"}


def county(env):
    """Imports 40,000 participants (ops/gen_roster.py); returns the roster's
    text and NOTICE_AT_NINE's dry run."""
    at_local(env, 2026, 12, 2, 10, fresh=True)
    roster = subprocess.run(["python3", os.path.join(REPO, "ops", "gen_roster.py"), "-n", "40000",
                             "--seed", "7"], check=True, capture_output=True, text=True).stdout
    status, answer = env.import_csv(roster, timeout=300)
    assert status == 200, answer
    dry = campaign(env, dict(NOTICE_AT_NINE, dry_run=True), 200)
    assert dry["recipients"] > 20000, dry
    return roster, dry


def notice_pids(env):
    """The participant ids NOTICE_AT_NINE queued (campaign 1), in order."""
    due = calendar.timegm((2026, 12, 3, 1, 0, 0, 0, 0, 0))
    return [m.split(":", 5)[5].split(",")[2]
            for m in env.redis("LRANGE", "gw:{q}:b:bulk:%d" % due, 0, -1)]


def start_and_kill_midway(env):
    """Imports 40,000 participants, starts NOTICE_AT_NINE and kills gatewayd
    (-9) while it fans out; returns the dry run's answer."""
    _, dry = county(env)

    def start():
        try:
            env.admin("POST", "/v1/campaigns", NOTICE_AT_NINE, timeout=120)
        except Exception:       # the daemon is killed while it works: no answer
            pass

    t = threading.Thread(target=start)
    t.daemon = True
    t.start()
    assert wait_until(lambda: int(env.redis("HGET", "gw:{q}:camp:1", "recipients") or 0) > 0, 60)
    env.kill_gatewayd()
    assert env.redis("HGET", "gw:{q}:camp:1", "state") == "fanning_out", \
        "the fan-out finished before the kill; the test needs a bigger roster"
    cut = int(env.redis("HGET", "gw:{q}:camp:1", "recipients"))
    assert 0 < cut < dry["recipients"], (cut, dry["recipients"])
    return dry


def resumed_queues_each_once(env, dry):
    """Restarts gatewayd, waits for the fan-out it takes over to end, and
    checks that every recipient of DRY is queued once."""
    at_local(env, 2026, 12, 2, 10)
    assert wait_until(lambda: env.redis("HGET", "gw:{q}:camp:1", "state") == "running", 60), \
        env.redis("HGETALL", "gw:{q}:camp:1")
    got = counts(env, 1)
    assert got["recipients"] == dry["recipients"], (got, dry)
    assert got["counts"]["queued"] == dry["recipients"], got
    pids = notice_pids(env)
    assert len(pids) == dry["recipients"], (len(pids), dry["recipients"])
    assert len(set(pids)) == len(pids), (len(pids), len(set(pids)))
    assert env.redis("SMEMBERS", "gw:{q}:camp:fanning") == []
    assert "resuming a fan-out cut short" in env.log_text()
    return got


def test_people_an_import_moves_while_a_notice_fans_out_are_reached(env):
    """A new year's roster makes the paid unpaid again while a policy notice to
    everyone walks the paid: those the walk had not reached move into the
    unpaid, which it has walked. It reads them after the classes, and every
    phone gets the notice once, as the dry run said."""
    roster, dry = county(env)
    rows = list(csv.reader(io.StringIO(roster)))
    paid = rows[0].index("contribution_paid_yuan")
    unpaid = [r[:paid] + ["0"] + r[paid + 1:] for r in rows[1:] if r[paid] not in ("", "0")]
    assert len(unpaid) > 10000, len(unpaid)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([rows[0]] + unpaid)
    t = threading.Thread(target=env.admin, args=("POST", "/v1/campaigns", NOTICE_AT_NINE),
                         kwargs={"timeout": 300}, daemon=True)
    t.start()
    # the walk has done the unpaid and begun the paid
    assert wait_until(lambda: (env.redis("HGET", "gw:{q}:camp:1", "cursor") or "")
                      .startswith("1:"), 60), env.redis("HGETALL", "gw:{q}:camp:1")
    status, answer = env.import_csv(text.getvalue(), timeout=300)
    assert status == 200 and answer["updated"] == len(unpaid), answer
    t.join(300)
    assert env.redis("HGET", "gw:{q}:camp:1", "state") == "running"
    pids = notice_pids(env)
    assert len(set(pids)) == len(pids), (len(pids), len(set(pids)))
    assert len(pids) == dry["recipients"], (len(pids), dry["recipients"])
    assert counts(env, 1)["recipients"] == dry["recipients"], counts(env, 1)
    assert env.redis("EXISTS", "gw:{q}:camp:1:moved") == 0


def test_fan_out_killed_midway_resumes_without_duplicates(env):
    """gatewayd is killed (-9) in the middle of a 40,000-participant fan-out; the
    next daemon takes the fan-out over from its last recorded chunk: every
    recipient of the dry run is queued exactly once."""
    dry = start_and_kill_midway(env)
    got = resumed_queues_each_once(env, dry)
    assert got["skipped_at_start"] == dry["skipped"], (got, dry)


def test_fan_out_resumed_under_another_redis_process_starts_its_class_over(env):
    """An HSCAN cursor means something only to the Redis process that gave
    it: after a restart or a failover the hashes are ordered anew, and
    carrying on from it passes over people. A fan-out whose cursor was
    recorded under another process (its run_id) walks that class again:
    every recipient of the dry run is queued, once."""
    dry = start_and_kill_midway(env)
    run = env.redis("HGET", "gw:{q}:camp:1", "walk_run")
    assert run and len(run) == 40, run
    # as another process would have it: a cursor near the end of the class
    k = int(env.redis("HGET", "gw:{q}:camp:1", "cursor").split(":")[0])
    cls = env.redis("HGET", "gw:{q}:camp:1", "classes")[k]
    c, late = "0", "0"
    while True:
        c, _ = env.redis("HSCAN", "gw:pt:" + cls, c, "COUNT", 2000)
        if c == "0":
            break
        late = c
    env.redis("HSET", "gw:{q}:camp:1", "cursor", "%d:%s" % (k, late), "walk_run", "f" * 40)
    resumed_queues_each_once(env, dry)
    assert "Redis was restarted or replaced since its cursor was recorded" in env.log_text()


def test_cancel_midway_sends_no_more(env):
    """One SMS a second: two or so go, then the campaign is cancelled; the rest
    never go, and every message is counted once (sent or skipped)."""
    at_local(env, 2026, 12, 2, 10, overrides={"provider at": {"max_tps": 1}}, fresh=True)
    status, answer = env.import_csv("\n".join([HEADER] + ROWS) + "\n")
    assert status == 200, answer
    answer = campaign(env, {"kind": "policy_notice", "filter": VILLAGE,
                            "text": "Notice: the clinic is open on Saturday."}, 202)
    cid, total = answer["id"], answer["recipients"]
    assert total == 6, answer          # 8 in the village, one without a phone, one household
    CARRIER.wait_messages(2, timeout=10)
    status, got = env.admin("POST", "/v1/campaigns/%s/cancel" % cid)
    assert status == 200 and got["state"] == "cancelled", got
    sent_at_cancel = len(CARRIER.messages())
    time.sleep(3.5)
    sent = len(CARRIER.messages())
    assert sent <= sent_at_cancel + 1 and sent < total, (sent_at_cancel, sent, total)
    got = counts(env, cid)["counts"]
    assert got["queued"] == 0 and got["sent"] == sent and got["skipped"] == total - sent, got


def test_claim_report_campaign_reaches_open_incidents_only(env):
    at_local(env, 2026, 12, 2, 10, fresh=True)
    other = "C-11,13700000011,褚十一,1011,白水乡,石桥村,zh,2026,100,100,2026-12-31,10,,,yes"
    status, answer = env.import_csv("\n".join([HEADER, MEMBER_ROW, other]) + "\n")
    assert status == 200, answer
    status, answer = env.admin("POST", "/v1/incidents", {
        "participant_id": "C-10", "kind": "critical_illness", "occurred_on": "2026-11-30"})
    assert status == 201 and answer["deadline"] == "2026-12-10", answer
    ref = answer["reference"]
    CARRIER.wait_messages(1, timeout=10)           # the reminder at once
    body = {"kind": "claim_report", "filter": {"township": "白水乡"}}
    dry = campaign(env, dict(body, dry_run=True), 200)
    # C-11 has no incident; C-10's was just reminded (a duplicate within the interval)
    assert dry["recipients"] == 0 and dry["skipped"]["duplicate"] == 1, dry
    env.redis("DEL", "gw:{q}:last:c:" + ref)       # as if the interval had passed
    dry = campaign(env, dict(body, dry_run=True), 200)
    assert dry["recipients"] == 1, dry
    answer = campaign(env, body, 202)
    assert answer["recipients"] == 1, answer
    msgs = CARRIER.wait_messages(2, timeout=10)
    assert ref in msgs[-1]["text"] and "重大疾病" in msgs[-1]["text"], msgs[-1]
    # a member with an open incident and no phone is counted, for staff to reach
    nophone = MEMBER_ROW.replace("C-10,13700000010,", "C-12,,")
    status, answer = env.import_csv("\n".join([HEADER, nophone]) + "\n")
    assert status == 200 and answer["imported"] == 1, answer
    status, answer = env.admin("POST", "/v1/incidents", {
        "participant_id": "C-12", "kind": "accident", "occurred_on": "2026-12-01"})
    assert status == 201, answer
    dry = campaign(env, dict(body, dry_run=True), 200)
    assert dry["recipients"] == 0 and dry["skipped"]["no_phone"] == 1, dry


def test_reminders_past_their_deadline_do_not_go(env):
    """The daemon is down from before the deadline's eve until after the
    deadline: neither the eve's nor the last day's reminder is sent late
    ("expired"); a retried staff registration is the same incident."""
    at_local(env, 2026, 12, 2, 10, fresh=True)
    status, answer = env.import_csv(HEADER + "\n" + MEMBER_ROW + "\n")
    assert status == 200, answer
    body = {"participant_id": "C-10", "kind": "accident", "occurred_on": "2026-12-01"}
    status, answer = env.admin("POST", "/v1/incidents", body)
    assert status == 201, answer
    status, again = env.admin("POST", "/v1/incidents", body)
    assert status == 200 and again["reference"] == answer["reference"], again
    assert again["state"] == "open", again
    CARRIER.wait_messages(1, timeout=10)
    at_local(env, 2026, 12, 5, 10)
    assert wait_until(lambda: env.metric("gateway_reminders_skipped_total",
                                         {"reason": "expired"}) == 2, 10)
    assert len(CARRIER.messages()) == 1


def test_notice_template_is_written_per_person(env):
    setup(env)
    answer = campaign(env, {"kind": "policy_notice", "filter": {"participant_ids": ["C-01", "C-08"]},
                            "template": "test"}, 202)
    assert answer["recipients"] == 2, answer
    msgs = CARRIER.wait_messages(2, timeout=10)
    texts = sorted(m["text"] for m in msgs)
    assert any(t.startswith(SIGNATURE + "赵一您好") for t in texts), texts
    assert any("Ann Lee" in t for t in texts), texts
    status, err = env.admin("POST", "/v1/campaigns", {"kind": "unpaid_contribution",
                                                       "template": "claim_reminder"})
    assert status == 400 and err["error"] == "bad_template" and "{kind}" in err["message"], err
    assert "which an unpaid_contribution campaign" in err["message"], err


def test_replies_overtake_a_campaign_backlog(env):
    """Two SMS a second: a campaign's notices wait in the bulk lane; a reply (a
    keyword's answer, a USSD confirmation) queued after them goes before them."""
    at_local(env, 2026, 12, 2, 10, overrides={"provider at": {"max_tps": 2}}, fresh=True)
    status, answer = env.import_csv("\n".join([HEADER] + ROWS) + "\n")
    assert status == 200, answer
    answer = campaign(env, {"kind": "policy_notice", "filter": {"township": "青山镇"},
                            "text": "Notice: the clinic is open on Saturday."}, 202)
    assert answer["recipients"] == 7, answer
    CARRIER.wait_messages(1, timeout=10)
    status, sent = env.admin("POST", "/v1/messages", {"to": "13900000001", "text": "reply",
                                                       "lane": "reply"})
    assert status == 202, sent
    msgs = CARRIER.wait_messages(8, timeout=20)
    order = [m["to"] for m in msgs]
    assert order.index("+8613900000001") < 5, order      # not behind the whole backlog


FIELDS = ["ph", "nm", "id4", "tw", "vl", "lg", "yr", "tier", "paid", "due", "bal", "pen", "plast",
          "aid"]                  # lib_participant.lua's P_FIELDS


def as_older_versions(env):
    """Rewrites the roster as the two previous versions kept it: a hash per
    participant (gw:{p:ID}) and per phone (gw:{ph:E164}); half of them with
    the sets per place of two versions ago (gw:idx:tw:T, gw:idx:vl:T\\x1fV,
    gw:idx:all), half with the last version's, split by class (iv "2",
    ...:u|p|o). Returns the ids."""
    ids = []
    for c in "upo":
        kv = env.redis("HGETALL", "gw:pt:" + c)
        for pid, rec in zip(kv[::2], kv[1::2]):
            ids.append(pid)
            f = dict(zip(FIELDS, rec.split("\x1f")))
            key, tw, place = "gw:{p:%s}" % pid, f["tw"], "%s\x1f%s" % (f["tw"], f["vl"])
            env.redis("HSET", key, *[x for pair in f.items() for x in pair])
            if f["ph"]:
                env.redis("HSET", "gw:{ph:%s}" % f["ph"], pid, rec)
            if len(ids) % 2:
                env.redis("SADD", "gw:idx:tw:" + tw, pid)
                env.redis("SADD", "gw:idx:vl:" + place, pid)
                env.redis("SADD", "gw:idx:all", pid)
            else:
                env.redis("HSET", key, "iv", "2")
                env.redis("SADD", "gw:idx:tw:%s:%s" % (tw, c), pid)
                env.redis("SADD", "gw:idx:vl:%s:%s" % (place, c), pid)
                env.redis("SADD", "gw:idx:all:" + c, pid)
    env.redis("DEL", "gw:pt:u", "gw:pt:p", "gw:pt:o", "gw:pt:ph", "gw:pt:auto", "gw:pt:places",
              "gw:idx:pendmove", "gw:idx:placemove")
    return ids


def test_a_roster_kept_by_an_older_version_is_moved(env):
    """A Redis filled by the previous versions (a hash per participant and per
    phone, sets per place): participants are found by id and by phone all
    along; the daemon moves them to this version's hashes (campaigns answer
    503 meanwhile), and then campaigns count exactly as with a fresh import,
    and importing the same roster again changes nothing."""
    setup(env)
    ids = as_older_versions(env)
    assert len(ids) == 9
    # campaign 7, still going, has C-01's reminder pending: a mark kept as a key
    env.redis("HSET", "gw:{q}:camp:7", "state", "running")
    env.redis("SET", "gw:{q}:pend:u:C-01", "7:C-01", "EX", 3600)
    at_local(env, 2026, 12, 2, 10)
    status, found = env.admin("GET", "/v1/participants/C-02")
    assert status == 200 and found["name"] == "钱二", found
    kind, text = AT(env, "+8613700000001").dial()        # found by phone: the main menu
    assert kind == "CON", text
    main_menu_ok(text)

    def dry():
        return env.admin("POST", "/v1/campaigns", {"kind": "unpaid_contribution",
                                                   "filter": VILLAGE, "dry_run": True})
    status, answer = dry()
    assert status in (200, 503), (status, answer)
    if status == 503:
        assert answer["error"] == "indexes_upgrading", answer
    assert wait_until(lambda: dry()[0] == 200, 15)
    status, answer = dry()
    assert answer["recipients"] == 4 and answer["skipped"]["paid"] == 1, answer
    assert answer["skipped"]["duplicate"] == 1, answer          # C-01, pending for campaign 7
    assert env.redis("EXISTS", "gw:{q}:pend:u:C-01") == 0
    assert env.redis("HGET", "gw:{q}:pend", "u:C-01").startswith("7:C-01:")
    assert sorted(env.redis("KEYS", "gw:idx:*")) == ["gw:idx:pendmove", "gw:idx:placemove"]
    assert env.redis("MGET", "gw:idx:pendmove", "gw:idx:placemove") == ["done", "done"]
    places = sorted(env.redis("HKEYS", "gw:pt:places"))     # found again from the records
    assert places == sorted({"%s\x1f%s" % (r.split(",")[4], r.split(",")[5]) for r in ROWS}), places
    assert env.redis("KEYS", "gw:{p:*") == [] and env.redis("KEYS", "gw:{ph:*") == []
    assert sum(env.redis("HLEN", "gw:pt:" + c) for c in "upo") == 9
    status, again = env.import_csv("\n".join([HEADER] + ROWS) + "\n")
    assert status == 200 and again["unchanged"] == 9, again
