#!/usr/bin/env python3
"""1,000 sequential HTTP GETs with a JSON check: scenarist against Hurl and curl, side by side.

Usage: scripts/bench_http.py [RUNS]     (default 7)

Starts nginx on 127.0.0.1 (a private prefix under /tmp) serving 1,000 small JSON documents,
then alternates, RUNS times each:
  - scenarist: `scenarist run bench/http.scn` — a scenario loop doing the GET and checking
    `%body.id%` against the loop counter (the release build);
  - hurl:      `hurl --test` on a file of the same 1,000 requests, each with a jsonpath assert;
  - curl:      `curl -K` on a config of the same 1,000 URLs (fetch only, no check).
Prints the medians and the ratios scenarist/hurl and scenarist/curl (below 1.0: scenarist
is faster). All three are whole processes, start-up included, over one keep-alive client.

Needs nginx (`apt-get install -y nginx`), curl and hurl (`cargo install hurl@8.0.1 --locked`
after `apt-get install -y libcurl4-openssl-dev libxml2-dev libclang-dev pkg-config`). A tool
that is missing is reported and skipped.
"""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

N = 1000
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find(tool):
    path = shutil.which(tool) or shutil.which(os.path.expanduser(f"~/.cargo/bin/{tool}"))
    if path is None and os.path.exists(f"/usr/sbin/{tool}"):
        path = f"/usr/sbin/{tool}"
    return path


def start_nginx(work, port):
    docs = os.path.join(work, "www", "api", "items")
    os.makedirs(docs)
    for i in range(N):
        with open(os.path.join(docs, f"{i}.json"), "w") as f:
            json.dump({"id": i, "name": f"item {i}", "price": 10 + i / 100, "tags": ["a", "b"]}, f)
    os.makedirs(os.path.join(work, "logs"))
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    keepalive_requests 100000;
    types {{ application/json json; }}
    server {{
        listen 127.0.0.1:{port};
        root {work}/www;
    }}
}}
""")
    nginx = find("nginx")
    if nginx is None:
        sys.exit("nginx is needed: apt-get install -y nginx")
    proc = subprocess.Popen([nginx, "-c", conf, "-p", work], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("nginx did not start")


def main():
    if find("nginx") is None:
        print("nginx not found: apt-get install -y nginx (the HTTP benchmark is skipped)")
        return
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
    exe = os.path.join(root, "target", "release", "scenarist")
    work = tempfile.mkdtemp(prefix="scenarist-bench-http-")
    os.chmod(work, 0o755)  # nginx workers run as an unprivileged user
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    nginx = start_nginx(work, port)
    try:
        hurl_file = os.path.join(work, "items.hurl")
        with open(hurl_file, "w") as f:
            for i in range(N):
                f.write(f"GET {base}/api/items/{i}.json\nHTTP 200\n[Asserts]\njsonpath \"$.id\" == {i}\n\n")
        curl_file = os.path.join(work, "items.curl")
        with open(curl_file, "w") as f:
            for i in range(N):
                f.write(f'url = "{base}/api/items/{i}.json"\noutput = "/dev/null"\n')

        tools = {
            "scenarist": ([exe, "run", os.path.join(root, "bench", "http.scn"), "--var", f"base={base}",
                           "--allow-host", f"127.0.0.1:{port}", "--max-steps", "100000"],
                          "go\n", lambda out: f"{N} of {N} answers checked" in out),
        }
        hurl = find("hurl")
        if hurl:
            tools["hurl"] = ([hurl, "--test", "--jobs", "1", "--no-color", hurl_file], "",
                             lambda out: True)
        else:
            print("hurl not found: cargo install hurl@8.0.1 --locked (skipped)")
        curl = find("curl")
        if curl:
            tools["curl"] = ([curl, "-s", "-K", curl_file], "", lambda out: True)
        times = {name: [] for name in tools}
        for _ in range(runs):
            for name, (cmd, stdin, ok) in tools.items():
                start = time.perf_counter()
                p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
                elapsed = time.perf_counter() - start
                if p.returncode != 0 or not ok(p.stdout):
                    sys.exit(f"{name} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
                times[name].append(elapsed)
        med = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{name:9}: median {med[name] * 1000:.0f} ms  ({' '.join(f'{x * 1000:.0f}' for x in t)})")
        for other in ("hurl", "curl"):
            if other in med:
                print(f"ratio scenarist / {other}: {med['scenarist'] / med[other]:.2f}")
    finally:
        nginx.terminate()
        nginx.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
