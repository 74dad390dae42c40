# SPDX-License-Identifier: Apache-2.0
"""CPU snpd spends per read of its event log (GET /v1/log, a whole read of
/snp/log/events) at a given log size: a log of N events is written beside
a private snpd on the simulator before it starts, then each read path is
timed by snpd's own CPU time (utime + stime from /proc/PID/stat, which
counts only the daemon, not this client) over R reads, and by the client's
wall time. Run by hand:

  SNPD=BUILDDIR/daemon/snpd SNPCTL=BUILDDIR/cli/snpctl \\
      python3 bench/bench-eventlog.py [EVENTS ...] [--reads R] [--evidence]
          [--members M]

Prints one line per size, with the CPU of the first GET after the start
apart; never fails on speed. --evidence adds
snpd's CPU for a batch of 1 and of M (default 8) evidence requests
(each answer embeds the log's events; the batch's common parts are
rendered once, a further member costs its own proof and its HTTP
exchange). An argument --check makes
it exit 1 when the two read paths disagree (used as a smoke test)."""

import hashlib
import json
import os
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import snpd_harness as h  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def record(i):
    desc = b"bench event %d" % i
    digest = hashlib.sha384(b"%d" % i).digest()
    return (bytes([1]) + (0x000C).to_bytes(2, "big") + (1).to_bytes(4, "big") +
            bytes([48]) + digest + bytes([len(desc)]) + desc)


def write_log(path, n):
    """The stored format of docs/evidence.md 4.3, for this boot."""
    return h.write_event_log(path, (record(i) for i in range(n)))


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_split(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def get_log(d):
    c = h.UnixHTTPConnection(d.api, timeout=120)
    c.request("GET", "/v1/log")
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def read_events(d):
    with open(d.path("log", "events"), "rb") as f:
        return f.read()


def status(d):
    c = h.UnixHTTPConnection(d.api, timeout=120)
    c.request("GET", "/v1/status")
    r = c.getresponse()
    data = r.read()
    c.close()
    return json.loads(data)


def evidence_batch(d, members):
    """snpd's CPU for one batch of @members evidence requests over HTTP
    (BatchWindowMSec= gathers them); each answer embeds the whole log."""
    def one(i):
        c = h.UnixHTTPConnection(d.api, timeout=600)
        c.request("GET", "/v1/evidence?nonce=%064x" % i)
        r = c.getresponse()
        r.read()
        c.close()
        ok.append(r.status == 200)

    ok = []
    u0, s0 = cpu_split(d.proc.pid)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(members)]
    for x in ts:
        x.start()
    for x in ts:
        x.join()
    u1, s1 = cpu_split(d.proc.pid)
    evidence_batch.split = ((u1 - u0) * 1e3, (s1 - s0) * 1e3)
    return ((u1 - u0) + (s1 - s0)) * 1e3, all(ok) and len(ok) == members


def measure(d, fn, reads):
    fn()
    c0, w0 = cpu(d.proc.pid), time.monotonic()
    for _ in range(reads):
        fn()
    c1, w1 = cpu(d.proc.pid), time.monotonic()
    return (c1 - c0) / reads * 1e3, (w1 - w0) / reads * 1e3


def main():
    args = sys.argv[1:]
    check = "--check" in args
    evidence = "--evidence" in args
    reads = 20
    members = 8
    if "--members" in args:
        i = args.index("--members")
        members = int(args[i + 1])
        del args[i:i + 2]
    if "--reads" in args:
        i = args.index("--reads")
        reads = int(args[i + 1])
        del args[i:i + 2]
    sizes = [int(a) for a in args if not a.startswith("--")] or [1000, 65536]
    h.need_fuse()
    bad = 0
    for n in sizes:
        tmp = tempfile.mkdtemp(prefix="snpd-bench-log-")
        head = write_log(os.path.join(tmp, "eventlog"), n)
        with h.Daemon(tmp=tmp, config="[Daemon]\nEventLogMax=65536\nBatchWindowMSec=300\nLogLevel=debug\n"
                     "QueueSize=4096\nBatchMax=4096\n[HTTP]\nMaxConnections=1024\nMaxConnectionsPerClient=1024\n") as d:
            d.start(timeout=120)
            c0 = cpu(d.proc.pid)
            st, body = get_log(d)
            first = (cpu(d.proc.pid) - c0) * 1e3
            doc = json.loads(body)
            lines = [json.loads(x) for x in read_events(d).splitlines()]
            same = (st == 200 and doc["count"] == n and doc["head"] == head.hex() and
                    doc["events"] == lines)
            bad += not same
            http_cpu, http_wall = measure(d, lambda: get_log(d), reads)
            fuse_cpu, fuse_wall = measure(d, lambda: read_events(d), reads)
            print("events %6d  body %9d B  GET /v1/log: snpd CPU %8.2f ms, wall %8.2f ms  "
                  "log/events: snpd CPU %8.2f ms, wall %8.2f ms  (%d reads each; the "
                  "first GET: snpd CPU %.0f ms)%s" %
                  (n, len(body), http_cpu, http_wall, fuse_cpu, fuse_wall, reads, first,
                   "" if same else "  THE PATHS DISAGREE"), flush=True)
            if evidence:
                one, ok1 = evidence_batch(d, 1)
                b0 = status(d)["evidence"]["batches"]
                many, okm = evidence_batch(d, members)
                split = evidence_batch.split
                b1 = status(d)["evidence"]["batches"]
                bad += not (ok1 and okm)
                print("events %6d  evidence: snpd CPU %8.0f ms for a batch of 1, %8.0f ms for "
                      "%d members in %d batch(es) (user %.0f, system %.0f; %.3f ms per further "
                      "member)%s" %
                      (n, one, many, members, b1 - b0, split[0], split[1],
                       (many - one) / max(members - 1, 1),
                       "" if ok1 and okm else "  FAILED"), flush=True)
                with open(d.log, errors="replace") as f:
                    took = [x.split("Evidence ", 1)[1].strip() for x in f
                            if "Evidence batch of" in x and "answered in" in x]
                print("events %6d  evidence: on the event loop: %s" % (n, "; ".join(took[-3:])),
                      flush=True)
            d.stop()
    return 1 if check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
