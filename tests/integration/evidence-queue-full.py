# SPDX-License-Identifier: Apache-2.0
"""An evidence batch waits for the device queue; it is never failed because
other clients filled it.

The batcher is one client of the broker with a place of its own in the
queue (daemon/broker.h): raw reports that fill QueueSize= delay a batch,
they never fail its members (up to BatchMax= clients) with 503 queue-full
/ EBUSY while the device is fine. The reload's reference report has a
place of its own too, and takes none of QueueSize=. The per-client limits
of raw requests still hold.

1. The review's case, QueueSize=2, the device held: one batch on the
   device, its next batch waiting with an HTTP and a FUSE member, a raw
   report queued, a second raw report of the same uid refused (its share),
   then SIGHUP: the reference report waits in its own place, and a raw
   report of another uid still finds the last place of the queue. Once the
   device is released every member gets evidence that the independent
   verifier and snpctl verify accept, the raw reports are answered and the
   reload succeeds.
2. The device dies while a batch waits in its place: the members are
   answered (device-dead), not left waiting.
3. snpd stops while a batch waits in its place: the members are answered
   (shutting-down; EIO for the open on FUSE), and snpd exits cleanly.

The device is held through the simulator's state lock (never a sleep);
no timing is asserted (a client never answered fails by its own timeout)."""

import base64
import errno
import json
import os
import signal
import subprocess
import sys
import threading

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

res = t.Results()
h.need_fuse()
h.need_setpriv()


def http(d, path, out, key):
    """GET @path; out[key] = (status, body, problem type) or (repr(error), ...)."""
    c = h.UnixHTTPConnection(d.api, timeout=120)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        kind = ""
        if r.status != 200:
            try:
                kind = json.loads(body).get("type", "").rsplit(":", 1)[-1]
            except ValueError:
                kind = "?"
        out[key] = (r.status, body, kind)
    except OSError as e:  # socket.timeout included: never answered
        out[key] = (repr(e), b"", "")
    finally:
        c.close()


# the FUSE member is another client (uid nobody): the batcher's own
# per-client limit is QueueSize= members, and root's are the HTTP ones
NOBODY = 65534
FUSE_CLIENT = r"""
import os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
except OSError as e:
    print(e.errno, "open")
    sys.exit(0)
data = b""
try:
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        data += chunk
except OSError as e:
    print(e.errno, "read")
    sys.exit(0)
sys.stdout.buffer.write(b"0 " + data)
"""


def fuse(d, nonce, out, key):
    """As uid nobody, open(2) and read(2) evidence/HEX: out[key] = (0,
    document) or (errno, the call that failed)."""
    try:
        p = subprocess.run(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY),
                            "--clear-groups", "/usr/bin/python3", "-c", FUSE_CLIENT,
                            d.path("evidence", nonce.hex())], capture_output=True, timeout=120)
        code, _, rest = p.stdout.partition(b" ")
        out[key] = (int(code), rest if code == b"0" else rest.decode().strip())
    except (subprocess.TimeoutExpired, ValueError) as e:
        out[key] = (None, repr(e))


# a client of raw reports besides root's and nobody's
OTHER = 65533


def raw_fuse(d, uid, out, key):
    """As @uid, read the report file (a raw report): out[key] = (rc, stderr)."""
    try:
        p = subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(uid),
                            "--clear-groups", "/usr/bin/python3", "-c",
                            "import sys\nwith open(sys.argv[1], 'rb') as f:\n    f.read()\n",
                            d.path("report")], capture_output=True, text=True, timeout=120)
        out[key] = (p.returncode, p.stderr[-300:])
    except subprocess.TimeoutExpired as e:
        out[key] = (None, repr(e))


def start(target, *args):
    th = threading.Thread(target=target, args=args)
    th.start()
    return th


