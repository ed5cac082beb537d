#!/usr/bin/env python3
"""End-to-end benchmark of `ncolony monitor`, run by hand (never in CI).

    cargo build --release && python3 bench/bench.py [--counts 100,1000] [--idle 60]

For each colony size N (children are /bin/sleep) it measures:
  cold start   monitor launch -> all N children running (pid files written)
  add latency  `ncolony ctl add` returns -> the new child is running
  restart      SIGKILL a child that lived past threshold -> replacement running
  RSS          the monitor's VmRSS with N children
  idle CPU     the monitor's user+sys CPU seconds over --idle seconds of quiet

With --storm N it instead measures a restart storm: N children that each exit
1 s after they start (so each is restarted at once, about once a second), and
reports the monitor's CPU seconds per minute while it publishes STATE/status.json
and STATE/events.jsonl. Give --bin a build from before the state directory's
status and journal existed (e.g. main's) to compare with and without them:

    python3 bench/bench.py --storm 1000 --storm-seconds 60 [--bin OTHER/ncolony]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "ncolony")
TICKS = os.sysconf("SC_CLK_TCK")


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        # Poll every 50 us without hogging a core the monitor needs.
        time.sleep(0.00005)
    return False


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ms(xs):
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1e3:.3f} ms, p90 {xs[int(len(xs) * 0.9)] * 1e3:.3f} ms, "
            f"max {xs[-1] * 1e3:.3f} ms (n={len(xs)})")


def bench(binary, n, idle, samples):
    tmp = tempfile.mkdtemp(prefix="ncolony-bench-")
    config, messages, pids = (os.path.join(tmp, d) for d in ("config", "messages", "pids"))
    for d in (config, messages):
        os.mkdir(d)
    for i in range(n):
        with open(os.path.join(config, f"p{i:05}"), "w") as f:
            f.write('{"args": ["/bin/sleep", "100000"]}')
    log = open(os.path.join(tmp, "monitor.log"), "wb")
    t0 = time.monotonic()
    mon = subprocess.Popen([binary, "monitor", "--config", config, "--messages", messages,
                            "--pid", pids, "--frequency", "10"], stderr=log)
    try:
        ok = wait(lambda: os.path.isdir(pids) and len(os.listdir(pids)) >= n, 120)
        cold = time.monotonic() - t0
        print(f"N={n}: cold start of all {n} children: {cold * 1e3:.1f} ms" + ("" if ok else " (TIMED OUT)"))
        time.sleep(1.5)  # let every child pass the 1 s threshold

        adds = []
        for i in range(samples):
            name = f"added{i:04}"
            subprocess.run([binary, "ctl", "--config", config, "--messages", messages,
                            "add", name, "--cmd", "/bin/sleep", "--arg", "100000"], check=True)
            t = time.monotonic()
            path = os.path.join(pids, name)
            if not wait(lambda: os.path.exists(path), 10):
                print("  add timed out")
                break
            adds.append(time.monotonic() - t)
            time.sleep(0.01)
        print(f"N={n}: add latency: {ms(adds)}")

        time.sleep(1.5)
        restarts = []
        for i in range(samples):
            path = os.path.join(pids, f"p{i % n:05}")
            old = read_pid(path)
            os.kill(old, signal.SIGKILL)
            t = time.monotonic()
            if not wait(lambda: read_pid(path) not in (0, old), 10):
                print("  restart timed out")
                break
            restarts.append(time.monotonic() - t)
            time.sleep(0.01)  # let the monitor settle between samples
        print(f"N={n}: crash-restart latency: {ms(restarts)}")

        time.sleep(2)
        print(f"N={n}: monitor RSS: {proc_rss_kib(mon.pid) / 1024:.2f} MiB")
        c0 = proc_cpu(mon.pid)
        time.sleep(idle)
        print(f"N={n}: idle CPU over {idle} s: {proc_cpu(mon.pid) - c0:.3f} s")
    finally:
        mon.send_signal(signal.SIGTERM)
        try:
            mon.wait(60)
        except subprocess.TimeoutExpired:
            mon.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def storm(binary, n, seconds):
    tmp = tempfile.mkdtemp(prefix="ncolony-storm-")
    config, messages = (os.path.join(tmp, d) for d in ("config", "messages"))
    for d in (config, messages):
        os.mkdir(d)
    for i in range(n):
        with open(os.path.join(config, f"p{i:05}"), "w") as f:
            f.write('{"args": ["/bin/sh", "-c", "sleep 1; exit 1"]}')
    log = open(os.path.join(tmp, "monitor.log"), "wb")
    # Lived past the 0.5 s threshold: restarted at once, every time.
    mon = subprocess.Popen([binary, "monitor", "--config", config, "--messages", messages,
                            "--threshold", "0.5", "--frequency", "10"], stderr=log)
    state = os.path.join(messages, ".ncolony")
    journal = os.path.join(state, "events.jsonl")
    try:
        time.sleep(5)  # every child started and crashing
        size = lambda p: os.path.getsize(p) if os.path.exists(p) else 0
        log_path = os.path.join(tmp, "monitor.log")
        started = lambda: open(log_path, "rb").read().count(b"started name=")
        s0, c0, t0 = started(), proc_cpu(mon.pid), time.monotonic()
        writes, last, grown, prev = 0, None, 0, size(journal)
        end = t0 + seconds
        while time.monotonic() < end:
            # A new snapshot is a new (inode, mtime): inode numbers are reused.
            try:
                st = os.stat(os.path.join(state, "status.json"))
                now = (st.st_ino, st.st_mtime_ns)
            except FileNotFoundError:
                now = None
            if now != last:
                writes, last = writes + (now is not None), now
            # The journal's growth, across its rotations.
            cur = size(journal)
            grown += cur - prev if cur >= prev else cur
            prev = cur
            time.sleep(0.01)
        took = time.monotonic() - t0
        cpu = proc_cpu(mon.pid) - c0
        print(f"storm N={n} ({binary}): {(started() - s0) / took:.0f} restarts/s; "
              f"monitor CPU {cpu * 60 / took:.2f} s per minute; "
              f"status.json rewritten {writes / took:.1f}/s (sampled every 10 ms); "
              f"journal {grown / took / 1024:.1f} KiB/s")
    finally:
        mon.send_signal(signal.SIGTERM)
        try:
            mon.wait(60)
        except subprocess.TimeoutExpired:
            mon.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", default="100,1000")
    p.add_argument("--idle", type=float, default=60)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--storm", type=int, help="measure a restart storm of this many children instead")
    p.add_argument("--storm-seconds", type=float, default=60)
    p.add_argument("--bin", default=BIN, help="the ncolony binary to measure")
    a = p.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"bench: {a.bin} missing: run `cargo build --release` first")
    if a.storm:
        storm(a.bin, a.storm, a.storm_seconds)
        return
    for n in (int(x) for x in a.counts.split(",")):
        bench(a.bin, n, a.idle, a.samples)


if __name__ == "__main__":
    main()
