#!/usr/bin/env python3
"""`scenarist serve` under load: turns a second and latency, against nginx, side by side.

Usage: scripts/bench_serve.py [--exe PATH] [--rounds N] [-t THREADS] [-c CONNECTIONS]
                              [-d DURATION] [--sessions N] [--nginx-workers N|auto]

Needs wrk and nginx (Debian packages; installed with apt-get when missing and run as root).
Python 3.11, standard library only. What it does, all in one invocation:

1. The release binary (`--exe`, default target/release/scenarist; the script does not build
   it). An echo bot (`on message goto e` / `block e { say "%message%" }`) in a temp dir.
2. Three servers, each started afresh for each run (off the clock), on free 127.0.0.1 ports:
     nginx    `worker_processes auto` (see --nginx-workers), `access_log off`, answering
              POST /v1/messages with `return 200 '…'` and the very body scenarist's echo bot
              answers (taken from a scenarist started once for that), application/json —
              the HTTP limit of this machine for that exchange;
     memory   `scenarist serve ECHO --store memory: --user-rate 0`;
     sqlite   `scenarist serve ECHO --store sqlite:TMP/bench-N.db --user-rate 0`, a fresh file
              each run.
   Each is checked once with a request of its own (the echo must come back) before wrk.
3. Maximum rate: `wrk -tT -cC -dD --latency` with a Lua script that POSTs a JSON body with a
   user_id and message_id unique to each request (the wrk thread's number and a counter), so
   every request is a new user's first turn. The three servers alternate, ROUNDS times;
   medians of Requests/sec, p50 and p99 (wrk's --latency distribution). "Non-2xx or 3xx
   responses" and socket errors must be 0. Also the server's CPU time a request (utime +
   stime of the server's processes over the run, from /proc) and wrk's own CPU.
4. Latency at half the maximum: each server again at 0.5 x its median maximum, at a constant
   rate. wrk2 (`-R`) is not packaged in Debian, so the pacing is done in wrk's Lua: `delay()`
   keeps one schedule per wrk thread (LuaJIT ffi clock_gettime) and returns the time to the
   next slot, so requests leave at the target rate while connections are free (`delay()` has
   1 ms granularity: a request may leave up to 1 ms early; the average rate is kept). The
   achieved rate is printed next to the target. Note that wrk 4 corrects its latency
   histogram for coordinated omission (`stats_correct`: every sample longer than twice the
   mean interval of a connection, runtime / (requests / connections), adds the samples a
   steady sender would have seen), in the max runs too: one stall of the server of 300 ms
   weighs as thousands of slow requests. So during the half-rate runs a probe of our own
   (Python, one keep-alive connection, a request every 5 ms, its own users) times requests
   without any correction, as a second opinion.
5. 100,000 idle sessions of scenarios/quiz: a fresh `serve --store sqlite:FILE`, wrk with a
   quota per thread (distinct users, one message "hi" each, with a message_id; then
   GET /healthz; a thread that has its quota answered stops and leaves a marker, then wrk
   gets SIGINT; the count of sessions in the file is checked). The first
   message of a quiz player runs `on start` -> `intro`: the welcome and "Shall we start?"
   with two buttons. Then SIGTERM (the server must exit 0), `PRAGMA wal_checkpoint(TRUNCATE)`,
   and the file size / sessions, `SELECT count(*), avg(length(session)) FROM sessions`, and
   the bytes of each table and index (dbstat).
6. A Markdown table. Exit status 1 if a server errored (non-2xx, socket errors, a wrong
   echo, an early exit, a session count that is not the quota); missed goals are reported
   but do not fail the run.

Goals: memory >= 0.5 x nginx turns/s, sqlite >= 0.25 x nginx, p99 <= 20 ms at half the
maximum rate, <= 1024 bytes a session in the SQLite file.

The machine is shared and noisy: only the ratios of one run mean much. wrk runs on the same
2 cores as the server it loads, so every figure includes that competition, alike for all.
"""
import argparse
import atexit
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = "hello, bot"
CLK_TCK = os.sysconf("SC_CLK_TCK")
failures = []
live = set()  # processes of ours still running: ended at exit, whatever happens


def end_live():
    for proc in list(live):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


