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

With --logs it measures child output instead (80-byte lines, written as fast
as `cat` can):
  file         one child's lines through the monitor into its --log-dir file
               (stamped), in MB/s of the child's bytes, and the monitor's CPU
               seconds per MB (utime + stime of /proc/PID/stat)
  cat          `cat` of the same data into a file: the ceiling
  stderr       the same child through the monitor's stderr path ([NAME] line),
               the monitor's stderr on /dev/null
  100 files    100 such children at once, each into its own file
  add latency  config file dropped -> its `spawned` event, while 100 children
               flood their log files without pause (`yes` of an 80-byte line)

    python3 bench/bench.py --logs [--log-mib 512] [--samples 30]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

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


def stop(mon, tmp):
    """Stops the monitor (SIGTERM, SIGKILL after 60 s) and removes its colony."""
    mon.send_signal(signal.SIGTERM)
    try:
        mon.wait(60)
    except subprocess.TimeoutExpired:
        mon.kill()
    shutil.rmtree(tmp, ignore_errors=True)


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
        stop(mon, tmp)


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
        stop(mon, tmp)


LINE = b"x" * 79 + b"\n"
STAMP = len("2026-12-01T23:42:00.123456Z ")


def make_data(path, mib):
    block = LINE * (1 << 14)  # 1.25 MiB of whole lines
    lines = 0
    with open(path, "wb") as f:
        while lines * len(LINE) < mib << 20:
            f.write(block)
            lines += 1 << 14
    return lines


def wait_size(paths, sizes, timeout):
    """Waits until each file has reached its size; whether they all did."""
    left = dict(zip(paths, sizes))
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for p in list(left):
            try:
                if os.path.getsize(p) >= left[p]:
                    del left[p]
            except FileNotFoundError:
                pass
        time.sleep(0.0005 if len(left) == 1 else 0.005)
    return not left


