"""The `http` records backend against a fake agency system.

The agency is a threaded http.server on 127.0.0.1 (a free port chosen at import,
started at import in a daemon thread) answering GET /participants?phone=E164 with
{"participants": [...]} in the roster's column names. Tests switch its behaviour
through AGENCY["mode"] (normal, slow, error, garbage, bad_record, not_found) and read
the requests it got from AGENCY["requests"]. gatewayd asks it with timeout_ms 300
and answers every hop within hop_deadline_ms 500: an agency that is slow, failing
or talking nonsense gives the resident an END "busy" screen at once, a phone it does
not know (404 or an empty list) the registration screen with the hotline, and the
daemon keeps answering. People are read once per session, not once per hop."""
import http.server
import json
import threading
import time
import urllib.parse

from harness import HOTLINE, free_port, wait_until
from ussd_util import AT, Hubtel, main_menu_ok

PORT = free_port()
CONFIG = {"records": {"backend": "http", "url": "http://127.0.0.1:%d/participants" % PORT,
                      "timeout_ms": 300}}
DEADLINE_S = 0.5
SLOW_S = 2.0

# The agency's people, by E.164 phone. Values are strings and numbers mixed, as an
# agency system might send them; the phone field itself is in a national form.
PEOPLE = {
    "+8613800000301": [
        {"participant_id": "AG-PAID", "phone": "138 0000 0301", "name": "陈一",
         "id_last4": "4321", "township": "青山镇", "village": "上岭村", "language": "zh",
         "contribution_year": 2026, "contribution_tier_yuan": 300,
         "contribution_paid_yuan": "300.00", "contribution_due": "2026-12-31",
         "account_balance_yuan": 4321.09, "pension_monthly_yuan": None,
         "pension_last_paid": "", "mutual_aid_member": "no"},
    ],
    "+8613800000302": [
        {"participant_id": "AG-UNPAID", "phone": "+86 138-0000-0302", "name": "周二",
         "id_last4": "8765", "township": "青山镇", "village": "下河村", "language": "zh",
         "contribution_year": "2026", "contribution_tier_yuan": "200",
         "contribution_paid_yuan": "", "contribution_due": "2026-12-31",
         "account_balance_yuan": "1508.30", "pension_monthly_yuan": "",
         "pension_last_paid": "", "mutual_aid_member": False},
    ],
    # a household: two people on one phone, the same surname (sent out of id order)
    "+8613800000303": [
        {"participant_id": "AG-HH2", "phone": "13800000303", "name": "吴四",
         "id_last4": "2222", "township": "白水乡", "village": "石桥村", "language": "zh",
         "contribution_year": "", "contribution_tier_yuan": "", "contribution_paid_yuan": "",
         "contribution_due": "", "account_balance_yuan": "6543.21",
         "pension_monthly_yuan": 211.3, "pension_last_paid": "2026-11-10",
         "mutual_aid_member": "no"},
        {"participant_id": "AG-HH1", "phone": "13800000303", "name": "吴三",
         "id_last4": "1111", "township": "白水乡", "village": "石桥村", "language": "zh",
         "contribution_year": 2026, "contribution_tier_yuan": 100,
         "contribution_paid_yuan": 100, "contribution_due": "2026-12-31",
         "account_balance_yuan": "777.70", "pension_monthly_yuan": "",
         "pension_last_paid": "", "mutual_aid_member": True},
    ],
}
PHONE = {"paid": "13800000301", "unpaid": "13800000302", "household": "13800000303",
         "unknown": "13900009998"}

AGENCY = {"mode": "normal", "requests": []}
LOCK = threading.Lock()


class AgencyHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body, content_type="application/json; charset=utf-8"):
        data = body.encode("utf-8") if isinstance(body, str) else body
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass        # gatewayd gave up on us (slow mode): nothing to tell

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        phone = urllib.parse.parse_qs(url.query).get("phone", [None])[0]
        with LOCK:
            mode = AGENCY["mode"]
            AGENCY["requests"].append({"path": url.path, "query": url.query, "phone": phone,
                                       "accept": self.headers.get("Accept", "")})
        if url.path != "/participants":
            self.answer(404, '{"error": "no such path"}')
        elif mode == "slow":
            time.sleep(SLOW_S)
            self.answer(200, json.dumps({"participants": PEOPLE.get(phone, [])}))
        elif mode == "error":
            self.answer(500, '{"error": "database unavailable"}')
        elif mode == "garbage":
            self.answer(200, "<html><body>Service Temporarily Unavailable</body></html>")
        elif mode == "bad_record":      # well-formed JSON, an amount with three decimals
            person = dict(PEOPLE["+8613800000301"][0], account_balance_yuan="4321.095")
            self.answer(200, json.dumps({"participants": [person]}))
        elif mode == "not_found":
            self.answer(404, '{"error": "not found"}')
        else:                           # normal: unknown phones get an empty list
            self.answer(200, json.dumps({"participants": PEOPLE.get(phone, [])},
                                        ensure_ascii=False))


class AgencyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


SERVER = AgencyServer(("127.0.0.1", PORT), AgencyHandler)
threading.Thread(target=SERVER.serve_forever, name="fake-agency", daemon=True).start()


def agency(mode):
    """Switches the agency to MODE and forgets the requests it got so far."""
    with LOCK:
        AGENCY["mode"] = mode
        AGENCY["requests"] = []


def requests_for(e164):
    with LOCK:
        return [r for r in AGENCY["requests"] if r["phone"] == e164]


def is_busy(kind, text):
    return kind == "END" and "繁忙" in text and HOTLINE not in text


def timed_dial(env, phone):
    started = time.monotonic()
    kind, text = AT(env, phone).dial()
    return kind, text, time.monotonic() - started


def still_answering(env):
    """The agency back to normal, gatewayd alive and serving a known phone."""
    agency("normal")
    assert env.gatewayd_alive(), "gatewayd died"
    kind, text = AT(env, PHONE["paid"]).dial()
    assert kind == "CON", text
    main_menu_ok(text)


# ---- a working agency ----

def test_known_phone_gets_menu_and_contribution_status(env):
    agency("normal")
    s = AT(env, PHONE["paid"])
    kind, text = s.dial()
    assert kind == "CON", text
    main_menu_ok(text)
    assert "陈一" not in text, "full name on screen: %r" % text
    kind, text = s.press("1")
    assert kind == "CON" and "2026" in text and "300元" in text, text
    assert "应缴" not in text, text
    # The agency was asked by E.164, percent-encoded in the query.
    seen = requests_for("+8613800000301")
    assert len(seen) == 1, AGENCY["requests"]
    assert seen[0]["path"] == "/participants", seen
    assert seen[0]["query"] == "phone=%2B8613800000301", seen
    assert "json" in seen[0]["accept"], seen

    with env.local_time(2026, 12, 1):
        s = Hubtel(env, PHONE["unpaid"])
        kind, text = s.dial()
        main_menu_ok(text)
        kind, text = s.press("1")
        assert kind == "CON", text
        assert "200元" in text and "2026年12月31日" in text, text
    assert requests_for("+8613800000302"), AGENCY["requests"]


def test_amounts_from_json_numbers_are_exact(env):
    agency("normal")
    s = AT(env, PHONE["paid"])
    s.dial()
    s.press("2")
    kind, text = s.press("4321")
    assert "4321.09元" in text, text             # 4321.09 sent as a JSON number


def test_household_chooses_the_person_first(env):
    agency("normal")
    s = AT(env, PHONE["household"])
    kind, text = s.dial()
    assert kind == "CON", text
    assert "吴三" not in text and "吴四" not in text, "names not masked: %r" % text
    people = [l for l in text.split("\n") if l[:2] in ("1 ", "2 ")]
    assert len(people) == 2 and people[0] != people[1], "people not told apart: %r" % text
    kind, text = s.press("2")                     # sorted by id: AG-HH2, the pensioner
    main_menu_ok(text)
    kind, text = s.press("3")
    assert "211.30元" in text and "2026年11月10日" in text, text
    kind, text = s.press("0")
    kind, text = s.press("0")                     # back to the list of people
    assert people[0] in text and people[1] in text, text
    kind, text = s.press("1")
    kind, text = s.press("1")
    assert "100元" in text and "211.30" not in text, text
    assert len(requests_for("+8613800000303")) == 1, AGENCY["requests"]


