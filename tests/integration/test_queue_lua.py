"""The queue's Lua scripts on a real redis-server, driven with a chosen clock:
token-bucket arithmetic in segments, lane order, FIFO within a lane, pauses,
retry and dead outcomes, and the reaping of a dead consumer's work. The
scripts are the files in queue/lua/, loaded as gatewayd loads them."""
import os

from harness import REPO

LUA = os.path.join(REPO, "queue", "lua")
T0 = 1796100000000          # a fixed "now" in ms (the scripts take the clock as an argument)


# as GW_LUA_WITH_PARTICIPANTS and GW_LUA_WITH_REMINDERS in CMakeLists.txt
WITH_PARTICIPANTS = ("q_claim",)
WITH_REMINDERS = ("q_claim", "q_ack", "q_reap", "q_dlr")


def script(name):
    libs = []
    if name in WITH_PARTICIPANTS:
        libs.append(os.path.join(REPO, "gateway", "lua", "lib_participant.lua"))
    if name in WITH_REMINDERS:
        libs.append(os.path.join(LUA, "lib_reminder.lua"))
    text = ""
    for path in libs + [os.path.join(LUA, name + ".lua")]:
        with open(path, encoding="utf-8") as f:
            text += f.read()
    return text


def record(phone, name, paid, due):
    """A participant's record as participant_upsert.lua writes it (in
    gw:pt:CLASS; the fields of lib_participant.lua's P_FIELDS joined by \\x1f)."""
    return "\x1f".join([phone, name, "1234", "青山镇", "东村", "zh", "2026", "10000", paid, due,
                         "-1", "-1", "", "0"])


def enqueue(env, lane, due_ms, phones, seg=1, text="ghello"):
    return env.redis("EVAL", script("q_enqueue"), 0, lane, due_ms // 1000, seg, text, "", 3600,
                     "", "0", *phones)


def claim(env, now, max_=100, prov="p", rate=0, burst=0, consumer="c1"):
    paused, wait, items, bodies, dropped, datas, taken = env.redis(
        "EVAL", script("q_claim"), 0, now, consumer, 6000, max_, prov, rate, burst)
    members = [items[i + 1] for i in range(0, len(items), 2)]
    lanes = [items[i] for i in range(0, len(items), 2)]
    return paused, wait, lanes, members


def phones_of(members):
    return [m.split(":")[3] for m in members]


def raised(member):
    """MEMBER with its attempt one higher."""
    f = member.split(":")
    f[1] = str(int(f[1]) + 1)
    return ":".join(f)


def stop_dispatch(env):
    # gatewayd shares this Redis: keep its dispatcher off the test's keys
    env.stop_gatewayd()


def test_token_bucket_counts_segments_and_refills(env):
    stop_dispatch(env)
    enqueue(env, "bulk", T0, ["+861%02d" % i for i in range(10)], seg=2)
    # rate 10 segments/s, burst 4: two 2-segment messages at once
    _, wait, _, got = claim(env, T0, rate=10, burst=4)
    assert len(got) == 2, got
    assert wait == 200, wait                  # 2 more segments take 200 ms at 10/s
    _, wait, _, got = claim(env, T0 + 100, rate=10, burst=4)
    assert got == [] and wait == 100, (got, wait)   # 1 segment refilled of the 2 needed
    _, _, _, got = claim(env, T0 + 200, rate=10, burst=4)
    assert len(got) == 1, got
    # a long pause refills only up to the burst
    _, _, _, got = claim(env, T0 + 60000, rate=10, burst=4)
    assert len(got) == 2, got
    # without a rate, everything due at once
    _, wait, _, got = claim(env, T0 + 60000, rate=0, burst=0)
    assert len(got) == 5 and wait == 0, (got, wait)


def test_a_message_longer_than_the_bucket_goes_when_it_is_full(env):
    """A 6-part text (a long name in a template) with a bucket of 4: it goes
    once the bucket is full and leaves it 2 in debt; it does not hold the
    lane behind it for ever."""
    stop_dispatch(env)
    enqueue(env, "bulk", T0, ["+8640"], seg=6)
    enqueue(env, "bulk", T0, ["+8641"], seg=1)
    _, wait, _, got = claim(env, T0, rate=10, burst=4)
    assert phones_of(got) == ["+8640"], got       # a fresh bucket is full
    assert wait == 300, wait                       # 2 owed and 1 needed, at 10/s
    _, _, _, got = claim(env, T0 + 300, rate=10, burst=4)
    assert phones_of(got) == ["+8641"], got


