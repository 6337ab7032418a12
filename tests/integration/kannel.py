"""A real Kannel 1.4.5 for the tests: bearerbox + smsbox + the fake SMSC (fakesmsc).

    k = KannelEnv(os.path.join(env.dir, "kannel"),
                  inbound_url="http://127.0.0.1:P/sms/inbound/kannel")
    k.start()
    ... [provider kannel] base_url = k.base_url, username/password = k.creds ...
    k.wait_received(1, timeout=10)   # -> [Sms(sender, to, type, text, coding, parts, data)]
    k.inject("+8613800000009", "12333", "TD")   # an MO (inbound) SMS
    k.close()

Debian packages `kannel` (bearerbox, smsbox in /usr/sbin) and `kannel-extras`
(/usr/lib/kannel/test/fakesmsc). available() says whether they are installed.

How the pieces connect (all on 127.0.0.1, every port picked free at construction;
SENDSMS_PORT may be given, so a test can put it in its module CONFIG before start):
  - bearerbox: admin-port (status: GET /status.txt, open), smsbox-port (smsbox
    connects to it), access-log in the directory (one "Sent SMS" line per message).
  - smsc "fake" (smsc = fake, port SMSC_PORT): bearerbox LISTENS on that port and
    fakesmsc CONNECTS to it as a client (fakesmsc -H 127.0.0.1 -r SMSC_PORT). The fake
    SMSC serves one client at a time. MT messages routed to it are written to the
    client one per line; fakesmsc logs each on its stderr as
        ... DEBUG: Got message N: <SENDER RECEIVER TYPE DATA>
  - smsc "inject" (another fake SMSC, INJECT_PORT, allowed-smsc-id = inject so no MT
    is routed to it): fakesmsc only sends MO messages given on its command line
    (-m count, -i interval; it has no stdin mode), so inject() runs a short-lived
    fakesmsc -m 1 "FROM TO TYPE DATA" against this port and stops it with SIGINT
    once it logged "fakesmsc: sent message 1".
  - smsbox: sendsms-port SENDSMS_PORT (GET /cgi-bin/sendsms), one sendsms-user
    (USERNAME/PASSWORD, max-messages 10 + concatenation so long texts go as
    several parts), and the default sms-service: get-url = INBOUND_URL (with
    DEFAULT_MO_QUERY appended when it has no '%' escapes of its own), max-messages 0
    (the HTTP answer is never sent back as an SMS). No global-sender unless given:
    a sendsms without from= is refused (400 "Sender missing and no global set,
    rejected").

What fakesmsc shows for MT (checked with this Kannel 1.4.5):
  - 7-bit (coding 0 or none): "12333 +8613800000001 text Hello world & 100% sure+ok"
    - the text RAW (not URL-encoded), in UTF-8, after Kannel kept only GSM 03.38
    characters: anything else became '?', so Chinese sent without coding=2 shows
    as "??" ('ç' becomes 'Ç'). A newline in the text ends fakesmsc's line: the rest
    comes as a separate "Got message" line without the three fields; received()
    joins such a line to the message before it.
  - UCS-2 (coding=2): "12333 +8613800000001 ucs-2 0%10g%D0S%BFN%BAy%3E0%11..." - the
    UTF-16BE bytes URL-encoded the Kannel way (letters and digits as they are,
    space as '+', '+' as %2B). With charset=UTF-8 smsbox converts the UTF-8 text
    to UCS-2; with coding=2 and NO charset it takes the bytes as UTF-16BE already
    (UTF-8 bytes then arrive garbled).
  - 8-bit (coding=1): "... data <url-encoded bytes>".
  - Longer than one SMS (7-bit > 160 chars, UCS-2 > 70): one line per part,
    "12333 +8613800000001 udh %05%00%03%02%02%01 data <url-encoded part bytes>"
    (UDH: concatenation IE 00, reference, total, sequence). The line does not say
    the coding, and UCS-2 of common Chinese can be all ASCII bytes ("你好" is
    "O`Y}"), so received() takes the coding of a reassembled message from
    bearerbox's access log: "Sent SMS [SMSC:fake] ... [from:12333]
    [to:+8613800000001] [flags:-1:2:-1:-1:-1] [msg:160:4F60597D...]" - one line
    per whole message, flags field 2 = coding, msg = LEN:bytes (hex for coding 1
    and 2; for 0 the text with every byte outside 32..126 shown as '.'). A
    multi-part message counts in received() once all its parts are in and its
    access-log line is found.
  - sendsms answers (Content-Type text/html): 202 "0: Accepted for delivery";
    wrong user or password: 403 "Authorization failed for sendsms"; bad receiver
    (characters outside sendsms-chars): 400 "Number(s) has/have been denied by
    white- and/or black-lists."; temporary trouble (smsbox.c, not provoked here):
    503 "Temporal failure, try again later." - never a 429 or Retry-After. HTTP/1.1
    keep-alive works (Connection: Keep-Alive); a client saying Connection: close
    gets Close.
  - DLR: with dlr-mask and dlr-url the fake SMSC reports 8 (SMSC success) and 1
    (delivered) at once; smsbox calls dlr-url with %d = 8 then 1.

What the inbound (MO) get-url receives (checked the same way):
  - inject(..., "TD hello") (GSM text): fakesmsc line "FROM TO text TD hello" ->
    from=%2B8613800000009&to=12333&text=TD+hello&coding=0&charset=UTF-8
  - inject(..., "退订") (not GSM, or with a newline: sent as UCS-2, as a phone
    would): fakesmsc line "FROM TO ucs2 <url-encoded UTF-16BE>" ->
    text=%90%00%8B%A2&coding=2&charset=UTF-16BE (the raw UTF-16BE bytes; decode by
    charset). With mo_recode=True, smsbox's mo-recode turns UCS-2 MO into UTF-8.
  - %I is Kannel's message id (a UUID), %i the smsc-id ("inject"), %T unix time.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import namedtuple

from fake_carrier import gsm_encodable

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
DEFAULT_USERNAME = "gateway"
DEFAULT_PASSWORD = "kannel-test-password"
# Kannel escapes: %p sender, %P receiver, %a text (URL-encoded bytes), %c coding,
# %C charset, %I message id, %i smsc id, %T unix time.
DEFAULT_MO_QUERY = "from=%p&to=%P&text=%a&coding=%c&charset=%C&id=%I&smsc=%i&time=%T"

# Sms.type: fakesmsc's word ("text", "data", "ucs-2"), or "udh" for a message
# reassembled from parts. coding: 0, 1 or 2. parts: lines it came in. data: the
# message bytes as Kannel held them (UTF-8 for coding 0, UTF-16BE for 2).
Sms = namedtuple("Sms", "sender to type text coding parts data")

GOT = re.compile(rb"Got message \d+: <(.*)>$")
LINE = re.compile(rb"^(\S+) (\S+) (text|data|ucs-2|udh) (.*)$", re.S)
ACCESS = re.compile(rb"Sent SMS \[SMSC:fake\] .*?\[from:([^\]]*)\] \[to:([^\]]*)\] "
                    rb"\[flags:[^:\]]*:(-?\d+):[^\]]*\] \[msg:(\d+):")


def available():
    """(True, "") when the Kannel binaries are installed, else (False, why)."""
    missing = [p for p in (BEARERBOX, SMSBOX, FAKESMSC) if not os.access(p, os.X_OK)]
    if missing:
        return False, ("not installed: %s (Debian packages kannel and kannel-extras; "
                       "ops/lib.sh gw_install_deps installs them)" % ", ".join(missing))
    return True, ""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def kannel_unquote(data):
    """Kannel's URL decoding: '+' is a space, %XX a byte."""
    return urllib.parse.unquote_to_bytes(data.replace(b"+", b" "))


