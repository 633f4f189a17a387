#!/usr/bin/env python3
"""Gateway load bench: nginx in front of an upstream, with and without `portcullis gateway`.

    python3 scripts/gateway_load.py [--alg ES256] [--seconds 5] [--connections 32] [--unique 20000]
                                    [--rounds 3] [--binary PATH]

Installs wrk and nginx from Debian if they are missing (apt-get, as root), builds the CLI in
release mode, starts `portcullis dev-issuer` (the testkit authorization server), mints
`--unique` distinct tokens at its token endpoint, starts two gateways (`portcullis gateway`,
one with the verified-token cache, one with it off) and one nginx that serves:

- an upstream (`return 200`), so that the upstream costs the same in every row;
- a plain reverse proxy to it, without a sub-request (the baseline);
- the tested `auth_request` site of `crates/portcullis-cli/tests/proxies/nginx.conf` in front of
  each gateway, as the docs give it (sub-requests on kept-alive connections to the gateway),
  and the same site without keep-alive (a new connection per sub-request, nginx's default).

Then runs wrk against each for a bounded time, in interleaved rounds, and prints the median
requests per second and p50/p99 latency beside the baseline. wrk, nginx (one worker), the gateway and the issuer share this
machine's cores: compare the ratios of one run, not absolute figures across machines.
"""

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SITE = os.path.join(ROOT, "crates", "portcullis-cli", "tests", "proxies", "nginx.conf")

UNIQUE_LUA = """
local tokens = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end
request = function()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format("GET", "/read", {["Authorization"] = "Bearer " .. tokens[i]})
end
"""


def ensure(tool, package):
    if shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}"):
        return
    print(f"{tool} not found; installing it from Debian (apt-get install {package})",
          file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True,
                   stdout=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seconds(value):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]