def verified(d, doc, nonce):
    """None if the independent verifier and snpctl verify accept @doc for @nonce."""
    try:
        doc = json.loads(doc)
        ev.verify(base64.b64decode(doc["report"])[0x50:0x90], nonce, doc["binding"])
    except (ev.Refused, KeyError, TypeError, ValueError) as e:
        return "python verifier: %r" % e
    path = os.path.join(d.tmp, "evidence-%s.json" % nonce.hex())
    with open(path, "w") as f:
        json.dump(doc, f)
    p = subprocess.run([h.SNPCTL, "verify", path, "--trust-ark", os.path.join(d.sim, "ark.pem"),
                        "--offline", "--nonce", nonce.hex()],
                       capture_output=True, text=True, timeout=60)
    return None if p.returncode == 0 else "snpctl verify: rc %d %s" % (
        p.returncode, (p.stdout + p.stderr).strip()[-200:])


def nonce(i):
    return bytes([0x9c, i]) * 16


def batch_in_its_place(d, out, threads, k, what):
    """With QueueSize=1: a raw report on the held device, another in the
    queue, a batch (the HTTP member "e", nonce k) in the batcher's own
    place and the next batch (the FUSE member "f", nonce k + 1) waiting.
    Returns the held device."""
    dev = h.DeviceHeld(d)
    threads.append(start(http, d, "/v1/report?nonce=" + os.urandom(32).hex(), out, "raw"))
    ok = h.wait_until(lambda: h.fuse_status(d, "broker")["device_busy"])
    threads.append(start(http, d, "/v1/report?nonce=" + os.urandom(32).hex(), out, "raw2"))
    ok = ok and h.wait_until(lambda: h.fuse_status(d, "broker")["queue_depth"] == 1)
    threads.append(start(http, d, "/v1/evidence?nonce=" + nonce(k).hex(), out, "e"))
    ok = ok and h.wait_until(lambda: h.fuse_status(d, "broker")["queue_depth"] == 2)
    threads.append(start(fuse, d, nonce(k + 1), out, "f"))
    ok = ok and h.wait_evidence(d, lambda s: s["pending"] == 1)
    res.check(ok, "%s: a raw report on the held device, the queue full, a batch in its own "
              "place, the next batch waiting" % what)
    return dev


CONFIG = "[Daemon]\nQueueSize=%d\nBatchWindowMSec=0\nRateLimit=0\n"

