# SPDX-License-Identifier: Apache-2.0
"""The runtime event log (issue 19, docs/evidence.md section 4).

Appends through FUSE (log/extend, one record per write) and HTTP
(POST /v1/log/events) by users in LogWriters=/LogWriterGroups=, refused
for others (setpriv); malformed records and bodies refused; EventLogMax=
reached gives ENOSPC / 507; log/events and GET /v1/log agree with a replay
by the independent verifier (tests/helpers/evidence_verify.py); a restart
(also after SIGKILL) keeps the log; an incomplete last append is cut off;
a log of an earlier boot is reset, one of another boot id written during
this boot is broken; a corrupted stored log leaves snpd
serving reports but refusing log appends with the reason in status."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

h.need_fuse()
h.need_setpriv()
res = t.Results()

WRITER, STRANGER, GROUP_MEMBER, GROUP = 4242, 4343, 4545, 4444
SUPPLEMENTARY, OTHER_GROUP = 4646, 4848  # a member of GROUP by its supplementary groups
HIGH_UID, HIGH_GID = 100000, 4000000000  # ids above 65534 are ids too
FULL = 14  # EventLogMax=: the events appended below fill the log
CONFIG = ("[Daemon]\nLogWriters=0,%d,%d\nLogWriterGroups=%d,%d\nEventLogMax=%d\n" %
          (WRITER, HIGH_UID, GROUP, HIGH_GID, FULL))


def record(n, desc=b"event", etype=1):
    return ev.encode_record(0x000C, bytes([n]) * 48, etype, desc)


# As another uid/gid: write argv[2] (hex) to argv[1] as one write; print
# "ok" or the errno name. Then POST argv[3] (JSON) to the socket argv[4].
AS_USER = r"""
import errno, http.client, os, socket, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY)
    os.write(fd, bytes.fromhex(sys.argv[2]))
    os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[4])
c = C("localhost", timeout=30)
c.request("POST", "/v1/log/events", body=sys.argv[3],
          headers={"Content-Type": "application/json"})