def test_unknown_phone_gets_hotline(env):
    for mode in ("normal", "not_found"):        # an empty list, then a 404
        agency(mode)
        for Session in (AT, Hubtel):
            kind, text = Session(env, PHONE["unknown"]).dial()
            assert kind == "END" and HOTLINE in text, (mode, text)
        assert len(requests_for("+8613900009998")) == 2, (mode, AGENCY["requests"])
    still_answering(env)


def test_agency_asked_once_per_session_not_per_hop(env):
    agency("normal")
    s = AT(env, PHONE["paid"])
    kind, text = s.dial()
    main_menu_ok(text)
    kind, text = s.press("1")
    assert "300元" in text, text
    kind, text = s.press("0")
    main_menu_ok(text)
    assert len(requests_for("+8613800000301")) == 1, AGENCY["requests"]

    h = Hubtel(env, PHONE["unpaid"])
    h.dial()
    h.press("1")
    kind, text = h.press("0")
    main_menu_ok(text)
    assert len(requests_for("+8613800000302")) == 1, AGENCY["requests"]

    # The session holds its people: later hops work even while the agency fails.
    agency("error")
    kind, text = s.press("3")
    assert kind == "CON" and not is_busy(kind, text), text
    assert requests_for("+8613800000301") == [], AGENCY["requests"]

    # A new session asks again (a payment made since then shows).
    agency("normal")
    s2 = AT(env, PHONE["paid"])
    s2.dial()
    s2.press("1")
    assert len(requests_for("+8613800000301")) == 1, AGENCY["requests"]


# ---- a failing agency ----

def test_slow_agency_gives_busy_within_the_deadline(env):
    agency("slow")
    busy_before = env.metric("gateway_ussd_requests_total", {"outcome": "busy"}) or 0
    kind, text, elapsed = timed_dial(env, PHONE["paid"])
    assert is_busy(kind, text), text
    assert elapsed < DEADLINE_S + 0.3, "busy answer took %.3f s" % elapsed
    assert len(requests_for("+8613800000301")) == 1, AGENCY["requests"]
    # Hubtel too, while the first slow request is still hanging in the agency.
    started = time.monotonic()
    kind, text = Hubtel(env, PHONE["unpaid"]).dial()
    assert is_busy(kind, text) and time.monotonic() - started < DEADLINE_S + 0.3, text
    assert env.gatewayd_alive()
    assert env.metric("gateway_ussd_requests_total", {"outcome": "busy"}) >= busy_before + 2
    still_answering(env)


def test_agency_error_500_gives_busy(env):
    agency("error")
    kind, text, elapsed = timed_dial(env, PHONE["paid"])
    assert is_busy(kind, text), text
    assert elapsed < DEADLINE_S + 0.3, "busy answer took %.3f s" % elapsed
    assert len(requests_for("+8613800000301")) == 1, AGENCY["requests"]
    still_answering(env)


def test_agency_garbage_gives_busy(env):
    agency("garbage")
    kind, text, elapsed = timed_dial(env, PHONE["paid"])
    assert is_busy(kind, text), text
    assert elapsed < DEADLINE_S + 0.3, "busy answer took %.3f s" % elapsed
    # A well-formed answer with a record that breaks the roster's rules is no better.
    agency("bad_record")
    kind, text = Hubtel(env, PHONE["paid"]).dial()
    assert is_busy(kind, text), text
    still_answering(env)


def test_a_failed_look_up_is_not_remembered(env):
    s = AT(env, PHONE["paid"])
    agency("error")
    kind, text = s.dial()
    assert is_busy(kind, text), text
    agency("normal")
    kind, text = AT(env, PHONE["paid"]).dial()
    assert kind == "CON", text
    main_menu_ok(text)
    assert len(requests_for("+8613800000301")) == 1, AGENCY["requests"]


def test_daemon_keeps_answering_after_every_failure(env):
    for mode in ("slow", "error", "garbage", "bad_record", "not_found"):
        agency(mode)
        for Session in (AT, Hubtel):
            kind, text = Session(env, PHONE["household"]).dial()
            assert kind == "END", (mode, text)
        assert env.gatewayd_alive(), mode
    # Let the slow handlers finish, then everything is as before.
    agency("normal")
    s = AT(env, PHONE["household"])
    kind, text = s.dial()
    assert kind == "CON", text
    s.press("1")
    kind, text = s.press("1")
    assert "100元" in text, text
    assert wait_until(lambda: env.get_admin("/readyz")[0] == 200, 5)
    still_answering(env)
