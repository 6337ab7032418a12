#!/usr/bin/env python3
"""A fake SMS carrier over real HTTP, speaking three carrier APIs, for the tests.

In a test:

    carrier = FakeCarrier().start()          # 127.0.0.1, a free port
    ... [provider x] base_url = carrier.url ...
    carrier.set_mode("fail", api="twilio", count=2, status=503)
    carrier.wait_messages(1, timeout=10)     # -> [record, ...]
    carrier.close()

As a script (for tests driving it from another process):

    python3 fake_carrier.py --port N         # prints the port on the first line,
                                             # serves until SIGTERM/SIGINT
    # then POST /_control, GET /_messages, POST /_reset (see below), or
    # RemoteCarrier("http://127.0.0.1:N") from Python.

The APIs (the credentials are the constructor's; the defaults are the DEFAULT_*
constants):
  africastalking  POST /version1/messaging, form username, to (comma-separated
                  numbers), message, from; header apiKey. 201 JSON SMSMessageData
                  with one Recipient per number (statusCode 101, messageId
                  "ATXid_<32 hex>"). A wrong apiKey/username: 401 text.
  twilio          POST /2010-04-01/Accounts/{sid}/Messages.json, form To, From, Body
                  (and StatusCallback); HTTP Basic sid:token. 201 JSON with
                  "sid": "SM<32 hex>", "status": "queued". Wrong sid or token: 401
                  JSON {"code": 20003, ...}.
  kannel          GET /cgi-bin/sendsms (smsbox's sendsms): username, password, from,
                  to (space-separated numbers), text, charset, coding, dlr-url,
                  dlr-mask. 202 "0: Accepted for delivery"; wrong credentials: 403
                  "Authorization failed for sendsms". The answers are word for word
                  those of a real Kannel 1.4.5 smsbox (checked against one): its
                  answers carry Content-Type text/html and no message id.
                  The text is decoded as smsbox does: CHARSET (default UTF-8 for
                  coding 0, UTF-16BE for coding 2) to Unicode; with coding 0 (or
                  none) every character outside the GSM 03.38 alphabet becomes '?'
                  (and 'ç' becomes 'Ç'), as Kannel does before the SMSC, so Chinese
                  sent without coding=2 arrives as "??", as it would on a phone.
                  coding=2 without a charset takes the bytes as UTF-16BE (so UTF-8
                  bytes without charset=UTF-8 arrive garbled, as with Kannel).

Every accepted message is recorded (see messages()) as a dict:
  seq, api, to, from, text (str), coding (kannel: 0/1/2, else None), charset
  (kannel), segments (what the text takes on the air: GSM-7 160/153, else UCS-2
  70/67), carrier_id (AT/Twilio id returned; None for kannel, which returns none),
  dlr_url, dlr_mask (kannel), status_callback (twilio), params (every form/query
  field as str), headers (every request header, lower-case names), peer ("host:port"
  of the client: the same port on two records means a reused connection), wall
  (time.time()) and monotonic (time.monotonic(); CLOCK_MONOTONIC is system-wide,
  so comparable across processes).
requests(api) counts every request that reached an API's path, answered or not
(failed, throttled, refused, hung). connections() counts accepted TCP connections;
drop_connections() closes the open ones (idle keep-alive included).

Behaviour, per API (api="africastalking"|"twilio"|"kannel") or for all (api=None),
or per destination number (number="+86..."; wins over the API rules), through
set_mode() or POST /_control; each rule applies to the next COUNT requests it
matches (count None: until changed), then falls back to the next rule:
  ok          accept (the default)
  fail        answer STATUS (default 500; 502/503 useful) - AT: text, Twilio: JSON
              {"code": 20500|20503, ...}, Kannel: 503 "Temporal failure, try again
              later." (smsbox's own temporary failure) or the bare reason phrase
  throttle    AT and Twilio: 429 + Retry-After: RETRY_AFTER (default 1; Twilio JSON
              code 20429). Kannel has no throttle answer of its own: a busy smsbox
              answers 503 "Temporal failure, try again later." without Retry-After,
              so that is what the kannel API answers here.
  blacklisted AT: the Recipient statusCode 406 "UserInBlacklist"; Twilio: 400
              {"code": 21610} (the recipient unsubscribed); Kannel: as permanent.
  permanent   AT: 201 with the Recipient statusCode 403 "InvalidPhoneNumber"
              (messageId "None"); Twilio: 400 {"code": 21211, "message": "The 'To'
              number is not a valid phone number."}; Kannel: 400 "Number(s)
              has/have been denied by white- and/or black-lists." (what smsbox
              answers for a number it will not send to). Not recorded as a message.
  slow        wait DELAY_MS, then accept
  hang        hold the request, never answering, until reset()/close() (or
              release()); the connection is then closed without an answer.
Checks come in this order: credentials, required fields, then the rule.

HTTP control (JSON; also what RemoteCarrier uses):
  POST /_control   {"mode", "api", "count", "status", "retry_after", "delay_ms",
                    "number"} or a list of them -> {"ok": true}
  POST /_reset     forget messages, counts and rules, release hung requests
  POST /_release   release hung requests only
  GET  /_messages[?api=A][&wait=N&timeout=S]  -> {"messages": [...], "requests":
                    {api: n}, "connections": n, "hanging": n, "complete": bool}

Quiet (nothing on stderr), HTTP/1.1 keep-alive with Content-Length on every answer,
thread safe (one lock around the state). Standard library only.
"""
import argparse
import base64
import json
import math
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AT = "africastalking"
TWILIO = "twilio"
KANNEL = "kannel"
APIS = (AT, TWILIO, KANNEL)
MODES = ("ok", "fail", "throttle", "permanent", "blacklisted", "slow", "hang")

