"""Redis Sentinel: gatewayd finds the master through the sentinels ([redis] sentinels,
master), follows a failover to the new master, leaves a master demoted behind the
sentinel's back, and says so clearly when a sentinel does not know the master's name.

Each test starts its own master, replica and sentinel (redis-server --sentinel) on
ports picked at import (CONFIG needs them); the Env starts no Redis of its own.
The first sentinel listed is a port nobody listens on, so asking goes on to the next."""
import os
import subprocess
import time
import uuid

from harness import Redis, RedisError, free_port, wait_until
from ussd_util import PHONE, load_roster

MASTER_NAME = "gwmaster"
MASTER_PORT = free_port()
REPLICA_PORT = free_port()
SENTINEL_PORT = free_port()
DEAD_SENTINEL_PORT = free_port()
CONFIG = {"redis": {"url": None, "master": MASTER_NAME,
                    "sentinels": "127.0.0.1:%d, 127.0.0.1:%d" % (DEAD_SENTINEL_PORT,
                                                                 SENTINEL_PORT)}}
FAILOVER_WITHIN_S = 15


class Cluster:
    """A master, optionally its replica, and one sentinel watching the master, in
    ENV's temp dir. stop() ends them all."""

    def __init__(self, env, replica=True):
        self.dir = os.path.join(env.dir, "sentinel-%s" % uuid.uuid4().hex[:6])
        os.makedirs(self.dir)
        self.procs = []
        self.master = Redis(MASTER_PORT)
        self.replica = Redis(REPLICA_PORT)
        self.sentinel = Redis(SENTINEL_PORT)
        try:
            self._server("master", MASTER_PORT)
            assert wait_until(lambda: self.master("PING") == "PONG", 10), \
                "the master did not start"
            if replica:
                self._server("replica", REPLICA_PORT, "--replicaof", "127.0.0.1", MASTER_PORT)
                # in sync before the sentinel starts: its first INFO of the master then
                # lists the replica (the next one comes 10 s later)
                assert wait_until(lambda: "master_link_status:up" in self.replica(
                    "INFO", "replication"), 10), "the replica did not sync"
            conf = os.path.join(self.dir, "sentinel.conf")   # sentinel rewrites it
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                        "sentinel monitor %s 127.0.0.1 %d 1\n"
                        "sentinel down-after-milliseconds %s 1000\n"
                        "sentinel failover-timeout %s 2000\n"
                        % (SENTINEL_PORT, self.dir, os.path.join(self.dir, "sentinel.log"),
                           MASTER_NAME, MASTER_PORT, MASTER_NAME, MASTER_NAME))
            self._spawn(["redis-server", conf, "--sentinel"])
            assert wait_until(lambda: self.sentinel("PING") == "PONG", 10), \
                "the sentinel did not start"
        except BaseException:
            self.stop()
            raise

    def _spawn(self, argv):
        self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))

    def _server(self, name, port, *extra):
        d = os.path.join(self.dir, name)
        os.makedirs(d)
        self._spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                     "--save", "", "--appendonly", "no", "--daemonize", "no",
                     "--repl-diskless-sync-delay", "0",
                     "--logfile", os.path.join(d, "redis.log")] + [str(e) for e in extra])

    def stop(self):
        for r in (self.master, self.replica, self.sentinel):
            r.close()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def master_port(self):
        """The master's port as the sentinel tells it."""
        addr = self.sentinel("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
        return int(addr[1]) if addr else None

    def sentinel_knows_replica(self):
        for fields in self.sentinel("SENTINEL", "replicas", MASTER_NAME) or []:
            info = dict(zip(fields[::2], fields[1::2]))
            if info.get("port") == str(REPLICA_PORT) and info.get("flags") == "slave" \
                    and info.get("master-link-status") == "ok":
                return True
        return False


def role(r):
    try:
        return r("ROLE")[0]
    except (OSError, RedisError):
        return None


def ready(env):
    return env.get_admin("/readyz", timeout=3)[0] == 200


def dial_status(env):
    """A new USSD session of the paid resident: menu, then 1 (contribution status).
    Returns the session's Redis key."""
    session = "it-" + uuid.uuid4().hex[:16]
    kind, text = env.ussd_at(session, PHONE["paid"], "")
    assert kind == "CON" and "1 " in text, (kind, text)
    kind, text = env.ussd_at(session, PHONE["paid"], "1")
    assert kind == "CON" and "2026" in text and "300元" in text, (kind, text)
    return "gw:{s:at:%s}" % session


def test_failover_moves_gatewayd_to_the_new_master(env):
    mark = env.log_size()
    cluster = Cluster(env)
    try:
        assert wait_until(lambda: ready(env), 15), "not ready:\n" + env.log_tail()
        # "master gwmaster is at / is still at / moved from .. to" the master
        found = "127.0.0.1:%d (sentinel 127.0.0.1:%d)" % (MASTER_PORT, SENTINEL_PORT)
        assert found in env.log_since(mark), "no master found logged:\n" + env.log_tail()
        # gatewayd asks the sentinels in the listed order when it starts
        dead = "sentinel 127.0.0.1:%d: Connection refused" % DEAD_SENTINEL_PORT
        assert dead in env.log_text(), "the dead first sentinel was not tried:\n" + env.log_tail()

        load_roster(env)
        key = dial_status(env)
        assert cluster.master("EXISTS", key) == 1, "the session is not on the master"
        assert wait_until(lambda: cluster.replica("EXISTS", key) == 1, 10), \
            "the replica did not get the session"
        # keys come and go on their own (the queue's lease, the health probe): compare
        # until both agree
        assert wait_until(lambda: cluster.replica("DBSIZE") == cluster.master("DBSIZE"), 5)
        assert wait_until(cluster.sentinel_knows_replica, 15), \
            "the sentinel did not find the replica: %r" % cluster.sentinel(
                "SENTINEL", "replicas", MASTER_NAME)

        started = time.monotonic()
        assert cluster.sentinel("SENTINEL", "FAILOVER", MASTER_NAME) == "OK"
        assert wait_until(lambda: cluster.master_port() == REPLICA_PORT, FAILOVER_WITHIN_S), \
            "the sentinel did not fail over"
        moved = "master %s moved from 127.0.0.1:%d to 127.0.0.1:%d" % (
            MASTER_NAME, MASTER_PORT, REPLICA_PORT)
        assert wait_until(lambda: moved in env.log_since(mark) and ready(env),
                          started + FAILOVER_WITHIN_S - time.monotonic()), \
            "gatewayd did not follow the failover within %d s:\n%s" % (
                FAILOVER_WITHIN_S, env.log_tail())
        assert role(cluster.replica) == "master"

        # The roster came over by replication; a new session lands on the new master.
        assert any(cluster.replica("HEXISTS", "gw:pt:" + c, "U-PAID") == 1 for c in "upo")
        status, body = env.participant("U-PAID")
        assert status == 200, (status, body)
        key = dial_status(env)
        assert cluster.replica("EXISTS", key) == 1, "the new session is not on the new master"
        assert role(cluster.replica) == "master"
    finally:
        cluster.stop()


def test_demoted_master_is_left(env):
    """A master turned replica behind the sentinel's back is dropped within the ROLE
    health check (about 1 s) instead of being written to."""
    cluster = Cluster(env)
    try:
        assert wait_until(lambda: ready(env), 15), "not ready:\n" + env.log_tail()
        cluster.replica("REPLICAOF", "NO", "ONE")
        cluster.master("REPLICAOF", "127.0.0.1", REPLICA_PORT)
        want = "127.0.0.1:%d is a slave, not the master of %s" % (MASTER_PORT, MASTER_NAME)
        assert wait_until(lambda: want in env.log_text(), 5), \
            "the demoted master was not left:\n" + env.log_tail()
        assert not ready(env), "ready on a replica"
    finally:
        cluster.stop()


def test_unknown_master_name_is_logged(env):
    cluster = Cluster(env, replica=False)
    try:
        env.restart_gatewayd({"redis": {"master": "nosuch"}})
        want = 'does not know a master named "nosuch"'
        assert wait_until(lambda: want in env.log_text(), 5), \
            "the unknown master name was not logged:\n" + env.log_tail()
        assert not ready(env), "ready without a master"
        assert cluster.master_port() == MASTER_PORT   # the sentinel itself is fine
    finally:
        cluster.stop()
