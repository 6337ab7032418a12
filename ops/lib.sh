# shellcheck shell=bash disable=SC2034
# ops/lib.sh - shared helpers for ops/test, ops/demo and ops/bench/*; source it, do not run it.
#
# Owns: installing the Debian packages the project needs, configuring and building with
# cmake, a private redis-server on a chosen port, free ports, and one EXIT trap that runs
# every registered clean-up step in reverse order. Every helper either succeeds or
# prints why on stderr and returns non-zero; none of them leaves a process behind once
# the caller's clean-up has run.

GW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything a fresh Debian 12 machine needs to build, test, demo and benchmark.
GW_DEPS=(build-essential g++ cmake pkg-config libevent-dev libhiredis-dev
         libcurl4-openssl-dev libphonenumber-dev libcmocka-dev libjansson-dev
         libinih-dev libssl-dev libcsv-dev libhttp-parser-dev redis-server python3 wrk faketime curl
         ca-certificates tzdata kannel kannel-extras)

gw_say() { printf '==> %s\n' "$*" >&2; }
gw_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---- packages ----

# Installs the missing packages of GW_DEPS (as root), or names them and exits 1.
gw_install_deps() {
    local missing=() pkg status
    command -v dpkg-query >/dev/null 2>&1 ||
        gw_die "dpkg-query not found: this script expects Debian 12; install by hand: ${GW_DEPS[*]}"
    for pkg in "${GW_DEPS[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == *" installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ $(id -u) -ne 0 ]]; then
        printf 'error: missing packages: %s\n' "${missing[*]}" >&2
        printf 'install them with:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n' \
            "${missing[*]}" >&2
        exit 1
    fi
    gw_say "installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# ---- build ----

