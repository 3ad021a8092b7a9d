#!/usr/bin/env python3
"""`scenarist serve` on PostgreSQL: one and three instances, against pgbench, side by side.

Usage: scripts/bench_postgres.py [--exe PATH] [--url URL] [--rounds N] [-c CONNECTIONS]
                                 [-d DURATION] [--pgbench-clients N] [--three-pool N]

Needs wrk (Debian package; installed with apt-get when missing and run as root), pgbench and
psql (PostgreSQL's client programs) and a PostgreSQL server at --url (default
postgres://postgres@127.0.0.1:5432/test, the one every machine of this project has). Python 3.11,
standard library only. What it does, in one invocation, ROUNDS times, alternating:

1. pgbench: one single-row upsert per transaction (`INSERT … ON CONFLICT (k) DO UPDATE`, a
   random key of a billion, so nearly every one inserts a new row, like a new user's turn),
   `pgbench -n -M prepared -c N -j 2 -T D` with N = the connections one scenarist instance
   keeps to the database (its pool: 16), on a table of its own in a fresh schema. TPS and the
   p99 of the transactions' latency (pgbench's per-transaction log, -l). This is the
   database's limit on this machine for the simplest durable write.
2. one instance: `scenarist serve ECHO --store postgres://…?options=-csearch_path%3DSCHEMA
   --user-rate 0` on a fresh schema; the echo bot of SERVER.md §5 (`on message goto e`,
   `block e { say "%message%" }`); wrk -t2 -cC -dD --latency with unique users and message
   ids (the Lua of bench_serve.py), so every request is a new user's first turn and every turn
   is committed before its answer.
3. three instances on one fresh schema: three wrk processes at once, one per instance, each
   -t1 and a third of the connections; their turns/s summed, the worst of their p99s.
   Then the check that matters with several instances: every answered request left exactly
   one session and one processed id (sessions = processed ids, and answered ≤ sessions ≤
   answered + connections in flight at the end), and no error answer.
4. one instance with a third of the connections: the load each of the three instances had (the
   control: does a turn cost more because three instances share the database, or because each
   carries a third of the load?);
5. three instances again, with three times the connections (each instance gets the load the
   one instance had: what adding instances as the users grow looks like), checked the same way.

For every run of the server it also counts, over the wrk run: the CPU time of all PostgreSQL
processes and of the servers (utime + stime from /proc, with the PostgreSQL backends that
exited meanwhile, divided by the turns answered), and the
database's commits (`pg_stat_database.xact_commit`), giving the turns a commit carries.

Prints a Markdown table: turns/s and p99 for each, the ratio of one instance to pgbench
(goal ≥ 0.5) and of three instances to one (goal ≥ 1: not slower in total), and the CPU and
commits a turn. Exit status 1 if a server errored; missed goals are reported but do not fail
the run. The machine has 2 cores, shared by the servers, wrk and PostgreSQL alike: only the
ratios of one run mean much.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_serve as bs  # noqa: E402  (the shared helpers: servers, wrk, Lua, parsing)

POOL = 16  # connections one instance keeps to PostgreSQL (src/serve/store/postgres.rs)


def postgres_cpu_seconds():
    """utime + stime of every PostgreSQL process on the machine (the server and its backends),
    with cutime + cstime: the postmaster's count of the backends that exited meanwhile."""
    ticks = (bs.proc_ticks(stat, exited_children=True) for stat in glob.glob("/proc/[0-9]*/stat"))
    return sum(t[1] for t in ticks if t is not None and t[0].startswith("postgres")) / bs.CLK_TCK


def psql(url, sql):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def store_url(url, schema, pool_size=None):
    sep = "&" if "?" in url else "?"
    url = f"{url}{sep}options={urllib.parse.quote('-csearch_path=' + schema)}"
    return url if pool_size is None else f"{url}&pool_size={pool_size}"


