"""Mutual-aid incidents: POST /v1/incidents and gatewayctl incident add answer a
reference and the claim deadline from the business calendar (ops/calendars/):
date + days, moved past rest days. The clock is moved back to 2026-09-29 for
the National Day case, as a test may (GW_CLOCK_OFFSET_S)."""
import calendar
import os
import signal
import time

from harness import wait_until
from ussd_util import HEADER, load_roster

MEMBER = "U-HH1"          # a mutual-aid member in ussd_util's roster
CONFIG = {"reminders": {"send_window": "08:00-20:00"}}     # the reminders' times
NOT_MEMBER = "U-PAID"


def set_today(env, ymd, hour=12):
    """Restarts gatewayd with its one clock moved so that today is YMD (at HOUR,
    noon unless given, in Asia/Shanghai)."""
    y, m, d = (int(x) for x in ymd.split("-"))
    target = calendar.timegm((y, m, d, hour - 8, 0, 0))
    os.environ["GW_CLOCK_OFFSET_S"] = str(int(target - time.time()))
    try:
        env.restart_gatewayd()
    finally:
        del os.environ["GW_CLOCK_OFFSET_S"]


def incident(env, pid, kind, date):
    return env.admin("POST", "/v1/incidents", {"participant_id": pid, "kind": kind,
                                               "occurred_on": date})


def test_deadline_moves_past_national_day(env):
    set_today(env, "2026-09-29")
    try:
        load_roster(env)
        status, answer = incident(env, MEMBER, "accident", "2026-09-28")
        assert status == 201, answer
        assert answer["deadline"] == "2026-10-08", answer      # not 2026-10-01
        assert answer["reference"].startswith("BA20260928-"), answer
        assert env.redis("HGET", "gw:inc:" + answer["reference"], "deadline") == "2026-10-08"
        assert answer["reference"] in env.redis("SMEMBERS", "gw:{p:%s}:incidents" % MEMBER)
        # critical illness: 10 days from 2026-09-20 is 2026-09-30, a working day
        status, answer = incident(env, MEMBER, "critical_illness", "2026-09-20")
        assert status == 201 and answer["deadline"] == "2026-09-30", answer
        # a date after today
        status, answer = incident(env, MEMBER, "accident", "2026-09-30")
        assert status == 422 and answer["error"] == "future_date", answer
    finally:
        env.restart_gatewayd()


def test_a_window_from_a_year_without_a_calendar_into_one_with(env):
    """An accident of 2025-12-30 (2025 has no file): its three days end on
    2026-01-02, a holiday, and the deadline is Sunday 2026-01-04, an adjusted
    working day, all judged by 2026's calendar: no warning of 2025's."""
    set_today(env, "2025-12-31")
    try:
        load_roster(env)
        status, answer = incident(env, MEMBER, "accident", "2025-12-30")
        assert status == 201 and answer["deadline"] == "2026-01-04", answer
        assert "2025" not in answer.get("warning", ""), answer
    finally:
        env.restart_gatewayd()


def judged_again(env, cal, text):
    """Writes TEXT to the calendar file CAL and sends SIGHUP: the log since,
    once open incidents have been judged again."""
    with open(cal, "w", encoding="utf-8") as f:
        f.write(text)
    mark = env.log_size()
    env.signal_gatewayd(signal.SIGHUP)
    assert wait_until(lambda: "judged by the calendar" in env.log_since(mark), 10), \
        env.log_since(mark)
    return env.log_since(mark)