def _decode(data, coding):
    if coding == 2:
        return data.decode("utf-16-be", "replace")
    if coding == 1:
        return data.decode("latin-1")
    return data.decode("utf-8", "replace")


def _printable(data):
    """DATA as the access log shows a 7-bit text: bytes outside 32..126 as '.'."""
    return bytes(b if 32 <= b <= 126 else 0x2E for b in data)


def _concat_ie(udh):
    """(reference, total, sequence) of a concatenation IE in UDH, or None."""
    i = 1
    while i + 1 < len(udh) and i <= udh[0]:
        iei, n = udh[i], udh[i + 1]
        body = udh[i + 2:i + 2 + n]
        if iei == 0x00 and n == 3:
            return body[0], body[1], body[2]
        if iei == 0x08 and n == 4:
            return (body[0] << 8) | body[1], body[2], body[3]
        i += 2 + n
    return None


class KannelError(AssertionError):
    """Kannel could not be set up or did not do what was asked."""


class KannelEnv:
    def __init__(self, tmpdir, inbound_url=None, sendsms_port=None,
                 username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD,
                 global_sender=None, mo_recode=False):
        self.dir = tmpdir
        os.makedirs(self.dir, exist_ok=True)
        self.admin_port = free_port()
        self.smsbox_port = free_port()
        self.smsc_port = free_port()
        self.inject_port = free_port()
        self.sendsms_port = sendsms_port or free_port()
        self.admin_password = "kannel-admin"
        self.username = username
        self.password = password
        self.global_sender = global_sender
        self.mo_recode = mo_recode
        self.inbound_url = inbound_url
        self.base_url = "http://127.0.0.1:%d" % self.sendsms_port
        self.config_path = os.path.join(self.dir, "kannel.conf")
        self.access_log = os.path.join(self.dir, "access.log")
        self.bearerbox = self.smsbox = self.fakesmsc = None
        self._lines = []              # fakesmsc's output lines (bytes)
        self._lock = threading.Lock()
        self._inject_lock = threading.Lock()
        self._reader = None

    @property
    def creds(self):
        return self.username, self.password

    def sendsms_url(self):
        return self.base_url + "/cgi-bin/sendsms"

    # -- configuration --

    def mo_url(self):
        if not self.inbound_url:
            return None
        if "%" in self.inbound_url:
            return self.inbound_url
        return self.inbound_url + ("&" if "?" in self.inbound_url else "?") + DEFAULT_MO_QUERY

    def config_text(self):
        def q(value):
            return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
        lines = [
            "group = core",
            "admin-port = %d" % self.admin_port,
            "admin-password = %s" % q(self.admin_password),
            'admin-allow-ip = "127.0.0.1"',
            "smsbox-port = %d" % self.smsbox_port,
            'box-allow-ip = "127.0.0.1"',
            "log-file = %s" % q(os.path.join(self.dir, "bearerbox.log")),
            "log-level = 0",
            "access-log = %s" % q(self.access_log),
            "dlr-storage = internal",
            "",
            "group = smsc",
            "smsc = fake",
            "smsc-id = fake",
            "port = %d" % self.smsc_port,
            'connect-allow-ip = "127.0.0.1"',
            "",
            "group = smsc",
            "smsc = fake",
            "smsc-id = inject",
            "allowed-smsc-id = inject",
            "port = %d" % self.inject_port,
            'connect-allow-ip = "127.0.0.1"',
            "",
            "group = smsbox",
            "bearerbox-host = 127.0.0.1",
            "bearerbox-port = %d" % self.smsbox_port,
            "sendsms-port = %d" % self.sendsms_port,
            "sendsms-interface = 127.0.0.1",
            "log-file = %s" % q(os.path.join(self.dir, "smsbox.log")),
            "log-level = 0",
            "mo-recode = %s" % ("true" if self.mo_recode else "false"),
        ]
        if self.global_sender:
            lines.append("global-sender = %s" % q(self.global_sender))
        lines += [
            "",
            "group = sendsms-user",
            "username = %s" % q(self.username),
            "password = %s" % q(self.password),
            "max-messages = 10",
            "concatenation = true",
            "",
            "group = sms-service",
            "keyword = default",
            "catch-all = true",
            "max-messages = 0",
        ]
        url = self.mo_url()
        lines.append("get-url = %s" % q(url) if url else 'text = ""')
        return "\n".join(lines) + "\n"

    # -- processes --

    def _spawn(self, name, argv):
        """Starts ARGV in the directory, its output in NAME.out."""
        with open(os.path.join(self.dir, name + ".out"), "ab") as out:
            return subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def _read_fakesmsc(self, pipe):
        with open(os.path.join(self.dir, "fakesmsc.out"), "ab") as log:
            for line in iter(pipe.readline, b""):
                log.write(line)
                log.flush()
                with self._lock:
                    self._lines.append(line.rstrip(b"\n"))
        pipe.close()

    def status(self):
        """bearerbox's status.txt (text), or "" when it does not answer."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/status.txt" % self.admin_port,
                                        timeout=2) as r:
                return r.read().decode("utf-8", "replace")
        except (OSError, urllib.error.URLError):
            return ""

    def _wait(self, what, predicate, deadline):
        while time.monotonic() < deadline:
            for name, proc in (("bearerbox", self.bearerbox), ("smsbox", self.smsbox),
                               ("fakesmsc", self.fakesmsc)):
                if proc is not None and proc.poll() is not None:
                    raise KannelError("%s exited with %s while waiting for %s:\n%s"
                                      % (name, proc.returncode, what, self.log_tail()))
            if predicate():
                return
            time.sleep(0.1)
        raise KannelError("Kannel: no %s in time:\n%s" % (what, self.log_tail()))

    def _sendsms_answers(self):
        try:
            urllib.request.urlopen(self.sendsms_url(), timeout=2).close()
            return True
        except urllib.error.HTTPError as e:
            return e.code == 403     # "Authorization failed": smsbox is serving
        except OSError:
            return False

    def start(self, timeout=30):
        ok, why = available()
        if not ok:
            raise KannelError("Kannel " + why)
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config_text())
        deadline = time.monotonic() + timeout
        try:
            self.bearerbox = self._spawn("bearerbox", [BEARERBOX, "-v", "1", self.config_path])
            self._wait("bearerbox status page", lambda: "SMSC connections" in self.status(),
                       deadline)
            self.fakesmsc = subprocess.Popen(
                [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-i", "0", "-m", "0",
                 "0 0 text unused"], cwd=self.dir, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            self._reader = threading.Thread(target=self._read_fakesmsc,
                                            args=(self.fakesmsc.stdout,), daemon=True)
            self._reader.start()
            self._wait("fakesmsc connection (smsc fake online)",
                       lambda: re.search(r"fake\[fake\]\s+FAKE:%d \(online" % self.smsc_port,
                                         self.status()), deadline)
            self.smsbox = self._spawn("smsbox", [SMSBOX, "-v", "1", self.config_path])
            self._wait("smsbox connection", lambda: "smsbox:" in self.status(), deadline)
            self._wait("sendsms on port %d" % self.sendsms_port, self._sendsms_answers,
                       deadline)
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        """Stops everything this KannelEnv started (bearerbox first: the others
        follow it; anything left after 10 s is killed). Returns problems found."""
        problems = []
        procs = [("bearerbox", self.bearerbox), ("smsbox", self.smsbox),
                 ("fakesmsc", self.fakesmsc)]
        if self.bearerbox is not None and self.bearerbox.poll() is None:
            self.bearerbox.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for name, proc in procs:
            if proc is None:
                continue
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(2)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
                    problems.append("%s had to be killed" % name)
        if self._reader is not None:
            self._reader.join(5)
        return problems

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def log_tail(self, lines=15):
        out = []
        for name in ("bearerbox.out", "bearerbox.log", "smsbox.out", "smsbox.log",
                     "fakesmsc.out"):
            path = os.path.join(self.dir, name)
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace").splitlines()[-lines:]
            except FileNotFoundError:
                continue
            if text:
                out.append("-- %s:\n%s" % (name, "\n".join(text)))
        return "\n".join(out)

    # -- MT: what reached the fake SMSC --

    def raw_lines(self):
        """fakesmsc's "Got message" contents as received (bytes)."""
        with self._lock:
            lines = list(self._lines)
        return [m.group(1) for m in map(GOT.search, lines) if m]

    def _access_entries(self):
        """(from, to, coding, message bytes) of each "Sent SMS" via smsc fake."""
        try:
            with open(self.access_log, "rb") as f:
                blob = f.read()
        except FileNotFoundError:
            return []
        out = []
        for m in ACCESS.finditer(blob):
            coding, n = int(m.group(3)), int(m.group(4))
            start = m.end()
            if coding in (1, 2):
                try:
                    body = bytes.fromhex(blob[start:start + 2 * n].decode("ascii"))
                except ValueError:
                    continue
            else:
                body = blob[start:start + n]
            out.append((m.group(1), m.group(2), coding, body))
        return out


    def received(self):
        """Complete MT messages that reached fakesmsc, in order, as Sms tuples."""
        done, groups, order = [], {}, []
        for content in self.raw_lines():
            m = LINE.match(content)
            if m is None:
                # the rest of a 7-bit text after a newline in it
                if done and done[-1] is not None and done[-1].type == "text":
                    prev = done[-1]
                    data = prev.data + b"\n" + content
                    done[-1] = prev._replace(data=data, text=_decode(data, 0))
                continue
            sender, to, kind, rest = (m.group(1).decode("utf-8", "replace"),
                                      m.group(2).decode("utf-8", "replace"),
                                      m.group(3).decode(), m.group(4))
            if kind == "text":
                done.append(Sms(sender, to, "text", _decode(rest, 0), 0, 1, rest))
            elif kind in ("data", "ucs-2"):
                coding = 2 if kind == "ucs-2" else 1
                data = kannel_unquote(rest)
                done.append(Sms(sender, to, kind, _decode(data, coding), coding, 1, data))
            else:
                udh_enc, _, tail = rest.partition(b" ")
                udh = kannel_unquote(udh_enc)
                data = kannel_unquote(tail[5:] if tail.startswith(b"data ") else tail)
                ie = _concat_ie(udh)
                if ie is None:
                    done.append(Sms(sender, to, "udh", _decode(data, 1), 1, 1, data))
                    continue
                key = (sender, to, ie[0], ie[1])
                if key not in groups:
                    groups[key] = {}
                    done.append(None)             # its place in the order
                    order.append((len(done) - 1, key))
                groups[key][ie[2]] = data
        access = self._access_entries()
        used = set()
        for index, key in order:
            sender, to, _, total = key
            parts = groups[key]
            if len(parts) < total or any(i not in parts for i in range(1, total + 1)):
                continue
            data = b"".join(parts[i] for i in range(1, total + 1))
            for j, (a_from, a_to, coding, body) in enumerate(access):
                if j in used or a_from.decode("utf-8", "replace") != sender \
                        or a_to.decode("utf-8", "replace") != to:
                    continue
                if body == (_printable(data) if coding == 0 else data):
                    used.add(j)
                    done[index] = Sms(sender, to, "udh", _decode(data, coding), coding, total,
                                      data)
                    break
        return [m for m in done if m is not None]

    def wait_received(self, n, timeout=10.0):
        """Waits until N complete messages reached fakesmsc; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            if len(got) >= n:
                return got
            if time.monotonic() >= deadline:
                raw = self.raw_lines()
                raise KannelError("fakesmsc got %d of %d messages in %.1f s; its last lines: %r"
                                  % (len(got), n, timeout, raw[-5:]))
            time.sleep(0.05)

    # -- MO: an SMS from a phone --

    def inject(self, sender, to, text, ucs2=None, timeout=10.0):
        """Has the fake SMSC deliver an SMS from SENDER to TO (the short code) to
        Kannel, which hands it to the sms-service get-url. UCS2 None: as a phone
        would - UCS-2 when TEXT is not GSM 03.38 or has a newline, else 7-bit text.
        Returns once fakesmsc has written it (delivery to get-url follows)."""
        if " " in sender or " " in to or not sender or not to:
            raise ValueError("sender and receiver must be non-empty, without spaces")
        if ucs2 is None:
            ucs2 = not gsm_encodable(text) or "\n" in text or "\r" in text
        if ucs2:
            line = "%s %s ucs2 %s" % (sender, to, urllib.parse.quote_from_bytes(
                text.encode("utf-16-be"), safe=""))
        else:
            if "\n" in text or "\r" in text:
                raise ValueError("a 7-bit fakesmsc message cannot hold a newline")
            line = "%s %s text %s" % (sender, to, text)
        with self._inject_lock:
            proc = subprocess.Popen([FAKESMSC, "-H", "127.0.0.1", "-r", str(self.inject_port),
                                     "-i", "0", "-m", "1", line], cwd=self.dir,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            seen = []
            sent = threading.Event()

            def watch():
                for out in iter(proc.stdout.readline, b""):
                    seen.append(out)
                    if b"fakesmsc: sent message 1" in out:
                        sent.set()
                proc.stdout.close()
            t = threading.Thread(target=watch, daemon=True)
            t.start()
            deadline = time.monotonic() + timeout
            while not sent.wait(0.05):
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)   # its way out: closes the connection
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            t.join(5)
            with open(os.path.join(self.dir, "inject.out"), "ab") as log:
                log.writelines(seen)
            if not sent.is_set():
                raise KannelError("fakesmsc did not send the MO %r (exit %s): %r"
                                  % (line, proc.returncode, b"".join(seen)[-500:]))

