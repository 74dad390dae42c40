# SPDX-License-Identifier: Apache-2.0
"""snpd on configfs-tsm (tests/helpers/tsm-fuse) when another writer changes
its report entry between snpd's writes and its read: the generation shows
it, the report is discarded, and the client is told so (503
report-conflict with Retry-After over HTTP, EIO on FUSE), not that
QueueSize= requests wait for the device; and it is not a failure of the
device: health stays ok, however many there are. The reference report at
start is spared (tsm-fuse --foreign-after 1)."""

import errno
import json
import os

import snpd_harness as h
import snptest as t

h.need_fuse()
if not h.TsmTree.available():
    print("SKIP: the configfs-tsm emulator (tests/helpers/tsm-fuse) is not built")
    raise SystemExit(h.SKIP)
res = t.Results()


def get(d, path):
    """GET @path: (status, the JSON body or {}, Retry-After)."""
    st, hd, body = h.api_get_full(d, path, timeout=60)
    try:
        body = json.loads(body)
    except ValueError:
        body = {}
    return st, body, hd.get("retry-after")


with h.TsmTree(opts=["--foreign-writes", "1", "--foreign-after", "1"]) as tree, \
        h.Daemon(sim_dir=tree.sim, backend="tsm:" + tree.report_dir,
                 config="[Daemon]\nRateLimit=0\n") as d:
    d.start()
    for i in range(4):
        code, body, retry = get(d, "/v1/report?nonce=" + os.urandom(32).hex())
        kind = body.get("type", "").rsplit(":", 1)[-1]
        detail = body.get("detail", "")
        if i == 0:
            res.check(code == 503 and kind == "report-conflict" and retry == "1",
                      "/v1/report: 503 report-conflict, Retry-After 1 (%d %s %r)"
                      % (code, kind, retry))
            res.check("generation" in detail and "QueueSize" not in detail,
                      "the detail names the generation: %s" % detail)
    try:
        with open(d.path("report"), "rb") as f:
            got = "%d bytes" % len(f.read())
    except OSError as e:
        got = errno.errorcode.get(e.errno, e.errno)
    res.check(got == "EIO", "FUSE report: EIO (%s)" % got)
    code, body, _ = get(d, "/v1/evidence?nonce=" + os.urandom(32).hex())
    kind = body.get("type", "").rsplit(":", 1)[-1]
    res.check(code == 503 and kind == "report-conflict",
              "/v1/evidence: the batch's conflict, 503 report-conflict (%d %s)" % (code, kind))
    st = get(d, "/v1/status")[1]
    br = st.get("broker", {})
    res.check(st.get("health") == "ok" and br.get("consecutive_failures") == 0 and
              br.get("last_error") is None,
              "six conflicts are no device failure: health %s, consecutive_failures %s, "
              "last_error %s" % (st.get("health"), br.get("consecutive_failures"),
                                 br.get("last_error")))
    res.check(d.stop() == 0, "clean exit")

res.done()