def run_wrk(url, args, header=None, lua=None, lua_args=()):
    cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency"]
    if header:
        cmd += ["-H", header]
    if lua:
        cmd += ["-s", lua]
    cmd.append(url + "/read")
    if lua_args:
        cmd += ["--", *lua_args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = seconds(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = seconds(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "non_2xx": int(bad.group(1)) if bad else 0}


def median_run(runs):
    """The median of each figure over rounds; non-2xx summed."""
    def median(values):
        values = sorted(values)
        return values[len(values) // 2]
    return {"rps": median([r["rps"] for r in runs]), "p50": median([r["p50"] for r in runs]),
            "p99": median([r["p99"] for r in runs]), "non_2xx": sum(r["non_2xx"] for r in runs)}


def mint(issuer, count):
    """`count` distinct tokens from the dev issuer's token endpoint, on one connection."""
    url = urllib.parse.urlsplit(issuer["token_endpoint"])
    basic = base64.b64encode(
        f"{issuer['client_id']}:{issuer['client_secret']}".encode()).decode()
    conn = http.client.HTTPConnection(url.hostname, url.port)
    tokens = []
    for _ in range(count):
        conn.request("POST", url.path, body="grant_type=client_credentials&scope=read",
                     headers={"Authorization": f"Basic {basic}",
                              "Content-Type": "application/x-www-form-urlencoded"})
        answer = conn.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"token endpoint: {answer.status} {body[:200]!r}")
        tokens.append(json.loads(body)["access_token"])
    conn.close()
    return tokens


def start_gateway(binary, issuer, audience, cache_entries, workdir, name):
    config = os.path.join(workdir, f"{name}.toml")
    with open(config, "w") as f:
        f.write(f'token_cache_entries = {cache_entries}\n\n'
                f'[[issuers]]\nissuer = "{issuer}"\naudiences = ["{audience}"]\n\n'
                '[gateway]\nlisten = "127.0.0.1:0"\n'
                'routes = [{ method = "GET", path = "/read", scopes = ["read"] }]\n'
                'claim_headers = [{ claim = "sub", header = "x-user" }, '
                '{ claim = "scope", header = "x-scope" }]\n')
    proc = subprocess.Popen([binary, "gateway", "--config", config],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.match(r"listening on http://(\S+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"gateway {name} did not start: {line!r}")
    return proc, m.group(1)


def site(template, listen, gateway, upstream, name, keepalive=True):
    """The tested site on `listen`, its sub-requests to `gateway` through the upstream block
    `name` (kept-alive connections, as tested), or (`keepalive=False`) on a new connection
    each, as nginx does without an upstream block."""
    text = (template.replace("{{LISTEN}}", str(listen)).replace("{{UPSTREAM}}", upstream)
            .replace("{{GATEWAY}}", gateway).replace("portcullis_gateway", name))
    if not keepalive:
        text = text.replace("    keepalive 16;\n", "").replace(
            '        proxy_http_version 1.1;\n        proxy_set_header Connection "";\n', "")
    return text


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alg", default="ES256")
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--unique", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--binary", help="a portcullis binary to run instead of building one")
    args = p.parse_args()

    ensure("wrk", "wrk")
    ensure("nginx", "nginx-light")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    binary = args.binary
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "portcullis-cli"],
                       cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "portcullis")
    work = tempfile.mkdtemp(prefix="portcullis-gateway-load-")
    os.chmod(work, 0o755)
    procs = []
    try:
        issuer_proc = subprocess.Popen(
            [binary, "dev-issuer", "--listen", "127.0.0.1:0", "--json", "--alg", args.alg,
             "--scope", "read", "--expires-in", "3600"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(issuer_proc)
        issuer = json.loads(issuer_proc.stdout.readline())
        tokens = mint(issuer, args.unique)
        tokens_file = os.path.join(work, "tokens.txt")
        with open(tokens_file, "w") as f:
            f.write("\n".join(tokens) + "\n")
        lua = os.path.join(work, "unique.lua")
        with open(lua, "w") as f:
            f.write(UNIQUE_LUA)

        cached, cached_addr = start_gateway(binary, issuer["issuer"], issuer["audience"],
                                            2 * args.unique, work, "cached")
        procs.append(cached)
        uncached, uncached_addr = start_gateway(binary, issuer["issuer"],
                                                issuer["audience"], 0, work, "uncached")
        procs.append(uncached)

        with open(SITE) as f:
            template = f.read()
        ports = {name: free_port() for name in
                 ("upstream", "plain", "cached", "uncached", "cached_ka", "uncached_ka")}
        upstream = f"127.0.0.1:{ports['upstream']}"
        sites = [
            f"server {{\n    listen {upstream};\n    location / {{ return 200 \"orders\\n\"; }}\n}}",
            f"server {{\n    listen 127.0.0.1:{ports['plain']};\n"
            f"    location / {{ proxy_pass http://{upstream}; }}\n}}",
            site(template, ports["cached"], cached_addr, upstream, "gw_cached_new", False),
            site(template, ports["uncached"], uncached_addr, upstream, "gw_uncached_new", False),
            site(template, ports["cached_ka"], cached_addr, upstream, "gw_cached"),
            site(template, ports["uncached_ka"], uncached_addr, upstream, "gw_uncached"),
        ]
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(work, d), mode=0o777, exist_ok=True)
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"daemon off;\nmaster_process off;\nworker_processes 1;\n"
                    f"pid {work}/nginx.pid;\nerror_log {work}/error.log warn;\n"
                    "events { worker_connections 1024; }\n"
                    f"http {{\n    access_log off;\n    client_body_temp_path {work}/body;\n"
                    f"    proxy_temp_path {work}/proxy;\n    fastcgi_temp_path {work}/fastcgi;\n"
                    f"    uwsgi_temp_path {work}/uwsgi;\n    scgi_temp_path {work}/scgi;\n"
                    + "\n".join(sites) + "\n}\n")
        nginx_proc = subprocess.Popen([nginx, "-p", work, "-c", conf],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(nginx_proc)
        url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", ports["plain"], timeout=1)
                c.request("GET", "/read")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            subprocess.run(["sleep", "0.05"], check=True)

        bearer = "Authorization: Bearer " + tokens[0]
        unique = {"lua": lua, "lua_args": [tokens_file]}
        n = len(tokens)
        scenarios = [
            ("nginx proxy, no sub-request", url["plain"], {"header": bearer}),
            ("auth_request, new connection each, repeated token", url["cached"], {"header": bearer}),
            (f"auth_request, new connection each, {n} distinct tokens in turn", url["cached"], unique),
            ("auth_request, new connection each, cache off (every token verified)", url["uncached"],
             {"header": bearer}),
            ("auth_request (tested config), repeated token", url["cached_ka"], {"header": bearer}),
            (f"auth_request (tested config), {n} distinct tokens in turn", url["cached_ka"], unique),
            ("auth_request (tested config), cache off (every token verified)", url["uncached_ka"],
             {"header": bearer}),
            ("auth_request (tested config), no token (401)", url["cached_ka"], {}),
        ]
        # Rounds interleave the scenarios, so that a slow phase of the machine touches each.
        runs = {name: [] for name, _, _ in scenarios}
        for _ in range(args.rounds):
            for name, target, how in scenarios:
                runs[name].append(run_wrk(target, args, **how))
        rows = [(name, median_run(runs[name])) for name, _, _ in scenarios]
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)

    base = rows[0][1]
    print(f"\n{args.alg}, {args.connections} connections, {args.seconds} s each, medians of "
          f"{args.rounds} interleaved rounds; wrk, nginx "
          f"(one worker), the gateways and the issuer on this machine ({os.cpu_count()} cores)\n")
    print("| scenario | requests/s | vs no sub-request | p50 | p99 | non-2xx |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['rps']:,.0f} | {r['rps'] / base['rps']:.2f} | "
              f"{r['p50'] * 1e3:.2f} ms | {r['p99'] * 1e3:.2f} ms | {r['non_2xx']} |")
    # Every row but the last must have been let through; the last must all be refused.
    failed = sum(r["non_2xx"] for _, r in rows[:-1])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
