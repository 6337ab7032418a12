"""Sending through a real Kannel 1.4.5 (bearerbox + smsbox + fakesmsc; see kannel.py):
POST /v1/messages with the admin token, then the text must reach the fake SMSC
whole - signature first, Chinese intact (UCS-2), long texts in parts Kannel
reassembles to the same text.

Each test starts its own Kannel on SENDSMS_PORT, which the file's CONFIG names as
the kannel account's base_url. Without the Kannel binaries (Debian packages kannel
and kannel-extras, installed by ops/lib.sh gw_install_deps) each test prints
SKIPPED and the reason, and does nothing else."""
import os
import time

import harness
import kannel

SENDSMS_PORT = harness.free_port()
SIGNATURE = "【某县人社】"
SENDER = "12333"
PHONE = "+8613800000001"

CONFIG = {
    "sms": {"default_provider": "kannel", "signature": SIGNATURE},
    "provider kannel": {"type": "kannel",
                        "base_url": "http://127.0.0.1:%d" % SENDSMS_PORT,
                        "username": kannel.DEFAULT_USERNAME,
                        "password": kannel.DEFAULT_PASSWORD,
                        "sender": SENDER},
}
TIMEOUT = 90


def start_kannel(env):
    """A running KannelEnv, or None (after printing why) when Kannel is absent."""
    ok, why = kannel.available()
    if not ok:
        print("    SKIPPED: Kannel %s" % why, flush=True)
        return None
    k = kannel.KannelEnv(os.path.join(env.dir, "kannel-%d" % int(time.monotonic() * 1000)),
                         sendsms_port=SENDSMS_PORT,
                         inbound_url="http://127.0.0.1:%d/sms/inbound/kannel" % env.http_port)
    return k.start()


def send_and_expect(env, k, text, parts=1):
    """POST /v1/messages {"to", "text"}; waits for fakesmsc to show it and checks
    the receiver, the sender and the text (signature + TEXT), once only."""
    status, answer = env.admin("POST", "/v1/messages", {"to": PHONE, "text": text})
    assert status == 202, "POST /v1/messages answered %d: %r" % (status, answer)
    assert isinstance(answer, dict) and answer.get("id"), \
        "POST /v1/messages: 202 without an id: %r" % (answer,)
    got = k.wait_received(1, timeout=20)
    time.sleep(0.5)                       # a duplicate would show up by now
    got = k.received()
    assert len(got) == 1, "fakesmsc got %d messages, want 1: %r" % (len(got), got)
    m = got[0]
    print("    fakesmsc: %s -> %s, %s, coding %d, %d part(s): %r"
          % (m.sender, m.to, m.type, m.coding, m.parts, m.text))
    assert m.to == PHONE, "the SMSC got receiver %r, want %r" % (m.to, PHONE)
    assert m.sender == SENDER, "the SMSC got sender %r, want %r" % (m.sender, SENDER)
    assert m.text == SIGNATURE + text, "the SMSC got %r, want %r" % (m.text, SIGNATURE + text)
    # the signature is Chinese: the whole message must go as UCS-2
    assert m.coding == 2, "coding %d, want 2 (UCS-2): %r" % (m.coding, m)
    assert m.parts == parts, "%d parts, want %d" % (m.parts, parts)
    return m


def run_with_kannel(env, fn):
    k = start_kannel(env)
    if k is None:
        return
    try:
        fn(k)
    finally:
        problems = k.close()
        assert not problems, "Kannel did not stop cleanly: %s" % problems


def test_english_text_reaches_the_smsc(env):
    # with the Chinese signature it goes as UCS-2: 6 + 56 units, one part
    run_with_kannel(env, lambda k: send_and_expect(
        env, k, "Your 2026 contribution of 100 yuan is due by 2026-12-31."))


def test_chinese_text_reaches_the_smsc(env):
    run_with_kannel(env, lambda k: send_and_expect(
        env, k, "您的2026年度养老保险缴费100元尚未缴纳，请于2026年12月31日前缴费。"))


def test_long_chinese_text_arrives_whole(env):
    # 6 + 3 + 96 = 105 UTF-16 units: two parts of at most 67
    text = "您好，" + "请按时缴纳城乡居民养老保险费用，" * 6
    run_with_kannel(env, lambda k: send_and_expect(env, k, text, parts=2))


def test_inbound_sms_through_kannel_and_its_reply_and_delivery_report(env):
    """An SMS injected at the fake SMSC reaches gatewayd through smsbox's get-url
    (Chinese as UCS-2), the opt-out takes effect, the confirmation comes back out
    of Kannel, and Kannel's delivery report marks it delivered."""
    from harness import wait_until

    def run(k):
        k.inject(PHONE, SENDER, "退订")
        assert wait_until(lambda: PHONE in {o["phone"] for o in
                                            env.admin("GET", "/v1/optouts")[1]["optouts"]},
                          20), "the opt-out did not arrive through Kannel"
        [reply] = k.wait_received(1, timeout=30)
        print("    fakesmsc: %s -> %s: %r" % (reply.sender, reply.to, reply.text))
        assert reply.to == PHONE and reply.text.startswith(SIGNATURE + "您已退订"), reply
        # the reply's status: sent, then delivered by Kannel's report (%d = 8, then 1)
        last = int(env.redis("GET", "gw:{q}:seq"))
        assert wait_until(lambda: (env.admin("GET", "/v1/messages/%d" % last)[1]
                                   .get("status")) == "delivered", 20), \
            env.admin("GET", "/v1/messages/%d" % last)
        assert env.metric("gateway_dlr_total", {"provider": "kannel",
                                                "status": "delivered"}) >= 1
        assert env.metric("gateway_inbound_sms_total", {"provider": "kannel",
                                                        "kind": "optout"}) == 1
    run_with_kannel(env, run)
