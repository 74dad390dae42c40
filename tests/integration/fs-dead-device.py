# SPDX-License-Identifier: Apache-2.0
"""Host faults seen through snpd. A host that answers BUSY a few times is
retried (same message) and the reader just waits. Health tracking: when the simulated hypervisor tampers with a response,
the guest driver disables its VMPCK (as Linux does); snpd then fails every
device request fast with a clear error (ENODEV on FUSE, 503 device-dead on
HTTP), status and /healthz say why, and the static files keep serving.
Evidence whose batch the device fails is a device error (502), not a
broken event log."""

import errno
import json
import os
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()

# the reference report passes; the request after it is tampered with
with h.Daemon(env={"SNP_SIM_FAULTS": "after=2,tamper=1"}) as d:
    d.start()
    got = []
    for i in range(4):
        try:
            with open(d.path("report"), "rb") as f:
                got.append(len(f.read()))
        except OSError as e:
            got.append(errno.errorcode.get(e.errno))
    res.check(got[0] == 1184 and got[1] == "EIO" and got[2:] == ["ENODEV", "ENODEV"],
              "tampered response: EIO, then ENODEV for every request: %r" % got)
    st = json.loads(open(d.path("status"), "rb").read())
    res.check(st["health"] == "dead" and "ENOTTY" in st["reason"], "status: %s" % st["reason"])
    conn = h.UnixHTTPConnection(d.api)
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    body = json.loads(r.read())
    res.check(r.status == 503 and body["type"] == "urn:snpd:problem:device-dead",
              "/healthz: 503 device-dead")
    conn = h.UnixHTTPConnection(d.api)
    conn.request("GET", "/v1/report")
    r = conn.getresponse()
    r.read()
    res.check(r.status == 503, "/v1/report: 503")
    res.check(len(open(d.path("measurement"), "rb").read()) == 97,
              "static files still serve")
    res.check("<3>Device is dead" in d.read_log(), "logged at error priority")
    res.check(d.stop() == 0, "a dead device is no reason to crash")

# evidence whose batch the device fails (a firmware error: the driver's
# EIO, then the key is disabled) is a device error over HTTP, not a broken
# event log
with h.Daemon(env={"SNP_SIM_FAULTS": "after=2,fw_error=1"}, args=["--no-fs"]) as d:
    d.start()
    got = []
    for i in range(4):
        conn = h.UnixHTTPConnection(d.api)
        conn.request("GET", "/v1/evidence?nonce=" + ("%02x" % (0xa0 + i)) * 8)
        r = conn.getresponse()
        body = r.read()
        try:
            kind = json.loads(body).get("type", "").rsplit(":", 1)[-1]
        except ValueError:
            kind = "?"
        got.append((r.status, kind if r.status != 200 else ""))
    bad = [g for g in got if g[0] != 200]
    res.check(got[0][0] == 200 and bad and bad[0] == (502, "device-error") and
              all(g == (503, "device-dead") for g in bad[1:]) and
              not any(k == "event-log-broken" for _, k in got),
              "evidence on a failing device: 502 device-error, then 503 device-dead: %r" % got)

# BUSY twice, then the request goes through: the reader only waits
with h.Daemon(env={"SNP_SIM_FAULTS": "after=1,busy=2", "SNP_SIM_RETRY_MS": "100,5000"}) as d:
    d.start()
    t0 = time.monotonic()
    with open(d.path("nonce", "beef"), "rb") as f:
        data = f.read()
    waited = time.monotonic() - t0
    res.check(len(data) == 1184 and data[0x50:0x52] == b"\xbe\xef",
              "BUSY x2: retried, the report arrives after %.2f s" % waited)
    st = json.loads(open(d.path("status"), "rb").read())
    res.check(st["health"] == "ok" and st["broker"]["failed"] == 0, "and health stays ok")

res.done()