class PgBench:
    def __init__(self, args):
        self.args = args
        self.exe = os.path.abspath(args.exe)
        self.work = tempfile.mkdtemp(prefix="scenarist-bench-pg-")
        self.echo = os.path.join(self.work, "echo.scn")
        with open(self.echo, "w") as f:
            f.write('on message goto e\nblock e { say "%message%" }\n')
        self.env = {k: v for k, v in os.environ.items() if k != "SCENARIST_TOKEN"}
        self.schemas = []
        # bench_serve's Bench.wrk needs these.
        self.threads = 2

    def fresh_schema(self, stem):
        name = f"bench_{stem}_{os.getpid()}_{len(self.schemas)}"
        psql(self.args.url, f"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")
        self.schemas.append(name)
        return name

    def drop_schemas(self):
        for name in self.schemas:
            try:
                psql(self.args.url, f"DROP SCHEMA IF EXISTS {name} CASCADE")
            except subprocess.CalledProcessError:
                pass

    def pgbench(self, tag):
        schema = self.fresh_schema("pgbench")
        psql(self.args.url, f"CREATE TABLE {schema}.kv (k bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL)")
        script = os.path.join(self.work, "upsert.sql")
        with open(script, "w") as f:
            f.write("\\set k random(1, 1000000000)\n"
                    f"INSERT INTO {schema}.kv (k, v, n) VALUES (:k, 'hello, bot', 1) "
                    f"ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = {schema}.kv.n + 1;\n")
        logdir = os.path.join(self.work, f"pgbench-{tag}")
        os.makedirs(logdir)
        seconds = int(bs.duration_s(self.args.duration))
        cmd = ["pgbench", "-n", "-M", "prepared", "-c", str(self.args.pgbench_clients), "-j", "2",
               "-T", str(seconds), "-f", script, "-l", "--log-prefix", os.path.join(logdir, "tx"),
               self.args.url]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"pgbench failed ({out.returncode}): {out.stderr}")
        tps = None
        for line in out.stdout.splitlines():
            if line.startswith("tps = "):
                tps = float(line.split()[2])
        latencies = []
        for path in glob.glob(os.path.join(logdir, "tx*")):
            with open(path) as f:
                for line in f:
                    fields = line.split()
                    if len(fields) >= 3:
                        latencies.append(int(fields[2]) / 1000)
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None
        p50 = latencies[len(latencies) // 2] if latencies else None
        if tps is None:
            raise RuntimeError(f"pgbench printed no tps:\n{out.stdout}")
        return {"rps": tps, "p50": p50, "p99": p99, "requests": len(latencies)}

    def server(self, name, schema, pool_size=None):
        port = bs.free_port()
        cmd = [self.exe, "serve", self.echo, "--listen", f"127.0.0.1:{port}",
               "--store", store_url(self.args.url, schema, pool_size), "--user-rate", "0"]
        server = bs.Server(name, cmd, port, self.work, env=self.env)
        status, body = bs.post(port, {"user_id": f"check-{name}", "text": bs.TEXT, "message_id": "1"})
        if status != 200 or bs.TEXT not in body:
            raise RuntimeError(f"{name}: unexpected answer {status} {body[:200]}")
        return server

    def commits(self):
        return int(psql(self.args.url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))

    def wrk_all(self, servers, tag, connections):
        """One wrk per server, at once; the connections split among them."""
        per = max(1, connections // len(servers))
        threads = 2 if len(servers) == 1 else 1
        procs = []
        commits0, db0 = self.commits(), postgres_cpu_seconds()
        servers0 = sum(bs.cpu_seconds(s.proc.pid) for s in servers)
        for i, server in enumerate(servers):
            lua = os.path.join(self.work, f"{tag}-{i}.lua")
            with open(lua, "w") as f:
                f.write(bs.LUA_MAX.format(prefix=f"{tag}-{i}", text=bs.TEXT))
            cmd = [bs.find("wrk"), f"-t{threads}", f"-c{per}", f"-d{self.args.duration}", "--latency",
                   "--timeout", "10s", "-s", lua, f"http://127.0.0.1:{server.port}"]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        results = []
        for proc in procs:
            out, _ = proc.communicate()
            r = bs.parse_wrk(out)
            if proc.returncode != 0 or r["rps"] is None:
                raise RuntimeError(f"{tag}: wrk failed ({proc.returncode}):\n{out}")
            results.append(r)
        db = postgres_cpu_seconds() - db0
        server_cpu = sum(bs.cpu_seconds(s.proc.pid) for s in servers) - servers0
        commits = self.commits() - commits0
        turns = max(1, sum(r["requests"] for r in results))
        return {
            "db_us": 1e6 * db / turns,
            "server_us": 1e6 * server_cpu / turns,
            "per_commit": turns / max(1, commits),
            "rps": sum(r["rps"] for r in results),
            "p50": max(r["p50"] for r in results if r["p50"] is not None),
            "p99": max(r["p99"] for r in results if r["p99"] is not None),
            "requests": sum(r["requests"] for r in results),
            "non2xx": sum(r["non2xx"] for r in results),
            "socket_errors": sum(r["socket_errors"] for r in results),
            "connections": per * len(servers),
        }

    def instances(self, n, tag, connections):
        schema = self.fresh_schema(f"serve{n}")
        servers = []
        try:
            pool = self.args.three_pool if n == 3 else None
            for i in range(n):
                servers.append(self.server(f"{tag}-i{i}", schema, pool))
            r = self.wrk_all(servers, tag, connections)
            for s in servers:
                if not s.alive():
                    bs.fail(f"{s.name}: exited during the run ({s.proc.returncode})")
        finally:
            codes = [s.stop() for s in servers]
        for s, code in zip(servers, codes):
            if code != 0:
                bs.fail(f"{s.name}: exit status {code} after SIGTERM (log: {s.log.name})")
        if r["non2xx"] or r["socket_errors"]:
            bs.fail(f"{tag}: {r['non2xx']} non-2xx responses, {r['socket_errors']} socket errors")
        sessions = int(psql(self.args.url, f"SELECT count(*) FROM {schema}.sessions WHERE user_id NOT LIKE 'check-%'"))
        processed = int(psql(self.args.url, f"SELECT count(*) FROM {schema}.processed WHERE user_id NOT LIKE 'check-%'"))
        r["sessions"], r["processed"] = sessions, processed
        if sessions != processed:
            bs.fail(f"{tag}: {sessions} sessions but {processed} processed ids")
        if not r["requests"] <= sessions <= r["requests"] + r["connections"]:
            bs.fail(f"{tag}: {r['requests']} answered turns but {sessions} sessions")
        return r


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exe", default=os.path.join(bs.ROOT, "target", "release", "scenarist"))
    p.add_argument("--url", default=os.environ.get("SCENARIST_TEST_POSTGRES",
                                                   "postgres://postgres@127.0.0.1:5432/test"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("-c", "--connections", type=int, default=32, help="wrk connections in all")
    p.add_argument("-d", "--duration", default="10s")
    p.add_argument("--pgbench-clients", type=int, default=POOL)
    p.add_argument("--three-pool", type=int, default=None,
                   help="pool_size of each of the three instances (default: the instances' own, 16)")
    args = p.parse_args()
    if not os.access(args.exe, os.X_OK):
        sys.exit(f"no binary at {args.exe}: cargo build --release, or --exe PATH")
    for tool in ("pgbench", "psql"):
        if bs.find(tool) is None:
            sys.exit(f"{tool} is missing (PostgreSQL's client programs)")
    if bs.find("wrk") is None:
        if os.geteuid() != 0:
            sys.exit("wrk is missing: apt-get install -y wrk (as root)")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    bench = PgBench(args)
    version = psql(args.url, "SHOW server_version")
    sync = psql(args.url, "SHOW synchronous_commit")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"work dir {bench.work}; {os.cpu_count()} cores, load average {load}; PostgreSQL {version} "
          f"(synchronous_commit {sync}); wrk -c{args.connections} -d{args.duration}; pgbench -c{args.pgbench_clients}",
          flush=True)
    c = args.connections
    # name: (instances, wrk connections in all)
    plans = {"one": (1, c), "three": (3, c), "one_third": (1, c // 3), "three_x3": (3, 3 * c)}
    runs = {"pgbench": [], **{name: [] for name in plans}}
    try:
        for rnd in range(args.rounds):
            for name in runs:
                if name == "pgbench":
                    r = bench.pgbench(f"r{rnd}")
                    extra = ""
                else:
                    n, connections = plans[name]
                    r = bench.instances(n, f"r{rnd}-{name}", connections)
                    extra = (f", {r['sessions']} sessions; database {r['db_us']:.0f} µs, servers "
                             f"{r['server_us']:.0f} µs a turn; {r['per_commit']:.1f} turns a commit")
                runs[name].append(r)
                print(f"round {rnd + 1} {name:8} {r['rps']:>8.0f}/s  p50 {bs.fmt_ms(r['p50'])}  "
                      f"p99 {bs.fmt_ms(r['p99'])}{extra}", flush=True)
                time.sleep(1)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        bs.fail(str(e))
    finally:
        bench.drop_schemas()
    if bs.failures and not all(runs.values()):
        print(f"FAILED; logs in {bench.work}")
        return 1
    med = {n: {k: bs.median(r[k] for r in runs[n]) for k in runs[n][0] if isinstance(runs[n][0][k], (int, float))}
           for n in runs}
    print()
    print(f"{args.rounds} rounds alternating, medians; wrk -c{c} -d{args.duration} --latency "
          f"(three instances: three wrk -t1 -c{c // 3}, then -c{c}); pgbench -n -M prepared "
          f"-c{args.pgbench_clients} -j2 -T{int(bs.duration_s(args.duration))}, one upsert a transaction")
    print()
    print("| run | turns (transactions)/s | p99 | ratio | goal | database CPU a turn | servers' CPU a turn | turns a commit |")
    print("|---|---|---|---|---|---|---|---|")
    one = med["one"]["rps"] / med["pgbench"]["rps"]
    three = med["three"]["rps"] / med["one"]["rps"]
    scaled = med["three_x3"]["rps"] / med["one"]["rps"]
    spread = {n: f" ({min(r['rps'] for r in runs[n]):.0f}–{max(r['rps'] for r in runs[n]):.0f})" for n in runs}

    def row(name, label, ratio, goal):
        m = med[name]
        cpu = "| | | |" if name == "pgbench" else \
            f"| {m['db_us']:.0f} µs | {m['server_us']:.0f} µs | {m['per_commit']:.1f} |"
        print(f"| {label} | {m['rps']:.0f}{spread[name]} | {bs.fmt_ms(m['p99'])} | {ratio} | {goal} {cpu}")

    row("pgbench", "pgbench, one upsert a transaction", "1", "")
    row("one", f"`serve`, 1 instance (wrk -c{c})", f"**{one:.2f}** of pgbench",
        f"≥ 0.5: {'✓' if one >= 0.5 else '✗'}")
    row("three", f"`serve`, 3 instances (wrk -c{c // 3} each)", f"**{three:.2f}** of 1 instance",
        f"≥ 1: {'✓' if three >= 1 else '✗'}")
    row("one_third", f"`serve`, 1 instance, a third of the load (wrk -c{c // 3})",
        f"{med['one_third']['rps'] / med['one']['rps']:.2f} of 1 instance", "")
    row("three_x3", f"`serve`, 3 instances, 3× the load (wrk -c{c} each)", f"{scaled:.2f} of 1 instance", "")
    print()
    if bs.failures:
        print(f"FAILED: {len(bs.failures)} error(s); logs in {bench.work}")
        for f in bs.failures:
            print(f"  - {f.splitlines()[0]}")
        return 1
    print(f"logs in {bench.work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