def test_deadlines_are_judged_again_when_the_calendar_changes(env):
    """An incident registered while the calendar lacked National Day got
    2026-10-01; with the real calendar loaded (SIGHUP) its deadline is
    2026-10-08, stored (the reminders' texts read it) and logged. A restart
    with the same calendar changes nothing more; a calendar that would end
    the window sooner again leaves the date the member was given, and says so."""
    cal = os.path.join(env.dir, "CN-2026.tsv")
    real = open(os.path.join(os.path.dirname(__file__), "..", "..", "ops", "calendars",
                             "CN-2026.tsv"), encoding="utf-8").read()
    without_october = "\n".join(l for l in real.splitlines() if "2026-10-" not in l) + "\n"
    with open(cal, "w", encoding="utf-8") as f:      # the year listed, but not its October
        f.write(without_october)
    target = calendar.timegm((2026, 9, 29, 12 - 8, 0, 0))
    os.environ["GW_CLOCK_OFFSET_S"] = str(int(target - time.time()))
    try:
        env.restart_gatewayd({"calendar": {"files": cal}})
        load_roster(env)
        status, answer = incident(env, MEMBER, "accident", "2026-09-28")
        assert status == 201 and answer["deadline"] == "2026-10-01", answer
        ref = answer["reference"]
        status, other = incident(env, MEMBER, "critical_illness", "2026-09-20")
        assert status == 201 and other["deadline"] == "2026-09-30", other
        log = judged_again(env, cal, real)
        assert "holiday calendar: 2026 loaded from 1 file" in log, log
        assert "%s of %s: the claim may be reported until 2026-10-08" % (ref, MEMBER) in log, log
        assert "not 2026-10-01" in log and "2 open, 1 deadlines moved later" in log, log
        assert env.redis("HGET", "gw:inc:" + ref, "deadline") == "2026-10-08"
        assert env.redis("HGET", "gw:inc:" + other["reference"], "deadline") == "2026-09-30"
        status, got = env.admin("GET", "/v1/incidents/" + ref)
        assert status == 200 and got["deadline"] == "2026-10-08", got
        mark = env.log_size()
        env.restart_gatewayd({"calendar": {"files": cal}})
        time.sleep(1.0)
        assert "judged by the calendar" not in env.log_since(mark), env.log_since(mark)
        log = judged_again(env, cal, without_october)
        assert "ends on 2026-10-01, but 2026-10-08 is kept (a deadline is never made " \
            "earlier" in log, log
        assert "0 deadlines moved later (0 reminders queued for their new dates), 1 would " \
            "end sooner and were kept" in log, log
        assert env.redis("HGET", "gw:inc:" + ref, "deadline") == "2026-10-08"
    finally:
        del os.environ["GW_CLOCK_OFFSET_S"]
        env.restart_gatewayd()


def test_window_closed_and_bad_input(env):
    set_today(env, "2026-12-01")
    try:
        load_roster(env)
        status, answer = incident(env, MEMBER, "accident", "2026-09-28")
        assert status == 422 and answer["error"] == "window_closed", answer
        assert "2026-10-08" in answer["message"] and answer["deadline"] == "2026-10-08", answer
        status, answer = incident(env, NOT_MEMBER, "accident", "2026-11-30")
        assert status == 422 and answer["error"] == "not_a_member", answer
        status, answer = incident(env, "NOBODY", "accident", "2026-11-30")
        assert status == 404, answer
        for body, code in (({"participant_id": MEMBER, "kind": "flood",
                             "occurred_on": "2026-11-30"}, "bad_kind"),
                           ({"participant_id": MEMBER, "kind": "accident",
                             "occurred_on": "2026-02-30"}, "bad_date"),
                           ({"kind": "accident", "occurred_on": "2026-11-30"}, "bad_request"),
                           ({"participant_id": MEMBER, "kind": "accident",
                             "occurred_on": "2026-11-30", "ocurred_on": "2026-11-29"},
                            "bad_request")):
            status, answer = env.admin("POST", "/v1/incidents", body)
            assert status == 400 and answer["error"] == code, (body, answer)
        assert env.redis("KEYS", "gw:inc:BA*") == []
    finally:
        env.restart_gatewayd()