class Colony:
    """A monitor on a fresh colony, with `extra` options; stopped on exit."""

    def __init__(self, binary, extra, stderr=None):
        self.tmp = tempfile.mkdtemp(prefix="ncolony-logs-")
        self.config, self.messages, self.pids, self.logs = (
            os.path.join(self.tmp, d) for d in ("config", "messages", "pids", "logs"))
        for d in (self.config, self.messages):
            os.mkdir(d)
        self.mon = subprocess.Popen(
            [binary, "monitor", "--config", self.config, "--messages", self.messages,
             "--pid", self.pids, "--frequency", "10"] + extra,
            stderr=stderr if stderr is not None else open(os.path.join(self.tmp, "monitor.log"), "wb"))
        wait(lambda: os.path.exists(os.path.join(self.messages, ".ncolony", "status.json")), 10)

    def add(self, name, args, **keys):
        path = os.path.join(self.config, name)
        with open(path + ".new", "w") as f:
            f.write(json.dumps(dict(args=args, **keys)))
        os.rename(path + ".new", path)

    def journal(self):
        try:
            with open(os.path.join(self.messages, ".ncolony", "events.jsonl"), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def close(self):
        stop(self.mon, self.tmp)


def spawned_at(colony, name):
    """The wall-clock time of `name`'s last `spawned` event in the journal."""
    at = None
    for line in colony.journal().splitlines():
        event = json.loads(line)
        if event.get("event") == "spawned" and event.get("name") == name:
            at = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()
    return at


def logs(binary, mib, samples):
    work = tempfile.mkdtemp(prefix="ncolony-logdata-")
    try:
        data = os.path.join(work, "data")
        lines = make_data(data, mib)
        size = lines * len(LINE)
        mb = size / 1e6
        stamped = lines * (len(LINE) + STAMP)
        # Never rotated here: the file's size says when every line is in.
        big = ["--log-max-bytes", str(1 << 40)]

        runs = []
        for _ in range(3):
            out = os.path.join(work, "cat.out")
            t = time.monotonic()
            subprocess.run(["cat", data], stdout=open(out, "wb"), check=True)
            runs.append(time.monotonic() - t)
            os.remove(out)
        cat = mb / min(runs)
        print(f"cat into a file: {cat:.0f} MB/s ({mib} MiB of 80-byte lines, best of 3)")

        runs = []
        for _ in range(3):
            c = Colony(binary, ["--log-dir", os.path.join(work, "logs")] + big)
            try:
                c0 = proc_cpu(c.mon.pid)
                t = time.monotonic()
                c.add("w", ["/bin/cat", data], restart="never")
                ok = wait_size([os.path.join(work, "logs", "w.log")], [stamped], 300)
                took = time.monotonic() - t
                runs.append((took, proc_cpu(c.mon.pid) - c0, ok))
            finally:
                c.close()
                shutil.rmtree(os.path.join(work, "logs"), ignore_errors=True)
        took, cpu, ok = min(runs)
        print(f"one child into its log file: {mb / took:.0f} MB/s ({mb / took / cat * 100:.0f}% of cat), "
              f"monitor CPU {cpu / mb * 1e3:.2f} ms per MB" + ("" if ok else " (TIMED OUT)"))

        runs = []
        for _ in range(3):
            c = Colony(binary, [], stderr=subprocess.DEVNULL)
            try:
                c0 = proc_cpu(c.mon.pid)
                t = time.monotonic()
                c.add("w", ["/bin/cat", data], restart="never")
                ok = wait(lambda: b'"event":"exited"' in c.journal(), 300)
                took = time.monotonic() - t
                runs.append((took, proc_cpu(c.mon.pid) - c0, ok))
            finally:
                c.close()
        took, cpu, ok = min(runs)
        print(f"one child through the monitor's stderr (to /dev/null): {mb / took:.0f} MB/s "
              f"({mb / took / cat * 100:.0f}% of cat), monitor CPU {cpu / mb * 1e3:.2f} ms per MB"
              + ("" if ok else " (TIMED OUT)"))

        n = 100
        small = os.path.join(work, "small")
        each = make_data(small, max(1, mib // n))
        c = Colony(binary, ["--log-dir", os.path.join(work, "logs")] + big)
        try:
            c0 = proc_cpu(c.mon.pid)
            t = time.monotonic()
            for i in range(n):
                c.add(f"w{i:03}", ["/bin/cat", small], restart="never")
            ok = wait_size([os.path.join(work, "logs", f"w{i:03}.log") for i in range(n)],
                           [each * (len(LINE) + STAMP)] * n, 600)
            took = time.monotonic() - t
            cpu = proc_cpu(c.mon.pid) - c0
            total = n * each * len(LINE) / 1e6
            print(f"{n} children at once into their log files: {total / took:.0f} MB/s in all, "
                  f"monitor CPU {cpu / total * 1e3:.2f} ms per MB" + ("" if ok else " (TIMED OUT)"))
        finally:
            c.close()
            shutil.rmtree(os.path.join(work, "logs"), ignore_errors=True)

        # Bounded: each flooding child keeps 2 x 4 MiB.
        c = Colony(binary, ["--log-dir", os.path.join(work, "logs"),
                            "--log-max-bytes", str(4 << 20), "--log-backups", "1"])
        try:
            for i in range(n):
                c.add(f"flood{i:03}", ["/usr/bin/yes", LINE[:-1].decode()])
            wait(lambda: os.path.isdir(c.pids) and len(os.listdir(c.pids)) >= n, 60)
            time.sleep(2)
            c0, t0 = proc_cpu(c.mon.pid), time.monotonic()
            adds = []
            for i in range(samples):
                name = f"added{i:03}"
                path = os.path.join(c.pids, name)
                # From the rename to the monitor's own `spawned` event (its
                # wall clock, to the millisecond): this poller, as starved
                # of CPU as the rest, does not add its own wake-up delay.
                t = time.time()
                c.add(name, ["/bin/sleep", "100000"])
                if not (wait(lambda: os.path.exists(path), 10)
                        and wait(lambda: spawned_at(c, name) is not None, 10)):
                    print("  add timed out")
                    break
                adds.append(spawned_at(c, name) - t)
                time.sleep(0.05)
            busy = (proc_cpu(c.mon.pid) - c0) / (time.monotonic() - t0)
            print(f"add latency while {n} children flood their log files: {ms(adds)}; "
                  f"monitor busy {busy * 100:.0f}% of a core")
        finally:
            c.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", default="100,1000")
    p.add_argument("--idle", type=float, default=60)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--storm", type=int, help="measure a restart storm of this many children instead")
    p.add_argument("--storm-seconds", type=float, default=60)
    p.add_argument("--logs", action="store_true", help="measure child output to log files instead")
    p.add_argument("--log-mib", type=int, default=512, help="MiB of lines one child writes (--logs)")
    p.add_argument("--bin", default=BIN, help="the ncolony binary to measure")
    a = p.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"bench: {a.bin} missing: run `cargo build --release` first")
    if a.storm:
        storm(a.bin, a.storm, a.storm_seconds)
        return
    if a.logs:
        logs(a.bin, a.log_mib, a.samples)
        return
    for n in (int(x) for x in a.counts.split(",")):
        bench(a.bin, n, a.idle, a.samples)


if __name__ == "__main__":
    main()