# gw_build DIR [cmake args...]: configure the repo into DIR (relative to the repo
# root unless absolute) and build every target with two jobs.
# GW_NO_BUILD=1 skips it (use what DIR already holds).
gw_build() {
    local dir=$1
    shift
    [[ $dir == /* ]] || dir=$GW_ROOT/$dir
    if [[ ${GW_NO_BUILD:-0} == 1 ]]; then
        gw_say "GW_NO_BUILD=1: using ${dir#"$GW_ROOT"/} as it is"
        return 0
    fi
    gw_say "building into ${dir#"$GW_ROOT"/} $*"
    cmake -S "$GW_ROOT" -B "$dir" "$@" >/dev/null || return 1
    cmake --build "$dir" -j2
}

# ---- ports ----

# Prints a TCP port that is free on 127.0.0.1 right now.
gw_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# gw_port_free PORT: succeeds when nothing listens on 127.0.0.1:PORT.
gw_port_free() {
    python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' \
        "$1" 2>/dev/null
}

# ---- redis ----

# Set by gw_redis_start, for the caller's use.
GW_REDIS_PID=
GW_REDIS_PORT=
GW_REDIS_DIR=

# gw_redis_start PORT DIR: a private redis-server with ops/redis.conf (AOF on unless
# GW_REDIS_APPENDONLY=no) in the
# background, its pid in DIR/redis.pid and log in DIR/redis.log; waits (10 s at most)
# until it answers PING.
gw_redis_start() {
    local port=$1 dir=$2 i
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # setsid: a Ctrl-C at the terminal goes to the script, which stops redis in order.
    setsid redis-server "$GW_ROOT/ops/redis.conf" --port "$port" --bind 127.0.0.1 --dir "$dir" \
        --appendonly "${GW_REDIS_APPENDONLY:-yes}" --daemonize no --logfile "$dir/redis.log" \
        </dev/null >/dev/null 2>&1 &
    GW_REDIS_PID=$!
    GW_REDIS_PORT=$port
    GW_REDIS_DIR=$dir
    echo "$GW_REDIS_PID" >"$dir/redis.pid"
    for ((i = 0; i < 100; i++)); do
        if [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]]; then
            return 0
        fi
        if ! kill -0 "$GW_REDIS_PID" 2>/dev/null; then
            printf 'error: redis-server on port %s exited; its log:\n' "$port" >&2
            tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
            GW_REDIS_PID=
            return 1
        fi
        sleep 0.1
    done
    printf 'error: redis-server on port %s did not answer PING within 10 s\n' "$port" >&2
    gw_redis_stop "$dir"
    return 1
}

# gw_redis_stop [DIR]: stops the redis-server started by gw_redis_start (or the one
# whose pid is in DIR/redis.pid) and waits for it to exit. Quiet when none runs.
gw_redis_stop() {
    local dir=${1:-$GW_REDIS_DIR} pid=$GW_REDIS_PID
    if [[ -n ${1:-} || -z $pid ]]; then
        pid=
        [[ -n $dir && -f $dir/redis.pid ]] && pid=$(<"$dir/redis.pid")
    fi
    [[ -n $pid ]] && gw_stop_pid "$pid" 10
    [[ -n $dir ]] && rm -f "$dir/redis.pid"
    GW_REDIS_PID=
}

# gw_stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL. Returns the
# process' exit status when it is our child (137 when it had to be killed), else 0.
gw_stop_pid() {
    local pid=$1 secs=$2 i rc=0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < secs * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            printf 'warning: pid %s still running after %s s, killing it\n' "$pid" "$secs" >&2
            kill -KILL "$pid" 2>/dev/null || true
            rc=137
        fi
    fi
    # wait gives the status of our own child; 127 means it was not ours.
    wait "$pid" 2>/dev/null || { local st=$?; ((st == 127 || rc != 0)) || rc=$st; }
    return "$rc"
}

# gw_wait_http URL SECONDS [PID]: waits until URL answers 200; gives up early when
# PID (the server) has exited.
gw_wait_http() {
    local url=$1 secs=$2 pid=${3:-} i
    for ((i = 0; i < secs * 10; i++)); do
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# ---- gatewayd ----

# Where gatewayd and gatewayctl are taken from (ops/demo and ops/bench/*).
GW_BIN_DIR=${GW_BIN_DIR:-$GW_ROOT/build/bin}
GW_GATEWAYD_PID=

# gw_gatewayd_start CONFIG LOG READY_URL: starts gatewayd in the background (stdout
# and stderr appended to LOG) and waits (20 s at most) until READY_URL answers 200.
# On failure prints the end of LOG and stops it.
gw_gatewayd_start() {
    local config=$1 log=$2 url=$3
    [[ -x $GW_BIN_DIR/gatewayd ]] || { printf 'error: %s/gatewayd not found: build first\n' "$GW_BIN_DIR" >&2; return 1; }
    setsid "$GW_BIN_DIR/gatewayd" --config "$config" </dev/null >>"$log" 2>&1 &
    GW_GATEWAYD_PID=$!
    if ! gw_wait_http "$url" 20 "$GW_GATEWAYD_PID"; then
        printf 'error: gatewayd did not become ready (%s); the end of %s:\n' "$url" "$log" >&2
        tail -n 20 "$log" >&2 || true
        gw_gatewayd_stop || true
        return 1
    fi
}

# gw_gatewayd_stop: SIGTERM to the gatewayd of gw_gatewayd_start; returns its exit status.
gw_gatewayd_stop() {
    local pid=$GW_GATEWAYD_PID
    GW_GATEWAYD_PID=
    [[ -n $pid ]] || return 0
    gw_stop_pid "$pid" 12
}

# ---- clean-up ----

# gw_cpu_mark, then gw_cpu_taken MARK: of the machine's CPU time since the mark,
# the percentage taken by the host ("steal": a virtual machine's CPUs running
# someone else) and the percentage left idle. A benchmark prints it beside its
# figures: latencies measured while the host took 20% are not this machine's.
gw_cpu_mark() { awk 'NR == 1 { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, $5, t; exit }' /proc/stat; }
gw_cpu_taken() {
    local s0 i0 t0
    read -r s0 i0 t0 <<<"$1"
    awk -v s0="$s0" -v i0="$i0" -v t0="$t0" 'NR == 1 {
        t = 0; for (i = 2; i <= 9; i++) t += $i
        d = (t > t0 ? t - t0 : 1)
        printf "host steal %.0f%%, idle %.0f%%", 100 * ($9 - s0) / d, 100 * ($5 - i0) / d; exit }' /proc/stat
}

GW_CLEANUPS=()

# gw_cleanup_add 'COMMAND ...': runs COMMAND (a string, eval'd) when the script exits,
# is interrupted or terminated; steps run in reverse order of registration.
gw_cleanup_add() {
    GW_CLEANUPS+=("$1")
    trap gw_cleanup_run EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

gw_cleanup_run() {
    local rc=$? i
    trap - EXIT INT TERM HUP
    for ((i = ${#GW_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${GW_CLEANUPS[i]}" || true
    done
    GW_CLEANUPS=()
    return "$rc"
}