print(c.getresponse().status)
"""


def as_user(uid, gid, d, rec, body, groups=()):
    grp = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    p = subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(gid)] + grp +
                       [sys.executable, "-c", AS_USER, d.path("log", "extend"), rec.hex(),
                       json.dumps(body), d.api], capture_output=True, text=True, timeout=60)
    return p.stdout.split()


def http(d, method, path, body=None):
    st, _, data = h.api_request(d, method, path, body, {"Content-Type": "application/json"})
    try:
        return st, json.loads(data)
    except ValueError:
        return st, data


def events_lines(d):
    with open(d.path("log", "events")) as f:
        return [json.loads(x) for x in f.read().splitlines()]


def check_replay(d, what):
    """log/events, GET /v1/log and status agree with an independent replay."""
    lines = events_lines(d)
    code, doc = http(d, "GET", "/v1/log")
    recs = [bytes.fromhex(x["record"]) for x in lines]
    heads = ev.chain(recs)
    head = heads[-1] if heads else bytes(48)
    ok = (code == 200 and doc["events"] == lines and doc["count"] == len(lines) and
          doc["head"] == head.hex() and h.fuse_status(d, "event_log")["head"] == head.hex() and
          all(x["head"] == hd.hex() and x["seq"] == i and
              {k: x[k] for k in ("alg", "digest", "type", "description")} ==
              ev.decode_record(r)
              for i, (x, r, hd) in enumerate(zip(lines, recs, heads))))
    res.check(ok, "%s: log/events, GET /v1/log and status match a replay (%d events)" %
              (what, len(lines)))
    return recs


def sha(n):
    return {"alg": "sha256", "digest": bytes([n]) * 32, "type": 2, "description": "http %d" % n}


def body(n):
    b = sha(n)
    b["digest"] = b["digest"].hex()
    return b


with h.Daemon(config=CONFIG) as d:
    d.start()
    res.check(sorted(os.listdir(d.path("log"))) == ["events", "extend"], "log/ lists extend, events")
    res.check(h.fuse_status(d, "event_log")["state"] == "ok" and
              h.fuse_status(d, "event_log")["events"] == 0, "an empty log at start")

    # FUSE appends by root (in LogWriters=)
    res.check(h.fuse_append(d, record(1, b"kernel cmdline")) == len(record(1, b"kernel cmdline")),
              "root appends one record through log/extend")
    # the shortest record (docs/evidence.md 4.1): sha256, no description
    shortest = ev.encode_record(0x000B, bytes([0x41]) * 32, 1, b"")
    res.check(len(shortest) == 41 and h.fuse_append(d, shortest) == 41,
              "a 41-byte record (sha256, empty description) is accepted")
    res.expect_errno(lambda: h.fuse_append(d, shortest[:40]), errno.EINVAL,
                     "a 40-byte record")
    res.expect_errno(lambda: h.fuse_append(d, record(2)[:-1]), errno.EINVAL, "a truncated record")
    res.expect_errno(lambda: h.fuse_append(d, record(2) + record(3)), errno.EINVAL,
                     "two records in one write")
    res.expect_errno(lambda: h.fuse_append(d, record(2, etype=0x80000001)), errno.EINVAL,
                     "a type reserved for snpd")
    res.expect_errno(lambda: h.fuse_append(d, record(2, desc=b"tab\there")), errno.EINVAL,
                     "a description that is not printable ASCII")
    res.expect_errno(lambda: os.open(d.path("log", "extend"), os.O_RDWR), errno.EACCES,
                     "log/extend opened for reading")
    res.expect_errno(lambda: os.open(d.path("log", "events"), os.O_WRONLY), errno.EACCES,
                     "log/events opened for writing")

    # an open log/events is a snapshot of the log at open
    held = open(d.path("log", "events"))
    h.fuse_append(d, record(2, b"after the open"))
    fresh = open(d.path("log", "events"))
    a, b = held.read().splitlines(), fresh.read().splitlines()
    held.close()
    fresh.close()
    res.check(len(a) == 2 and len(b) == 3 and b[:2] == a,
              "log/events opened before an append reads the log at its open (%d, %d)" %
              (len(a), len(b)))

    # HTTP appends by root (the unix socket peer)
    code, doc = http(d, "POST", "/v1/log/events", body(3))
    res.check(code == 201 and doc["seq"] == 3 and doc["count"] == 4, "root appends over HTTP: "
              "%s %s" % (code, doc))
    for bad, what in ((b"{", "invalid JSON"), ({**body(4), "extra": 1}, "an unknown member"),
                      ({**body(4), "digest": "ab" * 48}, "a digest of the wrong length"),
                      ({**body(4), "description": "caf\u00e9"}, "a non-ASCII description"),
                      ({**body(4), "type": 2**31}, "a reserved type"),
                      ({"alg": "md5", "digest": "00" * 16, "type": 1}, "an unknown algorithm")):
        code, doc = http(d, "POST", "/v1/log/events", bad)
        res.check(code == 400 and doc.get("type") == "urn:snpd:problem:invalid-event",
                  "HTTP refuses %s: %s %s" % (what, code, doc.get("detail") if
                                              isinstance(doc, dict) else doc))
    code, _ = http(d, "GET", "/v1/log/events")
    res.check(code == 405, "GET /v1/log/events is 405 (POST only)")

    # a raw report never carries the binding mark (docs/evidence.md 5)
    marked = os.urandom(48) + b"snpd-binding-v1\0"

    def raw_marked():
        with open(d.path("report"), "r+b", buffering=0) as f:
            f.write(marked)
            return f.read(1184)

    res.expect_errno(raw_marked, errno.EINVAL, "report with REPORT_DATA ending in the mark")
    res.expect_errno(lambda: open(d.path("nonce", marked.hex()), "rb").read(), errno.EINVAL,
                     "nonce/ with the mark")
    code, doc = http(d, "GET", "/v1/report?nonce=" + marked.hex())
    res.check(code == 400 and doc.get("type") == "urn:snpd:problem:reserved-report-data",
              "GET /v1/report with the mark: %s %s" % (code, doc.get("type")))
    near = marked[:-1] + b"\1"
    rep = open(d.path("nonce", near.hex()), "rb").read()
    res.check(len(rep) == 1184 and rep[0x50:0x90] == near,
              "a 64-byte nonce one bit off the mark is served unchanged")

    # other users
    out = as_user(STRANGER, STRANGER, d, record(5), body(5))
    res.check(out == ["EACCES", "403"], "uid %d (not a writer): FUSE EACCES, HTTP 403: %s" %
              (STRANGER, out))
    out = as_user(WRITER, WRITER, d, record(5, b"by writer"), body(6))
    res.check(out == ["ok", "201"], "uid %d (LogWriters=) appends by FUSE and HTTP: %s" %
              (WRITER, out))
    out = as_user(GROUP_MEMBER, GROUP, d, record(7, b"by group"), body(8))
    res.check(out == ["ok", "201"], "gid %d (LogWriterGroups=) appends by FUSE and HTTP: %s" %
              (GROUP, out))
    out = as_user(SUPPLEMENTARY, SUPPLEMENTARY, d, record(9, b"by supplementary"), body(10),
                  groups=(OTHER_GROUP, GROUP))
    res.check(out == ["ok", "201"], "a supplementary member of gid %d appends by FUSE and "
              "HTTP: %s" % (GROUP, out))
    out = as_user(HIGH_UID, HIGH_UID, d, record(12, b"by uid 100000"), body(12))
    res.check(out == ["ok", "201"], "uid %d (LogWriters=) appends by FUSE and HTTP: %s" %
              (HIGH_UID, out))
    out = as_user(STRANGER, HIGH_GID, d, record(13, b"by gid 4000000000"), body(13))
    res.check(out == ["ok", "201"], "gid %d (LogWriterGroups=) appends by FUSE and HTTP: %s" %
              (HIGH_GID, out))
    out = as_user(SUPPLEMENTARY, SUPPLEMENTARY, d, record(11), body(11), groups=(OTHER_GROUP,))
    res.check(out == ["EACCES", "403"], "supplementary groups not listed: FUSE EACCES, HTTP "
              "403: %s" % out)
    recs = check_replay(d, "after appends")
    res.check(len(recs) == FULL, "%d events stored" % FULL)

    # the log is full (EventLogMax=FULL)
    res.expect_errno(lambda: h.fuse_append(d, record(9)), errno.ENOSPC,
                     "FUSE append to a full log")
    code, doc = http(d, "POST", "/v1/log/events", body(9))
    res.check(code == 507 and "full" in doc.get("detail", ""), "HTTP append to a full log: "
              "%s %s" % (code, doc))
    st = h.fuse_status(d, "event_log")
    res.check(st["state"] == "full" and st["refused"] >= 2, "status says full: %s" % st)
    res.check(open(d.path("report"), "rb").read(1184) and True, "reports still served")
    before = http(d, "GET", "/v1/log")[1]

    # a second snpd on the same file would write over the first one's appends
    with h.Daemon(args=["--event-log", os.path.join(d.tmp, "eventlog")]) as d2:
        d2.start()
        st = h.fuse_status(d2, "event_log")
        res.check(st["state"] == "broken" and "in use" in st.get("reason", ""),
                  "a second snpd on the same log refuses it: %s" % st.get("reason"))
        line = [x for x in d2.read_log().splitlines() if "unusable" in x]
        res.check(len(line) == 1 and "stop the other snpd" in line[0] and
                  "remove" not in line[0],
                  "it says to stop the other snpd, not to remove its live log: %s" % line)
        res.check(d2.stop() == 0, "the second snpd stops cleanly")
    res.check(d.stop() == 0, "snpd stops cleanly after the full log")

    # restart: the log is kept
    d.start()
    after = http(d, "GET", "/v1/log")[1]
    res.check(after == before, "a restart keeps the log (%d events, same head)" % after["count"])

    # SIGKILL after an acknowledged append: still there after the restart
    d.write_config(CONFIG.replace("EventLogMax=%d" % FULL, "EventLogMax=%d" % (FULL + 3)))
    d.reload()
    h.fuse_append(d, record(10, b"before the crash"))
    head = h.fuse_status(d, "event_log")["head"]
    d.stop(signal.SIGKILL)
    subprocess.run(["umount", "-l", d.mnt], capture_output=True)
    d.start()
    st = h.fuse_status(d, "event_log")
    res.check(st["state"] == "ok" and st["events"] == FULL + 1 and st["head"] == head,
              "an acknowledged event survives SIGKILL: %s" % st)
    res.check(d.stop() == 0, "snpd stops cleanly after the SIGKILL restart")

    # an incomplete last append (snpd died while writing, never answered): cut off
    path = os.path.join(d.tmp, "eventlog")
    size = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(len(record(11)).to_bytes(2, "big") + record(11)[:20])
    d.start()
    st = h.fuse_status(d, "event_log")
    res.check(st["state"] == "ok" and st["events"] == FULL + 1 and st["head"] == head and
              os.path.getsize(path) == size and "incomplete append" in d.read_log(),
              "an incomplete last frame is cut off and said so: %s" % st)
    check_replay(d, "after the cut")
    res.check(d.stop() == 0, "snpd stops cleanly after the cut")

    # a damaged length field is damage, not an incomplete append: nothing is cut off
    with open(path, "rb") as f:
        good = f.read()
    with open(path, "r+b") as f:
        f.seek(24)
        f.write((300).to_bytes(2, "big"))
    d.start()
    st = h.fuse_status(d, "event_log")
    res.check(st["state"] == "broken" and "length" in st.get("reason", "") and
              os.path.getsize(path) == len(good),
              "a stored length no record has: broken, file untouched: %s" % st.get("reason"))
    res.check(d.stop() == 0, "snpd stops cleanly with a damaged length")
    with open(path, "wb") as f:
        f.write(good)

    # a corrupted stored log: snpd serves reports, refuses the log, says why
    with open(path, "r+b") as f:
        f.seek(24 + 2 + 9 + 48)  # the first event's description
        c = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([c[0] ^ 0x01]))
    open(d.log, "w").close()
    d.start()
    st = h.fuse_status(d, "event_log")
    res.check(st["state"] == "broken" and "event 0" in st.get("reason", ""),
              "a corrupted log is broken with the reason in status: %s" % st)
    line = [x for x in d.read_log().splitlines() if "unusable" in x]
    res.check(len(line) == 1 and "event 0" in line[0] and "move the file aside" in line[0] and
              "remove" not in line[0],
              "and in snpd's log, with advice that keeps the file: %s" % line)
    res.expect_errno(lambda: h.fuse_append(d, record(12)), errno.EIO,
                     "FUSE append to a broken log")
    code, doc = http(d, "POST", "/v1/log/events", body(12))
    res.check(code == 503 and "event 0" in doc.get("detail", ""),
              "HTTP append to a broken log: %s %s" % (code, doc))
    code, doc = http(d, "GET", "/v1/log")
    res.check(code == 503, "GET /v1/log of a broken log: %s" % code)
    # evidence binds the log: refused, as a broken log (not a device error)
    code, doc = http(d, "GET", "/v1/evidence?nonce=" + "ab" * 16)
    res.check(code == 503 and doc.get("type") == "urn:snpd:problem:event-log-broken",
              "evidence with a broken log: %s %s" % (code, doc.get("type")))
    res.expect_errno(lambda: open(d.path("evidence", "ab" * 16), "rb").read(), errno.EIO,
                     "evidence/<hex> with a broken log")
    res.expect_errno(lambda: open(d.path("log", "events")).read(), errno.EIO,
                     "log/events of a broken log")
    res.check(len(open(d.path("report"), "rb").read()) == 1184, "reports are still served")
    res.check(d.stop() == 0, "snpd stops cleanly with a broken log")

    # another boot id, but written during this boot: damage, not a reset
    with open(path, "wb") as f:
        f.write(good)
    with open(path, "r+b") as f:
        f.seek(8)
        bid = f.read(16)
        f.seek(8)
        f.write(bytes(b ^ 0xFF for b in bid))
    other_boot = open(path, "rb").read()
    d.start()
    st = h.fuse_status(d, "event_log")
    res.check(st["state"] == "broken" and "boot id" in st.get("reason", "") and
              "after this boot" in st.get("reason", "") and
              open(path, "rb").read() == other_boot,
              "another boot id in a file modified during this boot: broken, untouched: %s" %
              st.get("reason"))
    res.check(d.stop() == 0, "snpd stops cleanly with a log of another boot id")

    # a log of an earlier boot of the guest (modified before this boot began): reset
    boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    os.utime(path, (boot - 3600, boot - 3600))
    d.start()
    st = h.fuse_status(d, "event_log")
    res.check(st["state"] == "ok" and st["events"] == 0 and st["head"] == "00" * 48,
              "a log of an earlier boot starts empty: %s" % st)
    res.check(d.stop() == 0, "snpd stops cleanly after the reset")

# the boot id cannot be read (/proc/sys/kernel/random/boot_id empty, no
# $SNPD_BOOT_ID): the advice is about the boot id, not the file
hide = 'mount --bind /dev/null /proc/sys/kernel/random/boot_id && exec "$@"'
with h.Daemon(wrapper=["unshare", "-m", "--propagation", "private", "sh", "-c", hide, "sh"],
              env={"SNPD_BOOT_ID": ""}) as d:
    d.start()
    code, doc = http(d, "GET", "/v1/status")
    st = doc.get("event_log", {}) if isinstance(doc, dict) else {}
    res.check(st.get("state") == "broken" and "boot id" in st.get("reason", ""),
              "no boot id: broken: %s" % st.get("reason"))
    line = [x for x in d.read_log().splitlines() if "unusable" in x]
    res.check(len(line) == 1 and "SNPD_BOOT_ID" in line[0] and "remove" not in line[0],
              "and the advice names $SNPD_BOOT_ID: %s" % line)
    res.check(d.stop() == 0, "snpd without a boot id stops cleanly")

# no log at all
with h.Daemon(args=["--event-log="]) as d:
    d.start()
    res.check(not os.path.exists(d.path("log")), "EventLog= empty: no log/ in the view")
    code, _ = http(d, "GET", "/v1/log")
    res.check(code == 404, "EventLog= empty: GET /v1/log is 404")
    res.check(h.fuse_status(d, "event_log") == {"state": "disabled"}, "status says disabled")
    res.check(d.stop() == 0, "snpd without a log stops cleanly")

res.done()