def test_gatewayctl_incident_add(env):
    set_today(env, "2026-12-01")
    try:
        load_roster(env)
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "accident", "--date", "2026-11-30")
        assert rc == 0, (out, err)
        # 2026-11-30 + 3 = 2026-12-03, a Thursday
        assert "must be reported by 2026-12-03" in out and "incident BA20261130-" in out, out
        assert "3 SMS reminders queued for the member" in out, out
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "accident", "--date", "2026-11-30")
        assert rc == 0 and "already registered" in out, (out, err)
        assert "3 SMS reminders for the member in all" in out, out
        status, _ = env.admin("POST", "/v1/optouts", {"phone": "13800000204", "action": "add"})
        assert status in (200, 201)
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "critical_illness", "--date", "2026-11-30")
        assert rc == 0 and "no SMS reminder will go: the member's phone opted out" in out, out
        assert "reminders queued" not in out, out
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "accident", "--date", "2026-09-28")
        assert rc == 1 and "window_closed" in err, (rc, out, err)
        assert '"reported_on" is --reported-on YYYY-MM-DD here' in err, err
        assert env.metric("gateway_calendar_missing_years") == 1    # 2027 has no file yet
    finally:
        env.restart_gatewayd()


def test_staff_record_a_report_made_another_way(env):
    """A member who reported the claim at the office or by telephone: staff
    record it by reference (POST /v1/incidents/REF/report, gatewayctl incident
    reported), once; past the deadline it is refused, as the member's own
    report would be."""
    set_today(env, "2026-12-01")
    try:
        load_roster(env)
        status, answer = incident(env, MEMBER, "accident", "2026-11-30")
        assert status == 201, answer
        ref = answer["reference"]
        status, got = env.admin("GET", "/v1/incidents/" + ref)
        assert status == 200, got
        assert (got["state"], got["participant_id"], got["kind"], got["occurred_on"],
                got["deadline"], got["channel"], got["window_closed"]) == (
                    "open", MEMBER, "accident", "2026-11-30", "2026-12-03", "admin", False), got
        rc, out, err = env.gatewayctl("incident", "show", ref)
        assert rc == 0 and "open: not recorded as reported yet" in out, (out, err)
        # staff read the time where the member lives ([reminders] timezone)
        assert got["registered_at"].startswith("2026-12-01T") and "reported_at" not in got, got
        assert got["registered_at"].endswith("+08:00"), got
        # a reference typed in lower case is the same one
        status, got = env.admin("POST", "/v1/incidents/%s/report" % ref.lower())
        assert status == 200 and got["changed"] is True and got["state"] == "reported", got
        assert got["reported_channel"] == "admin" and got["reported_at"].startswith("2026-12-01")
        assert got["reported_at"].endswith("+08:00"), got
        assert env.redis("HGET", "gw:inc:" + ref, "state") == "reported"
        rc, out, err = env.gatewayctl("incident", "reported", ref)
        assert rc == 0 and "already reported; nothing changed" in out, (out, err)
        assert "recorded by staff" in out, out
        rc, out, err = env.gatewayctl("incident", "show", ref)
        assert rc == 0 and ("incident %s: accident of %s on 2026-11-30" % (ref, MEMBER)) in out
        # the member reporting it on USSD afterwards finds it reported: the same reference
        # (covered for USSD in test_ussd_claim); staff registering it again: the same
        status, again = incident(env, MEMBER, "accident", "2026-11-30")
        assert status == 200 and again["reference"] == ref and again["state"] == "reported"
        # unknown, malformed, wrong method, no token
        for method, path, code in (("GET", "/v1/incidents/BA20261130-999999", 404),
                                   ("POST", "/v1/incidents/BA20261130-999999/report", 404),
                                   ("GET", "/v1/incidents/BA%20X", 404),
                                   ("GET", "/v1/incidents/%s/report" % ref, 405),
                                   ("POST", "/v1/incidents/" + ref, 405),
                                   ("POST", "/v1/incidents/%s/close" % ref, 404)):
            status, got = env.admin(method, path)
            assert status == code and "error" in got, (method, path, status, got)
        status, got = env.admin("POST", "/v1/incidents/%s/report" % ref, token=False)
        assert status == 401, got
        rc, out, err = env.gatewayctl("incident", "reported", "BA20261130-999999")
        assert rc == 1 and "no incident has this reference" in err, (rc, out, err)
    finally:
        env.restart_gatewayd()
    # past the deadline: refused, nothing changes
    set_today(env, "2026-11-25")
    try:
        status, answer = incident(env, MEMBER, "critical_illness", "2026-11-24")
        assert status == 201 and answer["deadline"] == "2026-12-04", answer
        late = answer["reference"]
    finally:
        env.restart_gatewayd()
    set_today(env, "2026-12-07")
    try:
        status, got = env.admin("POST", "/v1/incidents/%s/report" % late)
        assert status == 422 and got["error"] == "window_closed", got
        assert "2026-12-04" in got["message"] and got["deadline"] == "2026-12-04", got
        assert env.redis("HGET", "gw:inc:" + late, "state") == "open"
        rc, out, err = env.gatewayctl("incident", "reported", late)
        assert rc == 1 and '"reported_on" is --on YYYY-MM-DD here' in err, err
        rc, out, err = env.gatewayctl("incident", "show", late)
        assert rc == 0 and "not recorded as reported; the report window closed on " \
            "2026-12-04" in out, out
        # the member did report it in time, at the office: staff give the day
        for body, code, error in (({"reported_on": "2026-12-05"}, 422, "window_closed"),
                                  ({"reported_on": "2026-11-23"}, 422, "before_incident"),
                                  ({"reported_on": "2026-12-08"}, 422, "future_date"),
                                  ({"reported_on": "2026-12-32"}, 400, "bad_date"),
                                  ({"reported": "2026-12-04"}, 400, "bad_request"),
                                  ("2026-12-04", 400, "bad_request")):
            status, got = env.admin("POST", "/v1/incidents/%s/report" % late, body)
            assert status == code and got["error"] == error, (body, got)
        assert env.redis("HGET", "gw:inc:" + late, "state") == "open"
        rc, out, err = env.gatewayctl("incident", "reported", late, "--on", "2026-12-04")
        assert rc == 0 and "recorded as reported" in out, (out, err)
        assert "reported on 2026-12-04, recorded by staff" in out, out
        status, got = env.admin("GET", "/v1/incidents/" + late)
        assert got["state"] == "reported" and got["reported_on"] == "2026-12-04", got
        # a damaged record says so (500), it is not taken for Redis being away
        env.redis("HDEL", "gw:inc:" + late, "kind")
        status, got = env.admin("GET", "/v1/incidents/" + late)
        assert status == 500 and got["error"] == "internal", got
    finally:
        env.restart_gatewayd()