# ---- 1. the queue filled by raw reports and the reload's reference report
with h.Daemon(config=CONFIG % 2) as d:
    d.start()
    out, threads = {}, []
    dev = h.DeviceHeld(d)
    br0 = h.fuse_status(d, "broker")
    threads.append(start(http, d, "/v1/evidence?nonce=" + nonce(1).hex(), out, "e1"))
    ok = h.wait_evidence(d, lambda s: s["in_flight"] == 1)
    threads.append(start(http, d, "/v1/evidence?nonce=" + nonce(2).hex(), out, "e2"))
    ok = ok and h.wait_evidence(d, lambda s: s["pending"] == 1)
    threads.append(start(fuse, d, nonce(3), out, "f"))
    ok = ok and h.wait_evidence(d, lambda s: s["pending"] == 2)
    res.check(ok, "one batch on the held device, its next batch waits with an HTTP and a "
              "FUSE member")
    # the batcher's per-client limit: root has QueueSize=2 members already
    http(d, "/v1/evidence?nonce=" + nonce(9).hex(), out, "e3")
    res.check(out["e3"][0] == 503 and out["e3"][2] == "batch-full",
              "a third member of the same uid is refused (%r %s)" % out["e3"][::2])
    threads.append(start(http, d, "/v1/report?nonce=" + os.urandom(32).hex(), out, "raw"))
    ok = h.wait_until(lambda: h.fuse_status(d, "broker")["queue_depth"] == 1)
    res.check(ok, "a raw report waits behind the batch (queue depth %d)"
              % h.fuse_status(d, "broker")["queue_depth"])

    # per-client limits still hold for raw requests: root's share of
    # QueueSize=2 is one waiting request
    http(d, "/v1/report?nonce=" + os.urandom(32).hex(), out, "raw2")
    br = h.fuse_status(d, "broker")
    res.check(out["raw2"][0] == 503 and out["raw2"][2] == "queue-full" and
              br["share_full"] == br0["share_full"] + 1,
              "a second raw report of the same uid is refused: its share is full (%r, "
              "share_full %d -> %d)" % (out["raw2"][:1] + out["raw2"][2:], br0["share_full"],
                                         br["share_full"]))

    # the reload's reference report takes a place of its own, none of the queue's
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for("RELOADING=1")
    ok = h.wait_until(lambda: h.fuse_status(d, "broker")["queue_depth"] == 2)
    threads.append(start(raw_fuse, d, OTHER, out, "raw3"))
    ok = ok and h.wait_until(lambda: h.fuse_status(d, "broker")["queue_depth"] == 3)
    res.check(ok, "SIGHUP: the reference report waits in its own place, a raw report of "
              "another uid takes the last place of the queue (depth %d)"
              % h.fuse_status(d, "broker")["queue_depth"])
    full = h.fuse_status(d, "broker")["queue_full"]
    res.check("e2" not in out and "f" not in out and "raw" not in out,
              "the waiting members are not answered while the queue is full (%r)"
              % sorted(out))

    dev.release()
    for th in threads:
        th.join()
    msg = d.wait_for("READY=1")
    res.check("reload" not in msg, "the reload succeeded (%r)" % msg)
    for key, n in (("e1", 1), ("e2", 2)):
        code, body, kind = out[key]
        why = verified(d, body, nonce(n)) if code == 200 else "%r %s" % (code, kind)
        res.check(why is None, "HTTP member %s answered with valid evidence (%s)" % (key, why))
    code, what = out["f"]
    why = verified(d, what, nonce(3)) if code == 0 else "%s at %s" % (
        errno.errorcode.get(code, code), what)
    res.check(why is None, "FUSE member answered with valid evidence (%s)" % why)
    res.check(out["raw"][0] == 200 and out["raw3"][0] == 0,
              "the raw reports were answered: %r" % ((out["raw"][0], out["raw3"]),))
    s, br = h.evidence_status(d), h.fuse_status(d, "broker")
    res.check(s["failed"] == 0 and s["answered"] >= 3 and br["queue_full"] == full,
              "no evidence failed, no batch refused by the broker (failed %d, queue_full "
              "%d -> %d)" % (s["failed"], full, br["queue_full"]))
    res.check(d.stop() == 0, "clean exit")

# ---- 2. the device dies while a batch waits in its place
# the reference report passes; a raw report after it is tampered with
with h.Daemon(config=CONFIG % 1, env={"SNP_SIM_FAULTS": "after=2,tamper=1"}) as d:
    d.start()
    out, threads = {}, []
    dev = batch_in_its_place(d, out, threads, 4, "dying device")
    dev.release()
    for th in threads:
        th.join()
    got = {k: v[2] if k != "f" else errno.errorcode.get(v[0], v[0]) for k, v in out.items()}
    res.check(out["e"][0] == 503 and out["e"][2] == "device-dead" and
              out["f"] == (errno.ENODEV, "open"),
              "the members of both batches are answered: device dead, the FUSE member's "
              "open fails (%r)" % got)

# ---- 3. snpd stops while a batch waits in its place
with h.Daemon(config=CONFIG % 1) as d:
    d.start()
    out, threads = {}, []
    dev = batch_in_its_place(d, out, threads, 6, "stopping")
    d.proc.send_signal(signal.SIGTERM)
    # the loop ends and answers the waiting batch; the worker waits for the device
    d.wait_for("STOPPING=1")
    dev.release()
    for th in threads:
        th.join()
    res.check(out["f"] == (errno.EIO, "open"),
              "the FUSE member of the waiting batch: its open fails (%s at %s)"
              % (errno.errorcode.get(out["f"][0], out["f"][0]), out["f"][1]))
    res.check(out["e"][0] == 503 and out["e"][2] == "shutting-down",
              "the HTTP member of the batch in the queue: 503 shutting-down (%r %s)"
              % (out["e"][0], out["e"][2]))
    res.check(d.stop() == 0, "clean exit")

res.done()
