# SPDX-License-Identifier: Apache-2.0
"""A batch's evidence shares the log's rendering (docs/evidence.md 6.2).

A log of 3,000 events is written beside a private snpd before it starts;
then 48 clients ask for evidence at once (GET /v1/evidence and, when the
view has it, evidence/<nonce> over FUSE, some read in small chunks that
cross the document's pieces). Each document is verified for its own nonce
by the independent Python verifier and by snpctl verify --nonce, is one
compact JSON serialization (the same bytes on both paths), and its events
equal GET /v1/log's. Status event_log.rendered shows that no event was
rendered again for the batch (each event is rendered once, into the log's
shared rendering, whatever the number of members). snpd's CPU for the
batch is printed (from /proc/PID/stat), never asserted. Without an event
log the documents carry an empty log."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

res = t.Results()
EVENTS = 3000
CLIENTS = 48
CONFIG = ("[Daemon]\nEventLogMax=4096\nBatchWindowMSec=500\nBatchMax=256\nQueueSize=256\n"
          "[HTTP]\nMaxConnectionsPerClient=256\n")
TICK = os.sysconf("SC_CLK_TCK")


def write_log(path, n):
    """The stored format of docs/evidence.md 4.3, for this boot."""
    return h.write_event_log(path, (ev.encode_record(0x000C, hashlib.sha384(b"%d" % i).digest(),
                                                     1 + i % 5, b"shared event %d" % i) for i in range(n)))


def http(d, method, path):
    st, _, data = h.api_request(d, method, path, timeout=300)
    return st, data


def status(d):
    return json.loads(http(d, "GET", "/v1/status")[1])


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def fuse_read(d, nonce, chunk):
    out = []
    with open(d.path("evidence", nonce.hex()), "rb", buffering=0) as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            out.append(b)
    return b"".join(out)


def py_verify(doc, nonce):
    try:
        ev.verify(base64.b64decode(doc["report"])[0x50:0x90], nonce, doc["binding"])
        return None
    except ev.Refused as e:
        return str(e)
    except (KeyError, TypeError, ValueError) as e:
        return "malformed: %r" % e


def snpctl_verify(d, data, nonce):
    path = os.path.join(d.tmp, "evidence-%s.json" % nonce.hex())
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run([h.SNPCTL, "verify", path, "--trust-ark", os.path.join(d.sim, "ark.pem"),
                        "--offline", "--nonce", nonce.hex()],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, (p.stdout + p.stderr)[-300:]


def ask_all(d, nonces, have_fuse):
    out = [None] * len(nonces)
    go = threading.Barrier(len(nonces))

    def client(i):
        go.wait()
        try:
            if have_fuse and i % 2:
                # odd chunk sizes: reads that start and end inside pieces
                chunk = (1 << 20) if i % 4 == 1 else 997
                out[i] = ("fuse", 200, fuse_read(d, nonces[i], chunk))
            else:
                st, data = http(d, "GET", "/v1/evidence?nonce=" + nonces[i].hex())
                out[i] = ("http", st, data)
        except Exception as e:  # reported by the caller
            out[i] = ("error", 0, repr(e).encode())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(nonces))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


tmp = tempfile.mkdtemp(prefix="snpd-test-")
head = write_log(os.path.join(tmp, "eventlog"), EVENTS)
with h.Daemon(tmp=tmp, config=CONFIG) as d:
    d.start(timeout=120)
    have_fuse = os.path.isdir(d.path("evidence"))
    st, body = http(d, "GET", "/v1/log")
    log = json.loads(body) if st == 200 else {}
    res.check(st == 200 and log.get("count") == EVENTS and log.get("head") == head.hex(),
              "GET /v1/log: %d, %s events" % (st, log.get("count")))
    before = status(d)
    r0 = before["event_log"].get("rendered")
    res.check(r0 == EVENTS, "status event_log.rendered: %s (each of %d events once)" %
              (r0, EVENTS))
    nonces = [os.urandom(16 + i % 49) for i in range(CLIENTS)]
    c0 = cpu(d.proc.pid)
    out = ask_all(d, nonces, have_fuse)
    c1 = cpu(d.proc.pid)
    after = status(d)
    batches = after["evidence"]["batches"] - before["evidence"]["batches"]
    print("snpd CPU for %d members over %d events in %d batch(es): %.0f ms (%s)" %
          (CLIENTS, EVENTS, batches, (c1 - c0) * 1e3,
           "FUSE and HTTP" if have_fuse else "HTTP"))
    res.check(isinstance(r0, int) and after["event_log"].get("rendered") == r0,
              "no event rendered again for the batch: rendered %s -> %s" %
              (r0, after["event_log"].get("rendered")))
    good = exact = same_events = py_ok = ctl_ok = 0
    for i, (via, st, data) in enumerate(out):
        if st != 200:
            res.check(False, "client %d (%s): %d %s" % (i, via, st, data[:300]))
            continue
        try:
            doc = json.loads(data)
        except ValueError as e:
            res.check(False, "client %d (%s): not JSON: %s" % (i, via, e))
            continue
        good += 1
        b = doc.get("binding", {})
        exact += (data == json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() and
                  list(doc)[-1] == "binding" and
                  list(b) == ["scheme", "nonce", "leaf_index", "tree_size", "proof", "log"] and
                  list(b["log"]) == ["count", "head", "events"])
        same_events += (b.get("log", {}).get("events") == log.get("events") and
                        b["log"]["count"] == EVENTS and b["log"]["head"] == head.hex())
        why = py_verify(doc, nonces[i])
        if why:
            print("client %d (%s): python verifier refused: %s" % (i, via, why))
        py_ok += why is None
        rc, tail = snpctl_verify(d, data, nonces[i])
        if rc != 0:
            print("client %d (%s): snpctl verify rc %d: %s" % (i, via, rc, tail))
        ctl_ok += rc == 0
    res.check(good == CLIENTS, "%d/%d clients got evidence" % (good, CLIENTS))
    res.check(exact == CLIENTS, "%d/%d documents: one compact serialization, documented "
              "member order" % (exact, CLIENTS))
    res.check(same_events == CLIENTS, "%d/%d documents carry GET /v1/log's %d events" %
              (same_events, CLIENTS, EVENTS))
    res.check(py_ok == CLIENTS, "%d/%d accepted by tests/helpers/evidence_verify.py" %
              (py_ok, CLIENTS))
    res.check(ctl_ok == CLIENTS, "%d/%d accepted by snpctl verify --nonce" % (ctl_ok, CLIENTS))
    res.check(d.stop() == 0, "snpd stops cleanly")
shutil.rmtree(tmp, ignore_errors=True)

# without a log: count 0, head_0, no events
with h.Daemon(args=["--event-log="]) as d:
    d.start()
    nonces = [os.urandom(32) for _ in range(3)]
    out = ask_all(d, nonces, os.path.isdir(d.path("evidence")))
    ok = 0
    for i, (via, st, data) in enumerate(out):
        try:
            doc = json.loads(data) if st == 200 else {}
        except ValueError:
            doc = {}
        lg = doc.get("binding", {}).get("log", {})
        why = py_verify(doc, nonces[i]) if doc else "status %d" % st
        ok += (lg == {"count": 0, "head": "00" * 48, "events": []} and why is None)
        if why:
            print("no log, client %d (%s): %s" % (i, via, why))
    res.check(ok == len(nonces), "no event log: %d/%d documents with an empty log, verified" %
              (ok, len(nonces)))
    res.check(d.stop() == 0, "snpd without a log stops cleanly")

res.done()
