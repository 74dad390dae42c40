# SPDX-License-Identifier: Apache-2.0
"""A start whose reference report fails for a reason outside the
configuration does not stop snpd: it becomes READY with STATUS=Degraded
and the reason, serves status and health (503 degraded), the static files
answer EBUSY (503 over HTTP) instead of vanishing, report requests get a
clear error, and the reference report is retried with backoff until it
succeeds; then the view is built and everything serves.

1. The host throttles (BUSY) past the guest driver's retry window at
   start. The driver then disables its VMPCK, as Linux does, so the
   device cannot recover: snpd must still start and say so.
2. The simulator's state directory is read-only at start (the guest
   request cannot reserve its sequence number; the device is untouched),
   then made writable again: the view appears and reports are served."""

import errno
import json
import os
import signal
import subprocess
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()


def get(d, url):
    st, hd, body = h.api_get_full(d, url)
    return st, json.loads(body) if "json" in hd.get("content-type", "") else body


def read_errno(path):
    try:
        with open(path, "rb") as f:
            return len(f.read())
    except OSError as e:
        return errno.errorcode.get(e.errno, e.errno)


def started(d):
    try:
        d.start()
        return True
    except RuntimeError as e:
        print(str(e)[-800:])
        return False


def wait_status(d, prefix, timeout=90):
    """The next STATUS= notification that starts with @prefix."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        msg = d.next_message()
        if msg is not None:
            for line in msg.split("\n"):
                if line.startswith("STATUS=" + prefix):
                    return line
        elif d.proc.poll() is not None:
            return None
    return None


def ready_status(d):
    for m in d.messages:
        if "READY=1" in m.split("\n"):
            return [l for l in m.split("\n") if l.startswith("STATUS=")][0]
    return ""


# 1. BUSY past the driver's retry window: 50 ms of elapsed time from the
# first attempt, 10 ms sleeps between. Five sleeps alone reach 50 ms, so the
# driver gives up at the 6th BUSY at the latest (sooner when exits are slow).
with h.Daemon(env={"SNP_SIM_FAULTS": "busy=6", "SNP_SIM_RETRY_MS": "10,50"}) as d:
    ok = started(d)
    res.check(ok, "a host throttling past the retry window at start: snpd starts anyway")
    if ok:
        st = ready_status(d)
        res.check(st.startswith("STATUS=Degraded:") and "BUSY" in st,
                  "READY=1 with %s" % st)
        code, body = get(d, "/healthz")
        res.check(code == 503 and body["type"] in ("urn:snpd:problem:degraded",
                                                    "urn:snpd:problem:device-dead"),
                  "/healthz 503: %s" % body.get("detail"))
        s = get(d, "/v1/status")[1]
        res.check(s["health"] in ("degraded", "dead") and s["reason"],
                  "status says %s: %s" % (s["health"], s["reason"]))
        got = read_errno(d.path("measurement"))
        res.check(got in ("EBUSY", "ENODEV"), "measurement: %s (not ENOENT)" % got)
        code, body = get(d, "/v1/report")
        res.check(code == 503, "a report request: %d %s" % (code, body.get("detail")))
        code, body = get(d, "/v1/platform")
        res.check(code == 503, "/v1/platform: %d %s" % (code, body.get("detail")))
        d.proc.send_signal(signal.SIGTERM)
        res.check(d.stop() == 0, "and it stops cleanly")

# 2. a read-only state directory at start, then writable again
with h.Daemon() as d:
    lock = os.path.join(d.sim, "lock")
    if not os.path.exists(lock):
        open(lock, "w").close()
    mounts = []
    try:
        # the lock file stays writable (the backend opens it), the rest is read-only
        subprocess.run(["mount", "--bind", lock, lock], check=True)
        mounts.append(lock)
        subprocess.run(["mount", "--rbind", d.sim, d.sim], check=True)
        mounts.append(d.sim)
        subprocess.run(["mount", "-o", "remount,bind,ro", d.sim], check=True)

        ok = started(d)
        res.check(ok, "a read-only state directory at start: snpd starts anyway")
        if ok:
            st = ready_status(d)
            res.check(st.startswith("STATUS=Degraded:") and "Read-only" in st,
                      "READY=1 with %s" % st)
            code, body = get(d, "/healthz")
            res.check(code == 503 and body["type"] == "urn:snpd:problem:degraded",
                      "/healthz 503 degraded: %s" % body.get("detail"))
            s = get(d, "/v1/status")[1]
            res.check(s["health"] == "degraded" and "reference report" in s["reason"],
                      "status: %s" % s["reason"])
            for f in ("measurement", "platform.json", "tcb", os.path.join("certs", "vcek.pem")):
                got = read_errno(d.path(f))
                res.check(got == "EBUSY", "%s: %s" % (f, got))
            code, body = get(d, "/v1/platform")
            res.check(code == 503 and body["type"] == "urn:snpd:problem:no-reference-report",
                      "/v1/platform: 503 %s" % body.get("type"))
            code, body = get(d, "/v1/report")
            res.check(code == 502 and "Read-only" in body.get("detail", ""),
                      "a report request fails with a clear error: %d %s" % (
                          code, body.get("detail")))
            res.check(len(open(d.path("status"), "rb").read()) > 0, "the status file serves")

            # the state directory is writable again: the retry succeeds
            subprocess.run(["mount", "-o", "remount,bind,rw", d.sim], check=True)
            line = wait_status(d, "Serving")
            res.check(line is not None, "the reference report is retried and succeeds: %s" %
                      line)
            res.check(read_errno(d.path("measurement")) == 97, "the view appears")
            res.check(len(open(d.path("report"), "rb").read()) == 1184,
                      "reports are served")
            code, body = get(d, "/healthz")
            res.check(code == 200, "/healthz ok (%d)" % code)
            code, body = get(d, "/v1/platform")
            res.check(code == 200, "/v1/platform (%d)" % code)
            s = get(d, "/v1/status")[1]
            res.check(s["health"] == "ok" and s["view_generation"] == 1 and
                      s["reference_reports"] >= 2, "status ok, view generation 1 after %d "
                      "reference reports" % s["reference_reports"])
    finally:
        d.stop()
        if d.sim in mounts:
            subprocess.run(["umount", "-R", d.sim], capture_output=True)
        if lock in mounts:
            subprocess.run(["umount", lock], capture_output=True)

res.done()