DEFAULT_AT_USERNAME = "sandbox"
DEFAULT_AT_API_KEY = "at-test-api-key-0123456789"
DEFAULT_TWILIO_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_TWILIO_TOKEN = "twilio-test-auth-token-0123456789"
DEFAULT_KANNEL_USERNAME = "gateway"
DEFAULT_KANNEL_PASSWORD = "kannel-test-password"

AT_PATH = "/version1/messaging"
KANNEL_PATH = "/cgi-bin/sendsms"
TWILIO_PREFIX = "/2010-04-01/Accounts/"

# GSM 03.38: the basic alphabet (less ESC) and the extension table (ESC + char).
GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = "\f^{}\\[~]|€"
GSM_CHARS = frozenset(GSM_BASIC + GSM_EXTENSION)

KANNEL_TEMPORARY = "Temporal failure, try again later."
KANNEL_DENIED = "Number(s) has/have been denied by white- and/or black-lists."
KANNEL_TO_CHARS = frozenset("0123456789+-")   # smsbox's default sendsms-chars (less space)


def gsm_encodable(text):
    return all(c in GSM_CHARS for c in text)


def segments(text):
    """Parts TEXT takes on the air: GSM-7 (160, or 153 per part; an extension
    character counts two) when encodable, else UCS-2 (70, or 67 UTF-16 units)."""
    if gsm_encodable(text):
        n = sum(2 if c in GSM_EXTENSION else 1 for c in text)
        return 1 if n <= 160 else math.ceil(n / 153)
    n = len(text.encode("utf-16-be")) // 2
    return 1 if n <= 70 else math.ceil(n / 67)