def test_reply_before_bulk_fifo_and_due_times(env):
    stop_dispatch(env)
    enqueue(env, "bulk", T0, ["+8610", "+8611", "+8612"])
    enqueue(env, "bulk", T0 + 5000, ["+8619"])                 # not due yet
    enqueue(env, "reply", T0 + 1000, ["+8620"])
    _, _, lanes, got = claim(env, T0 + 1000)
    assert lanes == ["reply", "bulk", "bulk", "bulk"], lanes
    assert phones_of(got) == ["+8620", "+8610", "+8611", "+8612"], got
    _, _, _, got = claim(env, T0 + 4999)
    assert got == []
    _, _, _, got = claim(env, T0 + 5000)
    assert phones_of(got) == ["+8619"], got
    assert env.redis("HGET", "gw:{q}:n", "bulk") == "0"
    assert env.redis("HGET", "gw:{q}:n", "reply") == "0"


def test_pause_and_ack_outcomes(env):
    stop_dispatch(env)
    enqueue(env, "bulk", T0, ["+8630", "+8631", "+8632", "+8633"])
    env.redis("SET", "gw:{q}:pause:p", "1", "PX", 60000)
    paused, _, _, got = claim(env, T0)
    assert paused > 0 and got == [], (paused, got)
    env.redis("DEL", "gw:{q}:pause:p")
    _, _, _, got = claim(env, T0)
    assert len(got) == 4
    ids = [m.split(":")[0] for m in got]
    assert sorted(env.redis("HKEYS", "gw:{q}:fl:c1")) == sorted(ids)
    retry = got[1].split(":")
    retry[1] = "1"
    dead = got[3].split(":")
    dead[1] = "1"                 # as gatewayd sends it: the attempt counted
    args = ["c1", T0, 6000, 3600,
            ids[0], "bulk", "a", "p", "abc", "", got[0], "",
            ids[1], "bulk", "r", "p", "", (T0 + 2000) // 1000, ":".join(retry), "503",
            ids[2], "bulk", "t", "p", "", 3000, got[2], "",
            ids[3], "bulk", "d", "p", "", "", ":".join(dead), "invalid number"]
    lost = env.redis("EVAL", script("q_ack"), 0, *args)
    assert lost == 0
    # the same outcomes sent again (their answer was lost): nothing is queued twice
    waiting = env.redis("HGET", "gw:{q}:n", "bulk")
    assert env.redis("EVAL", script("q_ack"), 0, *args) == 4
    assert env.redis("HGET", "gw:{q}:n", "bulk") == waiting == "2", waiting
    assert env.redis("HLEN", "gw:{q}:fl:c1") == 0
    assert env.redis("GET", "gw:{q}:m:" + ids[0]).startswith("sent|p|abc|0|")
    assert env.redis("GET", "gw:{q}:cid:p:abc") == ids[0]
    assert env.redis("GET", "gw:{q}:m:" + ids[3]).startswith("failed|p||1|")
    assert env.redis("LLEN", "gw:{q}:dead") == 1
    assert 0 < env.redis("PTTL", "gw:{q}:pause:p") <= 3000
    # the throttled one is back at the front now, the retried one due 2 s later
    env.redis("DEL", "gw:{q}:pause:p")
    _, _, _, got2 = claim(env, T0 + 1000)
    assert phones_of(got2) == ["+8632"], got2
    _, _, _, got3 = claim(env, T0 + 2000)
    assert got3 == [":".join(retry)], got3
    # a finished message that comes round again is dropped, not resent
    first, _ = enqueue(env, "bulk", T0, ["+8640"])
    env.redis("SET", "gw:{q}:m:%d" % first, "sent|p|x|0|1")
    _, _, _, got4 = claim(env, T0 + 3000)
    assert got4 == [], got4
    assert env.redis("HGET", "gw:{q}:stats", "dropped_done") == "1"


