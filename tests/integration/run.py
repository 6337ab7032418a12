#!/usr/bin/env python3
"""Runs the integration tests: tests/integration/test_*.py, every test_* function.

    python3 tests/integration/run.py [--build build-san] [-k PATTERN] [-v]

Each file gets one Env (its own redis-server and gatewayd, see harness.py), built
from the file's optional CONFIG dict (section -> {key: value} overrides); before each
test Redis is emptied and gatewayd restarted if a test stopped it or changed its
config. A test is a function taking the Env; it fails by raising (assert). Tests run
in name order. A test also fails when gatewayd died during it or logged a sanitizer
report; the file's teardown fails when gatewayd does not exit 0 within 12 s of
SIGTERM. Prints "PASS name (0.12s)" / "FAIL name: reason", then "N passed, N failed";
exit status 1 when anything failed. Standard library only.
"""
import argparse
import glob
import importlib.util
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

DEFAULT_TIMEOUT = 60


class TestTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise TestTimeout("timed out")


def reason_of(exc):
    """One line for the FAIL line (the full traceback goes below it)."""
    if isinstance(exc, TestTimeout):
        return "timed out"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    name = type(exc).__name__
    if isinstance(exc, AssertionError):
        return first or "assertion failed"
    return "%s: %s" % (name, first) if first else name


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def selected_tests(mod, modname, pattern):
    out = []
    for attr in sorted(dir(mod)):
        fn = getattr(mod, attr)
        if attr.startswith("test_") and callable(fn):
            full = "%s.%s" % (modname, attr)
            if not pattern or pattern in full:
                out.append((full, fn))
    return out


class Results:
    def __init__(self, verbose):
        self.passed = 0
        self.failed = 0
        self.verbose = verbose

    def ok(self, name, secs):
        self.passed += 1
        print("PASS %s (%.2fs)" % (name, secs), flush=True)

    def fail(self, name, reason, detail=None):
        self.failed += 1
        print("FAIL %s: %s" % (name, reason), flush=True)
        if detail:
            print("    " + detail.rstrip().replace("\n", "\n    "), flush=True)


def run_file(path, args, results):
    modname = os.path.splitext(os.path.basename(path))[0]
    try:
        mod = load(path)
    except Exception:
        results.fail(modname, "cannot load the file", traceback.format_exc())
        return
    tests = selected_tests(mod, modname, args.k)
    if not tests:
        return
    env = harness.Env(args.build, getattr(mod, "CONFIG", None), name=modname)
    timeout = int(getattr(mod, "TIMEOUT", DEFAULT_TIMEOUT))
    try:
        env.start()
    except Exception as e:
        env.failed = True
        for i, (name, _) in enumerate(tests):
            results.fail(name, "environment did not start: " + reason_of(e),
                         str(e) if i == 0 or args.verbose else None)
        problems = env.close()
        for p in problems:
            results.fail(modname + ".teardown", p)
        return
    try:
        for name, fn in tests:
            run_one(env, name, fn, timeout, args, results)
    finally:
        signal.alarm(0)
        for p in env.close():
            results.fail(modname + ".teardown", p)


def run_one(env, name, fn, timeout, args, results):
    started = time.monotonic()
    log_mark = env.log_size()
    signal.alarm(timeout)
    try:
        env.reset()
        fn(env)
        signal.alarm(0)
    except Exception as e:
        signal.alarm(0)
        env.failed = True
        detail = traceback.format_exc() if args.verbose or not isinstance(
            e, AssertionError) else None
        if isinstance(e, TestTimeout) or not env.gatewayd_alive() or args.verbose:
            detail = (detail or "") + "\ngatewayd log (end):\n" + env.log_tail(40)
        results.fail(name, reason_of(e), detail)
        return
    problem = None
    report = env.sanitizer_report(log_mark)
    if report:
        problem = "sanitizer report: " + report
    elif env.expect_alive and not env.gatewayd_alive():
        problem = "gatewayd died during the test (exit status %s)" % env.proc.returncode
    if problem:
        env.failed = True
        results.fail(name, problem, env.log_tail(40))
    else:
        results.ok(name, time.monotonic() - started)


def main():
    ap = argparse.ArgumentParser(description="Run the integration tests.")
    default_build = "build-san" if os.path.isdir(os.path.join(harness.REPO, "build-san")) else "build"
    ap.add_argument("--build", default=default_build,
                    help="build directory holding bin/gatewayd (default %s)" % default_build)
    ap.add_argument("-k", metavar="PATTERN", default="",
                    help="only tests whose name (file.function) contains PATTERN")
    ap.add_argument("-v", "--verbose", action="store_true", help="tracebacks and log tails")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, on_alarm)
    results = Results(args.verbose)
    files = sorted(glob.glob(os.path.join(HERE, "test_*.py")))
    for path in files:
        run_file(path, args, results)
    print("%d passed, %d failed" % (results.passed, results.failed), flush=True)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