def kannel_gsm_text(text):
    """What Kannel keeps of TEXT for a 7-bit message: GSM characters as they are,
    'ç' as 'Ç', anything else '?' (checked against Kannel 1.4.5)."""
    return "".join(c if c in GSM_CHARS else ("Ç" if c == "ç" else "?") for c in text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    # Several gatewayd open up to 128 connections each at once; the default
    # backlog of 5 would drop SYNs and turn them into client timeouts.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # A client that goes away mid-answer is normal here (timeouts, hang mode);
        # keep quiet, but keep the last error for a test that wants to look.
        self.carrier._note_error(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeCarrier/1.0"
    sys_version = ""
    timeout = 60          # an idle keep-alive connection is closed after this

    def log_message(self, fmt, *args):   # quiet: no request log on stderr
        pass

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.server.carrier._note_connection(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.carrier._note_connection(self.connection, False)

    # -- plumbing --

    def _body(self):
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            n = -1
        if n < 0 or n > 10 * 1024 * 1024:
            self.close_connection = True
            return None
        return self.rfile.read(n)

    def _send(self, status, body, content_type="text/plain; charset=utf-8", headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
            content_type = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _form(self, body):
        ctype = self.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" not in ctype.lower():
            return {}
        text = body.decode("latin-1")
        return {k: v[0] for k, v in urllib.parse.parse_qs(
            text, keep_blank_values=True, encoding="utf-8", errors="replace").items()}

    # -- dispatch --

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        carrier = self.server.carrier
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        body = self._body()       # read even on GET, or keep-alive would break
        if body is None:
            self._send(413, "Request Entity Too Large")
            return
        if path.startswith("/_"):
            self._control(method, path, url.query, body)
            return
        if path == AT_PATH:
            api = AT
        elif path == KANNEL_PATH:
            api = KANNEL
        elif path.startswith(TWILIO_PREFIX) and path.endswith("/Messages.json"):
            api = TWILIO
        else:
            self._send(404, "Not Found")
            return
        carrier._count(api)
        if (api == KANNEL) != (method == "GET") or method not in ("GET", "POST"):
            self._send(405, "Method Not Allowed",
                       headers=[("Allow", "GET" if api == KANNEL else "POST")])
            return
        if api == AT:
            self._africastalking(carrier, self._form(body))
        elif api == TWILIO:
            self._twilio(carrier, path[len(TWILIO_PREFIX):-len("/Messages.json")],
                         self._form(body))
        else:
            self._kannel(carrier, url.query)

    # -- rules --

    def _apply(self, carrier, api, rule):
        """Carries out RULE's hang/slow/fail/throttle; returns True when the
        request is answered (or dropped) here, False to go on and accept."""
        mode = rule["mode"]
        if mode == "hang":
            carrier._hold()
            self.close_connection = True
            return True
        if mode == "slow":
            time.sleep(rule.get("delay_ms", 1000) / 1000.0)
            return False
        if mode == "fail":
            status = rule.get("status", 500)
            self._fail(api, status)
            return True
        if mode == "throttle":
            self._throttle(api, rule.get("retry_after", 1))
            return True
        return False

    def _fail(self, api, status):
        reason = self.responses.get(status, ("Error",))[0]
        if api == TWILIO:
            self._send(status, {"code": 20000 + status, "message": reason,
                                "more_info": "https://www.twilio.com/docs/errors/%d"
                                % (20000 + status), "status": status})
        elif api == KANNEL:
            self._send(status, KANNEL_TEMPORARY if status == 503 else reason, "text/html")
        else:
            self._send(status, reason)

    def _throttle(self, api, retry_after):
        if api == KANNEL:
            self._send(503, KANNEL_TEMPORARY, "text/html")
            return
        headers = [("Retry-After", str(retry_after))]
        if api == TWILIO:
            self._send(429, {"code": 20429, "message": "Too Many Requests",
                             "more_info": "https://www.twilio.com/docs/errors/20429",
                             "status": 429}, headers=headers)
        else:
            self._send(429, "Too Many Requests", headers=headers)

    def _record(self, carrier, api, to, sender, text, params, **extra):
        rec = {"api": api, "to": to, "from": sender, "text": text,
               "coding": None, "charset": None, "segments": segments(text),
               "carrier_id": None, "dlr_url": None, "dlr_mask": None,
               "status_callback": None, "params": dict(params),
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "peer": "%s:%d" % self.client_address[:2],
               "wall": time.time(), "monotonic": time.monotonic()}
        rec.update(extra)
        carrier._add(rec)
        return rec

    # -- Africa's Talking --

    def _africastalking(self, carrier, form):
        if (self.headers.get("apiKey") != carrier.at_api_key
                or form.get("username") != carrier.at_username):
            self._send(401, "The supplied authentication is invalid")
            return
        for field in ("to", "message"):
            if not form.get(field):
                self._send(400, "Request is missing required form field '%s'" % field)
                return
        numbers = [n.strip() for n in form["to"].split(",") if n.strip()]
        if not numbers:
            self._send(400, "Request is missing required form field 'to'")
            return
        first = carrier._rule(AT, numbers[0])
        if self._apply(carrier, AT, first):
            return
        recipients, sent = [], 0
        for i, number in enumerate(numbers):
            rule = first if i == 0 else carrier._rule(AT, number, only_permanent=True)
            if rule["mode"] == "permanent":
                recipients.append({"statusCode": 403, "number": number,
                                   "status": "InvalidPhoneNumber", "cost": "0",
                                   "messageId": "None"})
                continue
            if rule["mode"] == "blacklisted":
                recipients.append({"statusCode": 406, "number": number,
                                   "status": "UserInBlacklist", "cost": "0",
                                   "messageId": "None"})
                continue
            mid = "ATXid_" + uuid.uuid4().hex
            self._record(carrier, AT, number, form.get("from"), form["message"], form,
                         carrier_id=mid)
            recipients.append({"statusCode": 101, "number": number, "status": "Success",
                               "cost": "KES 0.8000", "messageId": mid})
            sent += 1
        cost = "KES %.4f" % (0.8 * sent) if sent else "0"
        self._send(201, {"SMSMessageData": {
            "Message": "Sent to %d/%d Total Cost: %s" % (sent, len(numbers), cost),
            "Recipients": recipients}})

    # -- Twilio --

    def _twilio_error(self, status, code, message, headers=()):
        self._send(status, {"code": code, "message": message,
                            "more_info": "https://www.twilio.com/docs/errors/%d" % code,
                            "status": status}, headers=headers)

    def _twilio(self, carrier, sid, form):
        auth = self.headers.get("Authorization", "")
        user = password = None
        if auth[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(auth[6:].strip(), validate=True) \
                    .decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                user = None
        if sid != carrier.twilio_sid or user != carrier.twilio_sid \
                or password != carrier.twilio_token:
            self._twilio_error(401, 20003, "Authenticate",
                               [("WWW-Authenticate", 'Basic realm="Twilio API"')])
            return
        if not form.get("To"):
            self._twilio_error(400, 21604, "A 'To' phone number is required.")
            return
        if not form.get("From") and not form.get("MessagingServiceSid"):
            self._twilio_error(400, 21603, "A 'From' phone number is required.")
            return
        if not form.get("Body"):
            self._twilio_error(400, 21602, "Message body is required.")
            return
        to = form["To"]
        rule = carrier._rule(TWILIO, to)
        if rule["mode"] == "permanent":
            self._twilio_error(400, 21211, "The 'To' number is not a valid phone number.")
            return
        if rule["mode"] == "blacklisted":
            self._twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
            return
        if self._apply(carrier, TWILIO, rule):
            return
        msid = "SM" + uuid.uuid4().hex
        rec = self._record(carrier, TWILIO, to, form.get("From"), form["Body"], form,
                           carrier_id=msid, status_callback=form.get("StatusCallback"))
        now = formatdate(usegmt=True)
        base = "/2010-04-01/Accounts/%s/Messages/%s" % (sid, msid)
        self._send(201, {
            "account_sid": sid, "api_version": "2010-04-01", "body": form["Body"],
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0", "num_segments": str(rec["segments"]), "price": None,
            "price_unit": "USD", "sid": msid, "status": "queued",
            "subresource_uris": {"media": base + "/Media.json"}, "to": to,
            "uri": base + ".json"})

    # -- Kannel --

    def _kannel(self, carrier, query):
        # latin-1 keeps each percent-decoded byte, so TEXT can be decoded per charset
        raw = {k: v[0] for k, v in urllib.parse.parse_qs(
            query, keep_blank_values=True, encoding="latin-1").items()}
        params = {k: v.encode("latin-1").decode("utf-8", "replace") for k, v in raw.items()}
        if params.get("username") != carrier.kannel_username \
                or params.get("password") != carrier.kannel_password:
            self._send(403, "Authorization failed for sendsms", "text/html")
            return
        if "to" not in params:
            self._send(400, "Missing receiver number, rejected", "text/html")
            return
        if not params["to"]:
            self._send(400, "Empty receiver number not allowed, rejected", "text/html")
            return
        sender = params.get("from") or carrier.kannel_global_sender
        if not sender:
            self._send(400, "Sender missing and no global set, rejected", "text/html")
            return
        try:
            coding = int(params.get("coding") or 0)
            if coding not in (0, 1, 2):
                raise ValueError
        except ValueError:
            self._send(400, "Coding field misformed, rejected", "text/html")
            return
        dlr_mask = None
        if params.get("dlr-mask"):
            try:
                dlr_mask = int(params["dlr-mask"])
            except ValueError:
                self._send(400, "DLR-Mask field misformed, rejected", "text/html")
                return
        data = raw.get("text", "").encode("latin-1")
        charset = params.get("charset") or None
        try:
            if coding == 1:
                text = data.decode("latin-1")
            elif coding == 2:
                text = data.decode(charset or "utf-16-be", "replace")
            else:
                text = kannel_gsm_text(data.decode(charset or "utf-8", "replace"))
        except LookupError:
            self._send(400, "Charset or body misformed, rejected", "text/html")
            return
        numbers = [n for n in params["to"].split(" ") if n]
        allowed = [n for n in numbers if set(n) <= KANNEL_TO_CHARS]
        if not allowed:
            self._send(400, KANNEL_DENIED, "text/html")
            return
        rule = carrier._rule(KANNEL, allowed[0])
        if rule["mode"] in ("permanent", "blacklisted"):
            self._send(400, KANNEL_DENIED, "text/html")
            return
        if self._apply(carrier, KANNEL, rule):
            return
        for number in allowed:
            self._record(carrier, KANNEL, number, sender, text, params, coding=coding,
                         charset=charset, dlr_url=params.get("dlr-url"), dlr_mask=dlr_mask,
                         text_hex=data.hex())
        self._send(202, "0: Accepted for delivery", "text/html")

    # -- control --

    def _control(self, method, path, query, body):
        carrier = self.server.carrier
        try:
            if path == "/_control" and method == "POST":
                spec = json.loads(body.decode("utf-8") or "null")
                for one in spec if isinstance(spec, list) else [spec]:
                    if not isinstance(one, dict):
                        raise ValueError("a rule is a JSON object")
                    carrier.set_mode(**one)
                self._send(200, {"ok": True})
            elif path == "/_reset" and method == "POST":
                carrier.reset()
                self._send(200, {"ok": True})
            elif path == "/_release" and method == "POST":
                carrier.release()
                self._send(200, {"ok": True})
            elif path == "/_messages" and method == "GET":
                q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
                api = q.get("api") or None
                complete = True
                if "wait" in q:
                    complete = carrier._wait(int(q["wait"]), float(q.get("timeout", 10)), api)
                self._send(200, dict(carrier.state(api), complete=complete))
            else:
                self._send(404, {"error": "no such control path"})
        except (ValueError, TypeError, KeyError) as e:
            self._send(400, {"error": str(e)})


class FakeCarrier:
    """One fake carrier serving all three APIs on one port (see the module doc)."""

    def __init__(self, host="127.0.0.1", port=0, at_username=DEFAULT_AT_USERNAME,
                 at_api_key=DEFAULT_AT_API_KEY, twilio_sid=DEFAULT_TWILIO_SID,
                 twilio_token=DEFAULT_TWILIO_TOKEN, kannel_username=DEFAULT_KANNEL_USERNAME,
                 kannel_password=DEFAULT_KANNEL_PASSWORD, kannel_global_sender=None):
        self.at_username = at_username
        self.at_api_key = at_api_key
        self.twilio_sid = twilio_sid
        self.twilio_token = twilio_token
        self.kannel_username = kannel_username
        self.kannel_password = kannel_password
        self.kannel_global_sender = kannel_global_sender
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._release = threading.Event()
        self._closing = False
        self._messages = []
        self._requests = dict.fromkeys(APIS, 0)
        self._connections = 0
        self._open = set()    # client sockets being served
        self._hanging = 0
        self._rules = {}      # None (every API) or an API name -> rule
        self._numbers = {}    # destination number -> rule (rule["api"] None: any API)
        self.last_error = None
        self._server = _Server((host, port), _Handler)
        self._server.carrier = self
        self.host, self.port = self._server.server_address[:2]
        self.url = "http://%s:%d" % (self.host, self.port)
        self._thread = None

    # -- life cycle --

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-carrier", daemon=True)
        self._thread.start()
        return self

    def close(self):
        """Releases hung requests, stops serving and closes the listening socket."""
        with self._lock:
            self._closing = True
            self._release.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()
        self.drop_connections()

    def __enter__(self):
        return self.start() if self._thread is None else self

    def __exit__(self, *exc):
        self.close()

    # -- behaviour --

    def set_mode(self, mode, api=None, count=None, status=None, retry_after=None,
                 delay_ms=None, number=None):
        """Sets the rule for API (None: all) or for destination NUMBER (optionally
        only through API). COUNT: for the next COUNT matching requests, then the
        next rule applies (None: until changed). "ok" without NUMBER or COUNT clears
        the rule."""
        if mode not in MODES:
            raise ValueError("mode %r is not one of %s" % (mode, ", ".join(MODES)))
        if api is not None and api not in APIS:
            raise ValueError("api %r is not one of %s" % (api, ", ".join(APIS)))
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer or None")
        rule = {"mode": mode, "api": api, "count": count}
        if mode == "fail":
            rule["status"] = int(status or 500)
            if not 400 <= rule["status"] <= 599:
                raise ValueError("status %r is not an HTTP error status" % status)
        if mode == "throttle":
            rule["retry_after"] = int(1 if retry_after is None else retry_after)
        if mode == "slow":
            rule["delay_ms"] = int(1000 if delay_ms is None else delay_ms)
        with self._lock:
            if number is not None:
                if mode == "ok" and count is None:
                    self._numbers.pop(number, None)
                else:
                    self._numbers[number] = rule
            elif mode == "ok" and count is None:
                self._rules.pop(api, None)
            else:
                self._rules[api] = rule

    def ok(self, api=None):
        self.set_mode("ok", api)

    def reset(self):
        """Forgets messages, counts and rules; releases hung requests."""
        with self._lock:
            self._messages.clear()
            self._requests = dict.fromkeys(APIS, 0)
            self._connections = 0
            self._rules.clear()
            self._numbers.clear()
            self._release.set()
            self._release = threading.Event()
            self._changed.notify_all()

    def release(self):
        """Lets every request held by "hang" go (its connection is closed unanswered)."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()

    def _rule(self, api, number, only_permanent=False):
        """The rule for one request to NUMBER (consuming one use of a counted rule);
        ONLY_PERMANENT: the further recipients of a multi-recipient request, which
        can only be refused one by one."""
        with self._lock:
            candidates = []
            by_number = self._numbers.get(number)
            if by_number is not None and by_number["api"] in (None, api):
                candidates.append((self._numbers, number))
            candidates += [(self._rules, api), (self._rules, None)]
            for table, key in candidates:
                rule = table.get(key)
                if rule is None:
                    continue
                if only_permanent and rule["mode"] not in ("permanent", "blacklisted"):
                    continue
                if rule["count"] is not None:
                    rule["count"] -= 1
                    if rule["count"] <= 0:
                        del table[key]
                return dict(rule)
            return {"mode": "ok"}

    def _hold(self):
        with self._lock:
            event = self._release
            self._hanging += 1
        try:
            while not event.wait(0.05):
                if self._closing:
                    break
        finally:
            with self._lock:
                self._hanging -= 1

    # -- records --

    def _count(self, api):
        with self._lock:
            self._requests[api] += 1
            self._changed.notify_all()

    def _note_connection(self, sock, opened):
        with self._lock:
            if opened:
                self._connections += 1
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def drop_connections(self):
        """Closes every client connection now (idle keep-alive ones included), as a
        carrier's load balancer might; returns how many there were."""
        with self._lock:
            socks = list(self._open)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(socks)

    def _note_error(self, exc):
        with self._lock:
            self.last_error = exc

    def _add(self, rec):
        with self._lock:
            rec["seq"] = len(self._messages) + 1
            self._messages.append(rec)
            self._changed.notify_all()

    def _matching(self, api=None, to=None):
        return [dict(m) for m in self._messages
                if (api is None or m["api"] == api) and (to is None or m["to"] == to)]

    def messages(self, api=None, to=None):
        """Copies of the accepted messages, oldest first."""
        with self._lock:
            return self._matching(api, to)

    def requests(self, api=None):
        """Requests that reached API's path (all APIs when None), answered or not."""
        with self._lock:
            return sum(self._requests.values()) if api is None else self._requests[api]

    def connections(self):
        with self._lock:
            return self._connections

    def hanging(self):
        """Requests held by "hang" right now."""
        with self._lock:
            return self._hanging

    def state(self, api=None):
        with self._lock:
            return {"messages": self._matching(api), "requests": dict(self._requests),
                    "connections": self._connections, "hanging": self._hanging}

    def _n_matching(self, api=None, to=None):
        if api is None and to is None:
            return len(self._messages)
        return sum(1 for m in self._messages
                   if (api is None or m["api"] == api) and (to is None or m["to"] == to))

    def _wait(self, n, timeout, api=None, to=None):
        end = time.monotonic() + timeout
        with self._lock:
            while self._n_matching(api, to) < n:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
            return True

    def wait_messages(self, n, timeout=10.0, api=None, to=None):
        """Waits until N messages (of API, to TO) were accepted; returns them all.
        Raises AssertionError after TIMEOUT seconds."""
        if not self._wait(n, timeout, api, to):
            got = self.messages(api, to)
            raise AssertionError(
                "fake carrier: %d of %d messages%s%s in %.1f s (requests so far: %s)"
                % (len(got), n, " via " + api if api else "", " to " + to if to else "",
                   timeout, self.state()["requests"]))
        return self.messages(api, to)

    def wait_requests(self, n, timeout=10.0, api=None):
        """Waits until N requests reached API's path (answered or not)."""
        end = time.monotonic() + timeout
        with self._lock:
            while (sum(self._requests.values()) if api is None else self._requests[api]) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("fake carrier: %s requests%s after %.1f s, want %d"
                                         % (dict(self._requests), " via " + api if api else "",
                                            timeout, n))
                self._changed.wait(min(left, 0.5))


class RemoteCarrier:
    """Drives a fake_carrier.py running in another process through its /_ paths."""

    def __init__(self, url, timeout=10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method, path, body=None, timeout=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise ValueError("%s %s: %d %s" % (method, path, e.code, e.read()[:200])) from None

    def set_mode(self, mode, **kw):
        self._call("POST", "/_control", dict(kw, mode=mode))

    def reset(self):
        self._call("POST", "/_reset", {})

    def release(self):
        self._call("POST", "/_release", {})

    def state(self, api=None):
        return self._call("GET", "/_messages" + ("?api=" + api if api else ""))

    def messages(self, api=None):
        return self.state(api)["messages"]

    def requests(self, api=None):
        counts = self.state()["requests"]
        return sum(counts.values()) if api is None else counts[api]

    def wait_messages(self, n, timeout=10.0, api=None):
        q = {"wait": n, "timeout": timeout}
        if api:
            q["api"] = api
        got = self._call("GET", "/_messages?" + urllib.parse.urlencode(q), timeout=timeout + 5)
        if not got["complete"]:
            raise AssertionError("fake carrier: %d of %d messages in %.1f s (requests: %s)"
                                 % (len(got["messages"]), n, timeout, got["requests"]))
        return got["messages"]


def main():
    ap = argparse.ArgumentParser(description="A fake SMS carrier (Africa's Talking, "
                                 "Twilio, Kannel sendsms) for tests; prints its port.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    ap.add_argument("--at-username", default=DEFAULT_AT_USERNAME)
    ap.add_argument("--at-api-key", default=DEFAULT_AT_API_KEY)
    ap.add_argument("--twilio-sid", default=DEFAULT_TWILIO_SID)
    ap.add_argument("--twilio-token", default=DEFAULT_TWILIO_TOKEN)
    ap.add_argument("--kannel-username", default=DEFAULT_KANNEL_USERNAME)
    ap.add_argument("--kannel-password", default=DEFAULT_KANNEL_PASSWORD)
    ap.add_argument("--kannel-global-sender", default=None)
    args = ap.parse_args()
    try:
        carrier = FakeCarrier(args.host, args.port, args.at_username, args.at_api_key,
                              args.twilio_sid, args.twilio_token, args.kannel_username,
                              args.kannel_password, args.kannel_global_sender)
    except OSError as e:
        print("fake_carrier: cannot listen on %s:%d: %s" % (args.host, args.port, e),
              file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    carrier.start()
    print(carrier.port, flush=True)
    while not stop.wait(0.5):
        pass
    carrier.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