def test_reap_gives_back_a_dead_consumers_work(env):
    stop_dispatch(env)
    enqueue(env, "reply", T0, ["+8650", "+8651"])
    _, _, _, got = claim(env, T0, consumer="dead")
    assert len(got) == 2
    # leases run on Redis' clock: 6 s from now, so not reaped yet
    lease_end = float(env.redis("ZSCORE", "gw:{q}:consumers", "dead"))
    sec, usec = env.redis("TIME")
    assert 5000 < lease_end - (int(sec) * 1000 + int(usec) // 1000) <= 6000, lease_end
    assert env.redis("EVAL", script("q_reap"), 0, T0 + 6001, "", "0", "", "0") == 0
    # a heartbeat renews another consumer's lease without touching this one
    env.redis("EVAL", script("q_reap"), 0, T0, "", "0", "alive", 6000)
    assert env.redis("ZSCORE", "gw:{q}:consumers", "alive") is not None
    # ... and once it has run out, its work comes back
    env.redis("ZADD", "gw:{q}:consumers", lease_end - 7000, "dead")
    assert env.redis("EVAL", script("q_reap"), 0, T0 + 6001, "", "0", "", "0") == 2
    assert env.redis("EXISTS", "gw:{q}:fl:dead") == 0
    assert env.redis("HGET", "gw:{q}:stats", "recovered") == "2"
    _, _, _, again = claim(env, T0 + 6001, consumer="alive")
    # their carrier call may have gone out: the next one is another attempt
    assert sorted(again) == sorted(raised(m) for m in got), (again, got)
    # an ack from the dead consumer now finds nothing it holds: counted, not requeued
    lost = env.redis("EVAL", script("q_ack"), 0, "dead", T0 + 7000, 6000, 3600,
                     got[0].split(":")[0], "reply", "r", "p", "", (T0 + 8000) // 1000, got[0], "x")
    assert lost == 1
    assert env.redis("HGET", "gw:{q}:n", "reply") == "0"


def test_reminders_checked_again_at_send_time(env):
    """A reminder (EXTRA "KIND,CAMPAIGN,PID,TAG") outside the send window moves to
    its next opening; inside it, one for a participant who has paid since is
    skipped, one sent within the minimum interval is a duplicate, and one handed
    out carries what its text needs."""
    stop_dispatch(env)
    env.redis("HSET", "gw:pt:u", "P1", record("+8613700000001", "赵一", "0", "2026-12-31"))
    # P2 as an older version kept a participant (a hash): read all the same
    env.redis("HSET", "gw:{p:P2}", "ph", "+8613700000002", "nm", "钱二", "lg", "zh", "yr", "2026",
              "tier", "10000", "paid", "10000", "due", "2026-12-31")

    def enqueue_reminder(pid, phone):
        return env.redis("EVAL", script("q_enqueue"), 0, "bulk", T0 // 1000, 1, "tunpaid_reminder",
                         "", 3600, "u,0,%s,2026-12-31" % pid, "0", phone)[0]

    def claim_at(now, wnext, minint=72000):
        return env.redis("EVAL", script("q_claim"), 0, now, "c1", 6000, 100, "p", 0, 0, wnext,
                         minint)

    enqueue_reminder("P1", "+8613700000001")
    enqueue_reminder("P2", "+8613700000002")
    enqueue(env, "bulk", T0, ["+8613700000003"])        # a one-off bulk SMS: the window too
    enqueue(env, "reply", T0, ["+8613700000004"])       # a reply: at any hour
    opening = T0 + 3600 * 1000
    _, _, items, _, _, _, _ = claim_at(T0, opening)          # night: nothing goes, nothing is lost
    assert phones_of(items[1::2]) == ["+8613700000004"], items
    assert env.redis("LLEN", "gw:{q}:b:bulk:%d" % (opening // 1000)) == 3
    assert env.redis("HGET", "gw:{q}:stats", "deferred_window") == "3"
    _, _, items, bodies, _, datas, _ = claim_at(opening, opening)
    assert len(items) == 4 and items[1].split(":")[3] == "+8613700000001", items
    assert items[3].split(":")[3] == "+8613700000003", items
    assert bodies[1] == "tunpaid_reminder"
    assert datas == ["赵一\x1fzh\x1f2026\x1f10000\x1f0\x1f2026-12-31", ""], datas
    assert env.redis("HGET", "gw:{q}:stats", "skipped_paid") == "1"
    # the same reminder again within the interval: a duplicate
    mid = enqueue_reminder("P1", "+8613700000001")
    _, _, items, _, _, _, _ = claim_at(opening, opening)
    assert items == []
    assert env.redis("GET", "gw:{q}:m:%d" % mid).endswith("|duplicate")
    # a due date moved since an automatic reminder was scheduled: not sent
    env.redis("HSET", "gw:pt:u", "P1", record("+8613700000001", "赵一", "0", "2027-01-15"))
    env.redis("DEL", "gw:{q}:last:u:P1")
    mid = enqueue_reminder("P1", "+8613700000001")
    _, _, items, _, _, _, _ = claim_at(opening, opening)
    assert items == [] and env.redis("GET", "gw:{q}:m:%d" % mid).endswith("|rescheduled")


def test_pending_marks_go_when_their_reminder_goes(env):
    """A campaign's reminder drops its pending mark when it is handed out,
    whether the mark is a field of gw:{q}:pend or, left by an older version,
    a key of its own; another campaign's mark stays."""
    stop_dispatch(env)
    env.redis("HSET", "gw:{q}:camp:7", "state", "running", "queued", "3")
    for i in (1, 2, 3):
        env.redis("HSET", "gw:pt:u", "P%d" % i, record("+861370000000%d" % i, "x", "0",
                                                        "2026-12-31"))
        env.redis("EVAL", script("q_enqueue"), 0, "bulk", T0 // 1000, 1, "ghello", "", 3600,
                  "u,7,P%d," % i, "0", "+861370000000%d" % i)
    env.redis("HSET", "gw:{q}:pend", "u:P1", "7:P1:%d" % (T0 // 1000 + 3600))
    env.redis("SET", "gw:{q}:pend:u:P2", "7:P2", "EX", 3600)          # an older version's
    env.redis("HSET", "gw:{q}:pend", "u:P3", "8:P3:%d" % (T0 // 1000 + 3600))  # another's
    _, _, items, _, _, _, _ = env.redis("EVAL", script("q_claim"), 0, T0, "c1", 6000, 100,
                                        "p", 0, 0, 0, 0)
    assert len(items) == 6, items                 # lane, member: all three go
    assert env.redis("HGET", "gw:{q}:pend", "u:P1") is None
    assert env.redis("EXISTS", "gw:{q}:pend:u:P2") == 0
    assert env.redis("HGET", "gw:{q}:pend", "u:P3").startswith("8:P3:")


def test_outcomes_never_undo_a_finished_message_and_counts_stay_whole(env):
    """A lease reclaimed mid-send: the message is put back, another consumer
    skips it (opted out meanwhile) or sends it; the first consumer's late
    outcomes neither send it again nor break the campaign's counts; a
    delivery report that overtakes its message's outcome is kept and applied."""
    stop_dispatch(env)
    env.redis("HSET", "gw:{q}:camp:7", "state", "running", "queued", "1", "sent", "0",
              "delivered", "0", "failed", "0", "skipped", "0")
    for i in (1, 2, 3):
        env.redis("HSET", "gw:{p:P%d}" % i, "ph", "+861370000000%d" % i, "nm", "x", "lg", "zh",
                  "yr", "2026", "tier", "10000", "paid", "0", "due", "2026-12-31")

    def enqueue_notice(phone):
        return env.redis("EVAL", script("q_enqueue"), 0, "bulk", T0 // 1000, 1, "gnotice", "",
                         3600, "n,7,P%s,abc" % phone[-1], "0", phone)[0]

    def claim_by(consumer):
        return env.redis("EVAL", script("q_claim"), 0, T0, consumer, 6000, 100, "p", 0, 0, 0, 0)

    def ack(consumer, kind, member, cid="", num="", reason=""):
        mid = member.split(":")[0]
        return env.redis("EVAL", script("q_ack"), 0, consumer, T0, 6000, 3600,
                         mid, "bulk", kind, "p", cid, num, member, reason)

    def reclaim(consumer):
        env.redis("ZADD", "gw:{q}:consumers", 0, consumer)        # its lease ran out
        env.redis("EVAL", script("q_reap"), 0, T0, "", "0", "", "0")

    # 1. c1 claims, is reaped; the number opts out; c2 skips it; c1's late
    #    acceptance: the resident got it, counted as sent (not skipped)
    enqueue_notice("+8613700000001")
    _, _, items, _, _, _, _ = claim_by("c1")
    m1 = items[1]
    reclaim("c1")
    env.redis("HSET", "gw:{q}:optout", "+8613700000001", "1|sms")
    claim_by("c2")
    assert env.redis("HMGET", "gw:{q}:camp:7", "queued", "skipped") == ["0", "1"]
    ack("c1", "a", m1, cid="cid1")
    assert env.redis("HMGET", "gw:{q}:camp:7", "queued", "sent", "skipped") == ["0", "1", "0"]
    env.redis("HDEL", "gw:{q}:optout", "+8613700000001")
    # 2. c3 claims, is reaped; c4 claims and sends it; c3's late retry: not
    #    queued again, status stays sent
    enqueue_notice("+8613700000002")
    env.redis("HINCRBY", "gw:{q}:camp:7", "queued", 1)
    _, _, items, _, _, _, _ = claim_by("c3")
    m2 = items[1]
    reclaim("c3")
    _, _, items, _, _, _, _ = claim_by("c4")
    assert items[1] == raised(m2)
    ack("c4", "a", items[1], cid="cid2")
    retry = m2.split(":")
    retry[1] = "1"
    ack("c3", "r", ":".join(retry), num=(T0 + 2000) // 1000, reason="503")
    assert env.redis("HGET", "gw:{q}:n", "bulk") == "0"
    assert env.redis("GET", "gw:{q}:m:%s" % m2.split(":")[0]).startswith("sent|")
    assert env.redis("HMGET", "gw:{q}:camp:7", "queued", "sent") == ["0", "2"]
    # 3. a delivery report before the outcome: parked, applied with it
    enqueue_notice("+8613700000003")
    env.redis("HINCRBY", "gw:{q}:camp:7", "queued", 1)
    _, _, items, _, _, _, _ = claim_by("c5")
    m3 = items[1]
    assert env.redis("EVAL", script("q_dlr"), 0, "delivered", T0, "", "p:cid3") == ["", "unmatched"]
    ack("c5", "a", m3, cid="cid3")
    assert env.redis("GET", "gw:{q}:m:%s" % m3.split(":")[0]).startswith("delivered|")
    assert env.redis("HMGET", "gw:{q}:camp:7", "queued", "sent", "delivered") == ["0", "2", "1"]


def test_a_reminder_that_reached_no_phone_leaves_no_mark(env):
    """gw:{q}:last:KEY makes the next reminder within min_interval_hours a
    duplicate. A reminder the carrier refused at its first attempt, or that a
    delivery report says failed (also one that came before the outcome), did
    not reach the person and takes its mark away; one whose outcome was
    unknown (no answer in time) or whose claim was lost to another consumer
    keeps it, as does a newer reminder's mark."""
    stop_dispatch(env)
    env.redis("HSET", "gw:pt:u", "P1", record("+8613700000001", "赵一", "0", "2026-12-31"))

    def send(mid_note):
        mid = env.redis("EVAL", script("q_enqueue"), 0, "bulk", T0 // 1000, 1, "tunpaid_reminder",
                        "", 3600, "u,0,P1,", "0", "+8613700000001")[0]
        _, _, items, _, _, _, _ = env.redis("EVAL", script("q_claim"), 0, T0, "c1", 6000, 100, "p",
                                         0, 0, 0, 72000)
        assert len(items) == 2 and items[1].startswith("%d:" % mid), (mid_note, items)
        assert env.redis("GET", "gw:{q}:last:u:P1") == str(mid)
        return mid, items[1]

    def ack(member, kind, cid="", num="", consumer="c1"):
        if kind == "d":
            f = member.split(":")
            f[1] = str(int(f[1]) + 1)
            member = ":".join(f)
        return env.redis("EVAL", script("q_ack"), 0, consumer, T0, 6000, 3600,
                         member.split(":")[0], "bulk", kind, "p", cid, num, member, "x")

    def dlr(state, cid):
        return env.redis("EVAL", script("q_dlr"), 0, state, T0, "", "p:" + cid)

    # refused at the first attempt: the mark goes
    _, m = send("refused")
    ack(m, "d", num="1")
    assert env.redis("GET", "gw:{q}:last:u:P1") is None
    # dead with an unknown outcome (no answer in time): a copy may have arrived
    mid, m = send("unknown")
    ack(m, "d", num="0")
    assert env.redis("GET", "gw:{q}:last:u:P1") == str(mid)
    env.redis("DEL", "gw:{q}:last:u:P1")
    # refused, but this consumer's claim had been reclaimed (another may have sent it)
    mid, m = send("lost lease")
    env.redis("HDEL", "gw:{q}:fl:c1", str(mid))
    ack(m, "d", num="1")
    assert env.redis("GET", "gw:{q}:last:u:P1") == str(mid)
    env.redis("DEL", "gw:{q}:last:u:P1")
    # accepted, then reported undelivered: the mark goes
    mid, m = send("undelivered")
    ack(m, "a", cid="c-1")
    assert env.redis("GET", "gw:{q}:cid:p:c-1") == "%d||u:P1" % mid
    assert dlr("failed", "c-1") == [str(mid), "applied"]
    assert env.redis("GET", "gw:{q}:last:u:P1") is None
    # a failed report that came before the outcome: the same
    mid, m = send("early")
    assert dlr("failed", "c-2") == ["", "unmatched"]
    ack(m, "a", cid="c-2")
    assert env.redis("GET", "gw:{q}:m:%d" % mid).startswith("failed|")
    assert env.redis("GET", "gw:{q}:last:u:P1") is None
    # an older reminder reported failed after a newer one went: the newer mark stays
    old, m = send("older")
    ack(m, "a", cid="c-3")
    env.redis("DEL", "gw:{q}:last:u:P1")             # its interval over
    new, m = send("newer")
    assert dlr("failed", "c-3") == [str(old), "applied"]
    assert env.redis("GET", "gw:{q}:last:u:P1") == str(new)
    # a value the previous version wrote ("ID"): applied, its mark left to expire
    ack(m, "a", cid="c-4")
    env.redis("SET", "gw:{q}:cid:p:c-4", str(new))
    assert dlr("failed", "c-4") == [str(new), "applied"]
    assert env.redis("GET", "gw:{q}:last:u:P1") == str(new)
    env.redis("DEL", "gw:{q}:last:u:P1")

    def claim_again(consumer):
        env.redis("DEL", "gw:{q}:pause:p")
        _, _, items, _, _, _, _ = env.redis("EVAL", script("q_claim"), 0, T0, consumer, 6000, 100,
                                         "p", 0, 0, 0, 72000)
        return items

    # no answer in time, then the retry accepted and reported failed: the first
    # attempt may have arrived, the mark stays
    mid, m = send("timeout")
    ack(raised(m), "r", num=T0 // 1000)
    items = claim_again("c1")
    assert items[1] == raised(m)
    ack(items[1], "a", cid="c-5")
    assert env.redis("GET", "gw:{q}:cid:p:c-5") == str(mid)     # no reminder key
    assert dlr("failed", "c-5") == [str(mid), "applied"]
    assert env.redis("GET", "gw:{q}:last:u:P1") == str(mid)
    env.redis("DEL", "gw:{q}:last:u:P1")
    # its consumer's lease ran out: put back as another attempt, so its
    # refusal or failure is no proof; skipped afterwards, the mark stays
    mid, m = send("reaped")
    env.redis("ZADD", "gw:{q}:consumers", 0, "c1")
    env.redis("EVAL", script("q_reap"), 0, T0, "", "0", "", "0")
    env.redis("HSET", "gw:{q}:optout", "+8613700000001", "1|sms")
    assert claim_again("c2") == []
    assert env.redis("GET", "gw:{q}:m:%d" % mid).startswith("skipped|")
    assert env.redis("GET", "gw:{q}:last:u:P1") == str(mid)
    env.redis("HDEL", "gw:{q}:optout", "+8613700000001")
    env.redis("DEL", "gw:{q}:last:u:P1")
    # throttled by the carrier (nothing went), then skipped (paid since): its
    # mark goes, a later reminder is not a duplicate
    mid, m = send("throttled")
    ack(m, "t", num="1000")
    env.redis("HSET", "gw:pt:u", "P1", record("+8613700000001", "赵一", "10000", "2026-12-31"))
    assert claim_again("c1") == []
    assert env.redis("GET", "gw:{q}:m:%d" % mid).startswith("skipped|")
    assert env.redis("GET", "gw:{q}:last:u:P1") is None