def test_staff_hear_when_no_reminder_can_reach_the_member(env):
    """Registering answers how many reminders were queued (at once, the eve,
    the last day); when none can reach the member (no phone, opted out, or
    registered after the last day's send window closed) a warning says so:
    staff must tell the member themselves."""
    set_today(env, "2026-12-01")
    try:
        load_roster(env, extra=["U-NOPH,,林丁,2222,白水乡,石桥村,zh,2026,100,100,2026-12-31,"
                                "1.00,,,yes"])
        status, answer = incident(env, MEMBER, "accident", "2026-11-30")    # deadline 12-03
        assert status == 201 and answer["reminders"] == 3 and "warning" not in answer, answer
        status, answer = incident(env, "U-NOPH", "accident", "2026-11-30")
        assert status == 201 and answer["reminders"] == 0, answer
        assert "no phone" in answer["warning"] and "2026-12-03" in answer["warning"], answer
        # keyed in again (a retry, a second clerk): the same incident, the same warning
        status, again = incident(env, "U-NOPH", "accident", "2026-11-30")
        assert status == 200 and again["created"] is False and again["reminders"] == 0, again
        assert "no phone" in again["warning"], again
        # the roster gains the member's phone; registered again, the reminders go now
        status, answer = env.import_csv("\n".join([HEADER, "U-NOPH,13800000299,林丁,2222,白水乡,"
                                                   "石桥村,zh,2026,100,100,2026-12-31,1.00,,,yes"])
                                        + "\n")
        assert status == 200 and answer["updated"] == 1, answer
        status, again = incident(env, "U-NOPH", "accident", "2026-11-30")
        assert status == 200 and again["reminders"] == 3 and "warning" not in again, again
        status, again = incident(env, "U-NOPH", "accident", "2026-11-30")
        assert status == 200 and again["reminders"] == 3, again     # not queued twice
        assert env.redis("HGET", "gw:inc:" + again["reference"], "reminders") == "3"
        env.admin("POST", "/v1/optouts", {"phone": "13800000204", "action": "add"})
        status, answer = incident(env, MEMBER, "critical_illness", "2026-11-30")
        assert status == 201 and "opted out" in answer["warning"], answer
        env.admin("POST", "/v1/optouts", {"phone": "13800000204", "action": "remove"})
    finally:
        env.restart_gatewayd()
    # 21:00 on the deadline day of an accident of 2026-11-27 (deadline Monday 11-30)
    set_today(env, "2026-11-30", hour=21)
    try:
        status, answer = incident(env, MEMBER, "accident", "2026-11-27")
        assert status == 201 and answer["deadline"] == "2026-11-30", answer
        assert answer["reminders"] == 0 and "tell the member today" in answer["warning"], answer
        # critical illness diagnosed 2026-11-20: ten days, the same last day
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "critical_illness", "--date", "2026-11-20")
        assert rc == 0 and "reported by 2026-11-30" in out, (out, err)
        assert "warning: it is past the SMS hours of 2026-11-30" in out, (out, err)
    finally:
        env.restart_gatewayd()
    # 19:00 on the last day: one reminder, the last day's, at once, and it may be late
    # (an accident of Thursday 2026-11-26: three days end on Sunday, so on Monday)
    set_today(env, "2026-11-30", hour=19)
    try:
        status, answer = incident(env, MEMBER, "accident", "2026-11-26")
        assert status == 201 and answer["reminders"] == 1, answer
        assert "may not go in time" in answer["warning"], answer
        # the last day's text, which names the day (written by the console provider)
        text = ("您2026年11月26日发生的意外伤害，互助保障报案最后一天是2026年11月30日，逾期不能"
                "理赔。请尽快拨*120*12345#主菜单选4（共用手机先选本人），也可找村协理员或打"
                "12333。登记号%s" % answer["reference"])
        assert wait_until(lambda: text in env.log_text(), 10), env.log_tail()
        # still the reminder at once (c:REF): a claim campaign takes it for a duplicate
        assert wait_until(lambda: env.redis("EXISTS", "gw:{q}:last:c:" + answer["reference"]),
                          5)
    finally:
        env.restart_gatewayd()


