"""SIGHUP reloads texts and menus without dropping sessions; a broken text file
is refused and the texts in use stay."""
import os
import shutil
import signal
import tempfile

from harness import REPO, wait_until
from ussd_util import PHONE, load_roster


def copy_templates():
    d = tempfile.mkdtemp(prefix="gw-tpl-")
    for name in os.listdir(os.path.join(REPO, "templates", "data")):
        shutil.copy(os.path.join(REPO, "templates", "data", name), d)
    return d


def replace_in(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert old in text, (path, old)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))


def test_sighup_reloads_texts_and_keeps_sessions(env):
    d = copy_templates()
    try:
        env.restart_gatewayd({"templates": {"dir": d}})
        load_roster(env)
        session = "reload-1"
        kind, text = env.ussd_at(session, PHONE["paid"], "")
        assert "缴费情况" in text, text
        replace_in(os.path.join(d, "zh.ini"), "contribution = 缴费情况", "contribution = 今年缴费")
        mark = env.log_size()
        env.signal_gatewayd(signal.SIGHUP)
        assert wait_until(lambda: "reloaded" in env.log_since(mark), 5), env.log_tail()
        # The session goes on, and the next screen uses the new text.
        kind, text = env.ussd_at(session, PHONE["paid"], "1*0")
        assert kind == "CON" and "今年缴费" in text, text
        # A broken file is refused; the texts in use stay.
        replace_in(os.path.join(d, "zh.ini"), "main_title = {name}", "main_title = {nobody}")
        mark = env.log_size()
        env.signal_gatewayd(signal.SIGHUP)
        assert wait_until(lambda: "not reloaded" in env.log_since(mark), 5), env.log_tail()
        assert "zh.ini:" in env.log_since(mark), env.log_tail()
        kind, text = env.ussd_at("reload-2", PHONE["paid"], "")
        assert kind == "CON" and "今年缴费" in text, text
        assert env.gatewayd_alive()
    finally:
        env.restart_gatewayd()
        shutil.rmtree(d, ignore_errors=True)
