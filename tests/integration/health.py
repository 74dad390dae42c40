# SPDX-License-Identifier: Apache-2.0
"""Health that tells the truth: when every device request fails (here the
simulator's guest secrets are broken, as a full disk or a read-only state
directory would break them) /healthz turns 503 with a problem+json, status
and /metrics say degraded and why; once requests succeed again it is ok.
A SIGHUP storm does not turn into a storm of reference reports: at most
one in flight and one more after it, and snpd keeps serving."""

import fcntl
import json
import os
import signal

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()


def get(d, url):
    st, hd, body = h.api_get_full(d, url)
    return st, hd.get("content-type"), body


def status(d):
    return json.loads(get(d, "/v1/status")[2])


def sighup_pending(pid):
    """Whether SIGHUP is pending for @pid, for the thread or the process."""
    with open("/proc/%d/status" % pid) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return any(int(fields[k].strip(), 16) & 1 for k in ("SigPnd", "ShdPnd"))


with h.Daemon() as d:
    d.start()
    code, _, body = get(d, "/healthz")
    res.check(code == 200 and body == b"ok\n", "healthy at start (%d)" % code)

    secrets = os.path.join(d.sim, "launch-state")
    saved = open(secrets, "rb").read()
    with open(secrets, "wb") as f:
        f.write(b"broken")
    codes = [get(d, "/v1/report")[0] for _ in range(4)]
    res.check(all(c == 502 for c in codes), "broken secrets: every request fails: %r" % codes)
    code, ctype, body = get(d, "/healthz")
    prob = json.loads(body) if ctype and "json" in ctype else {}
    res.check(code == 503 and ctype == "application/problem+json" and
              prob.get("type") == "urn:snpd:problem:degraded" and
              "failed" in prob.get("detail", ""),
              "/healthz: 503 degraded while requests fail (%d %r)" % (code, prob))
    st = status(d)
    res.check(st["health"] == "degraded" and "device requests failed" in (st["reason"] or "")
              and st["broker"]["consecutive_failures"] >= 4,
              "status: degraded with a reason: %r" % st.get("reason"))
    metrics = get(d, "/metrics")[2].decode()
    res.check('snpd_health{state="degraded"} 1' in metrics and
              'snpd_health{state="ok"} 0' in metrics, "/metrics: degraded")
    fst = json.loads(open(d.path("status"), "rb").read())
    res.check(fst["health"] == "degraded", "the status file says degraded too")

    with open(secrets, "wb") as f:
        f.write(saved)
    code = get(d, "/v1/report")[0]
    res.check(code == 200, "secrets fixed: a request succeeds (%d)" % code)
    code, _, body = get(d, "/healthz")
    res.check(code == 200 and body == b"ok\n", "and /healthz is ok again (%d)" % code)
    res.check(status(d)["health"] == "ok", "status: ok")

    # a SIGHUP storm while a reference report is on the device (the test
    # holds the simulator's lock, so it stays there until released)
    before = status(d)
    lock = open(os.path.join(d.sim, "lock"), "a+")
    fcntl.flock(lock, fcntl.LOCK_EX)
    for _ in range(500):
        d.proc.send_signal(signal.SIGHUP)
    d.wait_for("RELOADING=1")
    # the last of them may still be pending: one read after the device is
    # let go would fold a third reference report into the second. Wait
    # until snpd has taken it (bit 0 of SigPnd/ShdPnd is SIGHUP, signal 1);
    # the status request after it is served after its dispatch (sd-event
    # runs a source pending since an earlier iteration first)
    ok = h.wait_until(lambda: not sighup_pending(d.snpd_pid()))
    res.check(ok, "snpd took every SIGHUP while the device was held")
    during = status(d)  # the event loop serves meanwhile
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    d.wait_for("READY=1")
    after = status(d)
    refs = after.get("reference_reports", 0) - before.get("reference_reports", 0)
    reloads = after["reloads"] - before["reloads"]
    res.check(during["reloading"] and reloads >= 1,
              "storm handled while the device was held (%d reloads applied)" % reloads)
    res.check(after.get("reference_reports") is not None and 1 <= refs <= 2,
              "500 SIGHUPs: %s reference reports (at most 2)" % refs)
    sub = after["broker"]["submitted"] - before["broker"]["submitted"]
    res.check(sub <= 2, "the device saw %d requests for %d applied reloads" % (sub, reloads))
    res.check(not after["reloading"] and not after.get("reload_pending", True),
              "nothing left in flight or pending")
    res.check(len(open(d.path("report"), "rb").read()) == 1184 and
              get(d, "/v1/report")[0] == 200, "still serving after the storm")
    res.check(status(d)["health"] == "ok", "and healthy")

res.done()
