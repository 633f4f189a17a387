#!/usr/bin/env python3
"""HTTP load bench: the quickstart API with and without portcullis's layer, driven by wrk.

    python3 scripts/http_load.py [--alg RS256] [--seconds 5] [--connections 32] [--unique 20000]

Installs wrk from Debian if it is missing (apt-get, as root), builds and starts
`examples/load_target.rs` (three copies of the API on 127.0.0.1: no layer, layer with the
verified-token cache, layer with the cache off), runs wrk against each for a bounded time, and
prints requests per second and p50/p99 latency side by side with the ratio to no layer.

wrk and the servers share this machine's cores: compare the ratios of one run, not absolute
figures across machines.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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


def ensure_wrk():
    if shutil.which("wrk"):
        return
    print("wrk not found; installing it from Debian (apt-get install wrk)", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True,
                   stdout=subprocess.DEVNULL)


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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alg", default="RS256")
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--unique", type=int, default=20000)
    args = p.parse_args()

    ensure_wrk()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "load_target"],
                   cwd=ROOT, check=True)
    server = subprocess.Popen(
        [os.path.join(ROOT, "target", "release", "examples", "load_target"),
         "--alg", args.alg, "--unique", str(args.unique)],
        stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(server.stdout.readline())
        bearer = "Authorization: Bearer " + info["token"]
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(UNIQUE_LUA)
            lua = f.name
        rows = [
            ("no layer", run_wrk(info["no_layer"], args, header=bearer)),
            ("layer, repeated token (cache hit)", run_wrk(info["layer"], args, header=bearer)),
            (f"layer, {info['unique_tokens']} distinct tokens in turn",
             run_wrk(info["layer"], args, lua=lua, lua_args=[info["unique_tokens_file"]])),
            ("layer, cache off (every token verified)",
             run_wrk(info["layer_no_cache"], args, header=bearer)),
        ]
    finally:
        server.kill()
        server.wait()
    os.unlink(lua)
    os.unlink(info["unique_tokens_file"])

    base = rows[0][1]
    print(f"\n{info['alg']}, {args.connections} connections, {args.seconds} s each, "
          f"wrk and the servers on this machine ({os.cpu_count()} cores)\n")
    print("| scenario | requests/s | vs no layer | p50 | p99 | non-2xx |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['rps']:,.0f} | {r['rps'] / base['rps']:.2f} | "
              f"{r['p50'] * 1e3:.2f} ms | {r['p99'] * 1e3:.2f} ms | {r['non_2xx']} |")
    failed = sum(r["non_2xx"] for _, r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