def queued_for(env, ref):
    """The bulk-lane members that remind of incident REF."""
    found = []
    for key in env.redis("KEYS", "gw:{q}:b:prio:*"):
        found += [m for m in env.redis("LRANGE", key, 0, -1) if m.endswith("," + ref)]
    return found


def test_staff_register_a_report_made_on_paper(env):
    """A member who reported the claim in time on a paper form at the township
    office, typed in after the window closed: POST /v1/incidents with
    "reported_on" (gatewayctl incident add --reported-on) stores it reported,
    judged on that day, with no reminders; one registered before is moved to
    reported and its reminders stop; a report made too late is refused."""
    set_today(env, "2026-12-01")
    try:
        load_roster(env)
        # registered while open, with its reminders (accident: deadline 2026-12-04)
        status, answer = incident(env, MEMBER, "accident", "2026-12-01")
        assert status == 201 and answer["deadline"] == "2026-12-04", answer
        before = answer["reference"]
        assert len(queued_for(env, before)) == 3
    finally:
        env.restart_gatewayd()
    set_today(env, "2026-12-07")
    try:
        paper = {"participant_id": MEMBER, "kind": "accident", "occurred_on": "2026-11-30",
                 "reported_on": "2026-12-02"}
        status, got = env.admin("POST", "/v1/incidents", paper)
        assert status == 201, got
        assert (got["state"], got["created"], got["reported_on"], got["deadline"]) == (
            "reported", True, "2026-12-02", "2026-12-03"), got
        ref = got["reference"]
        assert queued_for(env, ref) == []
        status, got = env.admin("GET", "/v1/incidents/" + ref)
        assert (got["state"], got["reported_on"], got["reported_channel"],
                got["window_closed"]) == ("reported", "2026-12-02", "admin", True), got
        # the same form typed in twice: the same incident, nothing changes
        status, got = env.admin("POST", "/v1/incidents", paper)
        assert status == 200 and got["reference"] == ref and got["created"] is False, got
        # one registered before, open: a form dated after its deadline leaves it open;
        # one dated by then reports it (its reminders are skipped when due)
        status, got = env.admin("POST", "/v1/incidents", dict(
            paper, occurred_on="2026-12-01", reported_on="2026-12-05"))
        assert status == 422 and got["error"] == "window_closed", got
        assert env.redis("HGET", "gw:inc:" + before, "state") == "open"
        status, got = env.admin("POST", "/v1/incidents", dict(
            paper, occurred_on="2026-12-01", reported_on="2026-12-04"))
        assert status == 200 and got["reference"] == before and got["created"] is False, got
        assert env.redis("HMGET", "gw:inc:" + before, "state", "reported_on") == [
            "reported", "2026-12-04"]
        # refused, and nothing is stored: after the deadline, before the incident,
        # in the future, not a date; without a date, the window closed
        late = dict(paper, kind="critical_illness", occurred_on="2026-11-20")   # by 11-30
        for body, code, error in ((dict(late, reported_on="2026-12-01"), 422, "window_closed"),
                                  (dict(late, reported_on="2026-11-19"), 422, "before_incident"),
                                  (dict(late, reported_on="2026-12-08"), 422, "future_date"),
                                  (dict(late, reported_on="2026-11-31"), 400, "bad_date"),
                                  (dict(late, reported_on=20261125), 400, "bad_date")):
            status, got = env.admin("POST", "/v1/incidents", body)
            assert status == code and got["error"] == error, (body, got)
        status, got = incident(env, MEMBER, "critical_illness", "2026-11-20")
        assert status == 422 and "reported_on" in got["message"], got
        assert len(env.redis("KEYS", "gw:inc:BA*")) == 2
        status, got = env.admin("POST", "/v1/incidents", dict(late, participant_id=NOT_MEMBER,
                                                              reported_on="2026-11-25"))
        assert status == 422 and got["error"] == "not_a_member", got
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "critical_illness", "--date", "2026-11-20",
                                      "--reported-on", "2026-11-25")
        assert rc == 0 and "reported on 2026-11-25 (recorded by staff)" in out, (out, err)
        assert "in time for the claim's deadline 2026-11-30; no reminders" in out, out
        # registered again without the date, its window closed: reported, not refused
        status, got = incident(env, MEMBER, "critical_illness", "2026-11-20")
        assert status == 200 and got["state"] == "reported", got
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "accident", "--date", "2026-12-05", "--reported-on",
                                      "2026-12-04")
        assert rc == 1 and "before_incident" in err, (rc, out, err)
        # reported today, the window still open: no reminder is queued
        status, got = env.admin("POST", "/v1/incidents", dict(
            paper, occurred_on="2026-12-06", reported_on="2026-12-07"))
        assert status == 201 and got["deadline"] == "2026-12-09", got
        assert queued_for(env, got["reference"]) == []
        status, got = incident(env, MEMBER, "accident", "2026-12-07")
        assert status == 201 and len(queued_for(env, got["reference"])) > 0, got
        rc, out, err = env.gatewayctl("incident", "add", "--participant", MEMBER, "--kind",
                                      "accident", "--date", "2026-12-07", "--reported-on",
                                      "2026-12-07")
        assert rc == 0 and "it was registered before: its reminders stop" in out, (out, err)
    finally:
        env.restart_gatewayd()
    # a deadline in a year with no calendar file: the answer says so
    set_today(env, "2026-12-28")
    try:
        status, got = env.admin("POST", "/v1/incidents", dict(
            paper, kind="critical_illness", occurred_on="2026-12-26",
            reported_on="2026-12-28"))
        assert status == 201 and got["state"] == "reported", got
        assert "no business calendar for 2027" in got.get("warning", ""), got
    finally:
        env.restart_gatewayd()