atexit.register(end_live)
for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, lambda signum, frame: sys.exit(128 + signum))


def fail(message):
    print(f"ERROR: {message}", flush=True)
    failures.append(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find(tool):
    path = shutil.which(tool)
    if path is None and os.path.exists(f"/usr/sbin/{tool}"):
        path = f"/usr/sbin/{tool}"
    return path


def ensure_tools():
    missing = [t for t in ("wrk", "nginx") if find(t) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing {', '.join(missing)}: apt-get install -y wrk nginx (as root)")
    print(f"installing {' '.join(missing)} with apt-get", flush=True)
    subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", *missing], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    for t in missing:
        if find(t) is None:
            sys.exit(f"{t} is still missing after apt-get install")


def wait_port(port, proc, what, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


def post(port, body, timeout=5.0):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/messages", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode()


def pids_of(pid):
    """The process and its children (nginx's workers)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


def proc_ticks(stat_path, exited_children=False):
    """(comm, CPU ticks) of a /proc/PID/stat: utime + stime, with cutime + cstime (the
    children that exited and were waited for) when asked; None when the process is gone."""
    try:
        with open(stat_path) as f:
            head, rest = f.read().rsplit(")", 1)
        fields = rest.split()
        return head.split("(", 1)[1], sum(int(x) for x in fields[11:15 if exited_children else 13])
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pid):
    ticks = (proc_ticks(f"/proc/{p}/stat") for p in pids_of(pid))
    return sum(t[1] for t in ticks if t is not None) / CLK_TCK


class Server:
    """One server process, started for one run."""

    def __init__(self, name, cmd, port, work, env=None):
        self.name, self.port = name, port
        self.log = open(os.path.join(work, f"{name}.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=env,
                                     start_new_session=True)
        live.add(self.proc)
        wait_port(port, self.proc, name)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM and wait; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail(f"{self.name} did not stop within 60 s of SIGTERM")
        self.log.close()
        live.discard(self.proc)
        return self.proc.returncode


class Probe(threading.Thread):
    """Times POST /v1/messages on one keep-alive connection, one request every 5 ms, without
    any correction: p50, p99, max in ms."""

    def __init__(self, port, prefix):
        super().__init__(daemon=True)
        self.port, self.prefix = port, prefix
        self.times, self.errors = [], 0
        self.stopping = threading.Event()
        self.start()

    def run(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        i = 0
        while not self.stopping.is_set():
            i += 1
            body = json.dumps({"user_id": f"{self.prefix}-probe-{i}", "text": TEXT, "message_id": str(i)})
            started = time.perf_counter()
            try:
                conn.request("POST", "/v1/messages", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.errors += 1
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            self.times.append((time.perf_counter() - started) * 1000)
            self.stopping.wait(0.005)
        conn.close()

    def finish(self):
        self.stopping.set()
        self.join()
        t = sorted(self.times)
        if not t:
            return {"n": 0, "p50": None, "p99": None, "max": None, "errors": self.errors}
        return {"n": len(t), "p50": t[len(t) // 2], "p99": t[min(len(t) - 1, int(len(t) * 0.99))],
                "max": t[-1], "errors": self.errors}


def nginx_conf(work, port, body, workers):
    tmp = os.path.join(work, "nginx-tmp")
    os.makedirs(tmp, exist_ok=True)
    conf = os.path.join(work, f"nginx-{port}.conf")
    quoted = body.replace("\\", "\\\\").replace("'", "\\'")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes {workers};
pid {work}/nginx-{port}.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp};
    proxy_temp_path {tmp};
    fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp};
    scgi_temp_path {tmp};
    keepalive_requests 10000000;
    server {{
        listen 127.0.0.1:{port};
        location = /v1/messages {{
            default_type application/json;
            return 200 '{quoted}';
        }}
    }}
}}
""")
    return conf


LUA_COMMON = r"""
local n = 0
local prefix = "{prefix}"
local counter = 0
-- `tid` is a global of each thread's state, set by setup() on the main one.
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
local headers = {{ ["Content-Type"] = "application/json" }}
local function message()
  counter = counter + 1
  local id = prefix .. "-" .. tid .. "-" .. counter
  return wrk.format("POST", "/v1/messages", headers,
    '{{"user_id":"' .. id .. '","text":"{text}","message_id":"' .. id .. '"}}')
end
"""

LUA_MAX = LUA_COMMON + r"""
function request()
  return message()
end
"""

LUA_PACED = LUA_COMMON + r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} bench_timespec;
int clock_gettime(int clk, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval = {interval_ms}
local next_at = nil
function delay()
  local t = now_ms()
  if next_at == nil then next_at = t end
  next_at = next_at + interval
  local d = next_at - t
  if d < 0 then return 0 end
  return d
end
function request()
  return message()
end
"""

LUA_QUOTA = LUA_COMMON + r"""
local quota = {quota}
-- wrk calls request() once on the first thread's state before the run, to check the script
-- (script_verify_request), and throws that request away: that thread issues one more.
local issue = quota
function init(args)
  if tid == 1 then issue = quota + 1 end
end
local answered = 0
local done = false
local health = wrk.format("GET", "/healthz")
function request()
  if counter < issue then return message() end
  return health
end
function response(status, headers, body)
  if done or body == '{{"ok":true}}' then return end
  answered = answered + 1
  if answered >= quota then
    done = true
    local f = io.open("{marker}" .. tid, "w")
    if f then f:write(tostring(answered)); f:close() end
    wrk.thread:stop()
  end
end
"""


def duration_s(value):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)?", value)
    if not m:
        raise ValueError(f"cannot read the duration {value!r}")
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def parse_wrk(out):
    r = {"out": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+\w+),", out)
    r["requests"] = int(m.group(1)) if m else 0
    r["seconds"] = duration_s(m.group(2)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+\w+)", out, re.M)
        r[f"p{pct}"] = duration_s(m.group(1)) * 1000 if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    return r


class Bench:
    def __init__(self, args):
        self.args = args
        self.exe = os.path.abspath(args.exe)
        self.work = tempfile.mkdtemp(prefix="scenarist-bench-serve-")
        os.chmod(self.work, 0o755)  # nginx workers may run as an unprivileged user
        self.echo = os.path.join(self.work, "echo.scn")
        with open(self.echo, "w") as f:
            f.write('on message goto e\nblock e { say "%message%" }\n')
        self.env = {k: v for k, v in os.environ.items() if k != "SCENARIST_TOKEN"}
        self.db_count = 0
        self.nginx_body = None
        self.rusage = resource.getrusage(resource.RUSAGE_CHILDREN)

    def scenarist(self, name, bot, store):
        port = free_port()
        cmd = [self.exe, "serve", bot, "--listen", f"127.0.0.1:{port}", "--store", store, "--user-rate", "0"]
        return Server(name, cmd, port, self.work, env=self.env)

    def fresh_db(self, stem="bench"):
        self.db_count += 1
        path = os.path.join(self.work, f"{stem}-{self.db_count}.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return path

    def start(self, name):
        if name == "nginx":
            port = free_port()
            conf = nginx_conf(self.work, port, self.nginx_body, self.args.nginx_workers)
            return Server(name, [find("nginx"), "-c", conf, "-p", self.work, "-g", "daemon off;"], port, self.work)
        if name == "memory":
            return self.scenarist(name, self.echo, "memory:")
        return self.scenarist(name, self.echo, f"sqlite:{self.fresh_db()}")

    def check(self, server):
        """One request of our own: the echo must come back (nginx: the fixed body)."""
        status, body = post(server.port, {"user_id": "check", "text": TEXT, "message_id": "check-1"})
        if status != 200 or TEXT not in body:
            raise RuntimeError(f"{server.name}: unexpected answer {status} {body[:200]}")

    def take_echo_body(self):
        server = self.start("memory")
        try:
            status, body = post(server.port, {"user_id": "probe", "text": TEXT, "message_id": "probe-1"})
            if status != 200 or TEXT not in body:
                raise RuntimeError(f"the echo bot answered {status} {body[:200]}")
            self.nginx_body = body
        finally:
            server.stop()
        print(f"echo answer ({len(body.encode())} bytes), nginx answers the same: {body}", flush=True)

    def wrk(self, port, lua_text, connections, duration, tag, timeout_s=None, marker=None, threads=None):
        threads = threads or self.args.threads
        lua = os.path.join(self.work, f"{tag}.lua")
        with open(lua, "w") as f:
            f.write(lua_text)
        cmd = [find("wrk"), f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency",
               "--timeout", self.args.timeout, "-s", lua, f"http://127.0.0.1:{port}"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        live.add(proc)
        if marker is not None:
            # A quota run: SIGINT once every thread has left its marker (wrk prints as usual).
            while proc.poll() is None:
                if all(os.path.exists(f"{marker}{i}") for i in range(1, threads + 1)):
                    proc.send_signal(signal.SIGINT)
                    break
                if timeout_s and time.monotonic() - started > timeout_s:
                    proc.send_signal(signal.SIGINT)
                    fail(f"{tag}: the quota was not answered within {timeout_s:.0f} s")
                    break
                time.sleep(0.02)
        out, _ = proc.communicate()
        live.discard(proc)
        elapsed = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = parse_wrk(out)
        r["elapsed"] = elapsed
        r["wrk_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode not in (0, -signal.SIGINT) or r["rps"] is None:
            fail(f"{tag}: wrk failed ({proc.returncode}):\n{out}")
        return r

    def run_one(self, name, rate=None, tag=""):
        server = self.start(name)
        try:
            self.check(server)
            prefix = f"{tag}{name}"
            if rate is None:
                lua = LUA_MAX.format(prefix=prefix, text=TEXT)
            else:
                interval = 1000.0 * self.args.threads / rate  # one schedule per wrk thread
                lua = LUA_PACED.format(prefix=prefix, text=TEXT, interval_ms=f"{interval:.6f}")
            cpu0 = cpu_seconds(server.proc.pid)
            top = None
            if self.args.top:
                top = subprocess.Popen(["sh", "-c", f"sleep {duration_s(self.args.duration) / 2}; top -b -n1 -w 160 | head -15"],
                                       stdout=subprocess.PIPE, text=True)
            probe = Probe(server.port, prefix) if rate is not None else None
            r = self.wrk(server.port, lua, self.args.connections, self.args.duration, f"{prefix}")
            r["server_cpu"] = cpu_seconds(server.proc.pid) - cpu0
            if probe is not None:
                r["probe"] = probe.finish()
                if r["probe"]["errors"]:
                    fail(f"{name}: the probe saw {r['probe']['errors']} errors")
            if top is not None:
                r["top"] = top.communicate()[0]
            if not server.alive():
                fail(f"{name}: the server exited during the run ({server.proc.returncode})")
        finally:
            code = server.stop()
        if name != "nginx" and code != 0:
            fail(f"{name}: exit status {code} after SIGTERM (log: {server.log.name})")
        if r["non2xx"] or r["socket_errors"]:
            fail(f"{name} {'paced' if rate else 'max'}: {r['non2xx']} non-2xx responses, "
                 f"{r['socket_errors']} socket errors")
        r["cpu_us"] = 1e6 * r["server_cpu"] / r["requests"] if r["requests"] else None
        r["wrk_cpu_us"] = 1e6 * r["wrk_cpu"] / r["requests"] if r["requests"] else None
        return r

    def sessions(self):
        n = self.args.sessions
        quiz = os.path.join(ROOT, "scenarios", "quiz")
        db = self.fresh_db("quiz")
        server = self.scenarist("quiz", quiz, f"sqlite:{db}")
        threads = self.args.threads
        quotas = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
        if len(set(quotas)) != 1:
            sys.exit(f"--sessions {n} must be a multiple of -t {threads}")
        marker = os.path.join(self.work, "quota-done-")
        lua = LUA_QUOTA.format(prefix="quiz", text="hi", quota=quotas[0], marker=marker)
        # One message of our own first: what a first message does.
        status, body = post(server.port, {"user_id": "quiz-probe", "text": "hi", "message_id": "1"})
        if status != 200:
            fail(f"quiz: the first message answered {status}")
        print(f"quiz, a first message answers ({len(body.encode())} bytes): {body}", flush=True)
        cpu0 = cpu_seconds(server.proc.pid)
        r = self.wrk(server.port, lua, self.args.connections, "3600s", "quiz", timeout_s=self.args.sessions_timeout,
                     marker=marker)
        r["server_cpu"] = cpu_seconds(server.proc.pid) - cpu0
        alive = server.alive()
        code = server.stop()
        if not alive:
            fail(f"quiz: the server exited during the run ({code})")
        elif code != 0:
            fail(f"quiz: exit status {code} after SIGTERM")
        if r["non2xx"] or r["socket_errors"]:
            fail(f"quiz: {r['non2xx']} non-2xx responses, {r['socket_errors']} socket errors")
        wal = os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0
        size_before = os.path.getsize(db)
        conn = sqlite3.connect(db)
        checkpoint = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        count, avg_len = conn.execute("SELECT count(*), avg(length(session)) FROM sessions").fetchone()
        processed = conn.execute("SELECT count(*), avg(length(response)) FROM processed").fetchone()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        try:
            tables = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
        except sqlite3.Error:
            tables = []
        conn.close()
        size = os.path.getsize(db)
        expected = n + 1  # the probe
        if count != expected:
            fail(f"quiz: {count} sessions in the file, {expected} expected")
        return {
            "wrk": r, "count": count, "avg_len": avg_len, "size": size, "wal_before": wal,
            "size_before": size_before, "checkpoint": checkpoint, "processed": processed,
            "page_size": page_size, "tables": tables, "turns_per_s": n / r["elapsed"] if r["elapsed"] else None,
        }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_ms(v):
    return "—" if v is None else (f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exe", default=os.path.join(ROOT, "target", "release", "scenarist"))
    p.add_argument("--rounds", type=int, default=3, help="runs of each server at the maximum rate (median)")
    p.add_argument("-t", "--threads", type=int, default=2)
    p.add_argument("-c", "--connections", type=int, default=32)
    p.add_argument("-d", "--duration", default="10s")
    p.add_argument("--timeout", default="5s", help="wrk's --timeout")
    p.add_argument("--nginx-workers", default="auto",
                   help="nginx worker_processes (auto: one per core, as tokio's worker threads)")
    p.add_argument("--half-rounds", type=int, default=3, help="runs of each server at half its maximum")
    p.add_argument("--sessions", type=int, default=100_000, help="idle quiz sessions (0: skip)")
    p.add_argument("--sessions-timeout", type=float, default=900)
    p.add_argument("--top", action="store_true", help="print `top -b -n1` halfway through each max run")
    p.add_argument("--only", default="nginx,memory,sqlite")
    args = p.parse_args()

    if not os.access(args.exe, os.X_OK):
        sys.exit(f"no binary at {args.exe}: cargo build --release, or --exe PATH")
    ensure_tools()
    bench = Bench(args)
    names = args.only.split(",")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"work dir {bench.work}; {os.cpu_count()} cores, load average {load}; wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration} --latency", flush=True)
    bench.take_echo_body()

    maxima = {n: [] for n in names}
    try:
        for rnd in range(args.rounds):
            for name in names:
                r = bench.run_one(name, tag=f"r{rnd}")
                maxima[name].append(r)
                print(f"round {rnd + 1} {name:7} {r['rps']:>9.0f} req/s  p50 {fmt_ms(r['p50'])}  p99 {fmt_ms(r['p99'])}"
                      f"  server CPU {r['cpu_us']:.0f} µs/req, wrk {r['wrk_cpu_us']:.0f} µs/req", flush=True)
                if r.get("top"):
                    print(r["top"], flush=True)
        best = {n: median(r["rps"] for r in maxima[n]) for n in names}
        halves = {n: [] for n in names}
        for rnd in range(args.half_rounds):
            for name in names:
                target = best[name] / 2
                r = bench.run_one(name, rate=target, tag=f"h{rnd}")
                r["target"] = target
                halves[name].append(r)
                pr = r["probe"]
                print(f"half    {name:7} target {target:>7.0f}/s got {r['rps']:>7.0f} req/s  p50 {fmt_ms(r['p50'])}"
                      f"  p99 {fmt_ms(r['p99'])}; probe ({pr['n']}) p50 {fmt_ms(pr['p50'])} p99 {fmt_ms(pr['p99'])}"
                      f" max {fmt_ms(pr['max'])}", flush=True)
        sess = bench.sessions() if args.sessions else None
    except RuntimeError as e:
        fail(str(e))
        print(f"logs in {bench.work}")
        return 1

    ref = best.get("nginx")
    goals = {"memory": 0.5, "sqlite": 0.25}
    print()
    print(f"`wrk -t{args.threads} -c{args.connections} -d{args.duration} --latency`, {args.rounds} rounds "
          f"alternating (medians); half rate: Lua-paced constant rate, same -t/-c, {args.half_rounds} run(s)")
    print()
    print("| server | turns/s (max) | ratio to nginx | p50 / p99 at max | server CPU a request | "
          "at half the max: rate | p50 / p99 (wrk) | probe p50 / p99 / max |")
    print("|---|---|---|---|---|---|---|---|")
    labels = {"nginx": f"nginx (`return 200`, worker_processes {args.nginx_workers})",
              "memory": "`serve --store memory:`", "sqlite": "`serve --store sqlite:`"}
    for name in names:
        rps = best[name]
        ratio = ""
        if ref and name != "nginx":
            v = rps / ref
            goal = goals.get(name)
            ratio = f"**{v:.2f}**" + (f" (goal ≥ {goal}: {'✓' if v >= goal else '✗'})" if goal else "")
        p50 = median(r["p50"] for r in maxima[name])
        p99 = median(r["p99"] for r in maxima[name])
        cpu = median(r["cpu_us"] for r in maxima[name])
        h = halves[name]
        if h:
            hp99 = median(r["p99"] for r in h)
            half_rate = f"{median(r['rps'] for r in h):.0f}/s (asked {median(r['target'] for r in h):.0f})"
            half_lat = f"{fmt_ms(median(r['p50'] for r in h))} / **{fmt_ms(hp99)}**" + (
                f" {'✓' if hp99 is not None and hp99 <= 20 else '✗'}" if name != "nginx" else "")
            probe = (f"{fmt_ms(median(r['probe']['p50'] for r in h))} / {fmt_ms(median(r['probe']['p99'] for r in h))}"
                     f" / {fmt_ms(median(r['probe']['max'] for r in h))}")
        else:
            half_rate = half_lat = probe = "—"
        spread = f" ({min(r['rps'] for r in maxima[name]):.0f}–{max(r['rps'] for r in maxima[name]):.0f})" \
            if len(maxima[name]) > 1 else ""
        print(f"| {labels[name]} | {rps:.0f}{spread} | {ratio} | {fmt_ms(p50)} / {fmt_ms(p99)} | {cpu:.0f} µs | "
              f"{half_rate} | {half_lat} | {probe} |")
    if sess:
        per = sess["size"] / sess["count"] if sess["count"] else 0
        print()
        print(f"| {args.sessions:,} idle quiz sessions, `serve --store sqlite:` | |")
        print("|---|---|")
        print(f"| sessions in the file | {sess['count']:,} (one message each, with a message_id; "
              f"{sess['turns_per_s']:.0f} turns/s, {sess['wrk']['elapsed']:.1f} s) |")
        print(f"| file after SIGTERM + `wal_checkpoint(TRUNCATE)` | {sess['size']:,} bytes "
              f"(before: {sess['size_before']:,} + WAL {sess['wal_before']:,}) |")
        print(f"| bytes a session (file / sessions) | **{per:.0f}** (goal ≤ 1024: {'✓' if per <= 1024 else '✗'}) |")
        print(f"| avg(length(session)) | {sess['avg_len']:.0f} bytes |")
        print(f"| processed message ids kept (7 days) | {sess['processed'][0]:,}, "
              f"avg(length(response)) {sess['processed'][1]:.0f} bytes |")
        if sess["tables"]:
            parts = ", ".join(f"`{t}` {b / sess['count']:.0f}" for t, b in sess["tables"] if b)
            print(f"| bytes a session by table/index (dbstat) | {parts} |")
    print()
    if failures:
        print(f"FAILED: {len(failures)} error(s); logs in {bench.work}")
        for f in failures:
            print(f"  - {f.splitlines()[0]}")
        return 1
    print(f"logs and databases in {bench.work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
