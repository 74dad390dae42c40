# SPDX-License-Identifier: Apache-2.0
"""Every configuration value is checked for its range, at start and on
reload: a bad value is a FILE:LINE error; at start snpd exits 78, on reload
the running configuration is kept and snpd keeps serving."""

import json
import os
import stat
import subprocess

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()

BAD = (
    ("[Daemon]\nCertsDir=/nonexistent\n", "snpd.conf:2: CertsDir=/nonexistent"),
    ("[Daemon]\nCertsDir=relative/dir\n", "snpd.conf:2: CertsDir=relative/dir"),
    ("[Daemon]\nCertsDir=/etc/hostname\n", "snpd.conf:2: CertsDir=/etc/hostname"),
    ("[Daemon]\nBackend=nosuch:x\n", "snpd.conf:2: Backend=nosuch:x"),
    ("[Daemon]\nQueueSize=0\n", "snpd.conf:2: QueueSize=0"),
    ("[Daemon]\nRateBurst=0\n", "snpd.conf:2: RateBurst=0"),
    ("[Daemon]\nVmplFloor=2\nVmpl=1\n", "snpd.conf:3: Vmpl=1 is below VmplFloor=2"),
    ("[Daemon]\nVmplFloor=2\nVmpl=2\n\n[Key:k]\nVmpl=1\n", "snpd.conf:6: [Key:k] Vmpl=1"),
    ("[Filesystem]\nMode=07777\n", "snpd.conf:2: Mode=07777"),
    ("[Filesystem]\nMode=04444\n", "snpd.conf:2: Mode=04444"),
    ("[Filesystem]\nReportMode=1666\n", "snpd.conf:2: ReportMode=1666"),
    ("[Filesystem]\nMode=-1\n", "snpd.conf:2: Mode=-1"),
    ("[Filesystem]\nMode=+444\n", "snpd.conf:2: Mode=+444"),
    ("[Key:k]\nTCB=+1\n", "snpd.conf:2: TCB=+1"),
    ("[Key:k]\nTCB=-1\n", "snpd.conf:2: TCB=-1"),
    ("[Filesystem]\nMountpoint=/\n", "snpd.conf:2: Mountpoint=/"),
    ("[Filesystem]\nMountpoint=/tmp/../etc\n", "snpd.conf:2: Mountpoint=/tmp/../etc"),
    ("[HTTP]\nMaxConnections=0\n", "snpd.conf:2: MaxConnections=0"),
    ("[HTTP]\nRequestTimeoutSec=0\n", "snpd.conf:2: RequestTimeoutSec=0"),
    ("[HTTP]\nIdleTimeoutSec=0\n", "snpd.conf:2: IdleTimeoutSec=0"),
    ("[HTTP]\nSocketMode=02666\n", "snpd.conf:2: SocketMode=02666"),
    ("[HTTP]\nSocket=relative.sock\n", "snpd.conf:2: Socket=relative.sock"),
    ("[HTTP]\nSocket=/" + "x" * 120 + "\n", "snpd.conf:2: Socket=/xxx"),
    ("[HTTP]\nListen=localhost:80\n", "snpd.conf:2: Listen=localhost:80"),
    ("[HTTP]\nListen=127.0.0.1:0\n", "snpd.conf:2: Listen=127.0.0.1:0"),
    ("[HTTP]\nListen=127.0.0.1\n", "snpd.conf:2: Listen=127.0.0.1"),
    ("[Key:k]\nMode=04400\n", "snpd.conf:2: Mode=04400"),
    ("[Daemon]\nKdsUrl=ftp://kds.example\n", "snpd.conf:2: KdsUrl=ftp://kds.example"),
    ("[Daemon]\nKdsUrl=http://\n", "snpd.conf:2: KdsUrl=http://"),
    ("[Daemon]\nKdsUrl=http://127.0.0.1/x?y=1\n", "snpd.conf:2: KdsUrl=http://127.0.0.1/x?y=1"),
    ("[Daemon]\nCacheDir=relative/cache\n", "snpd.conf:2: CacheDir=relative/cache"),
    ("[Daemon]\nCacheDir=/var/../cache\n", "snpd.conf:2: CacheDir=/var/../cache"),
    ("[Daemon]\nKdsOffline=maybe\n", "snpd.conf:2: KdsOffline=maybe"),
    ("[Daemon]\nTrustArk=sim/ark.pem\n", "snpd.conf:2: TrustArk=sim/ark.pem"),
    ("[Daemon]\nTrustArk=/etc\n", "snpd.conf:2: TrustArk=/etc"),
    ("[Daemon]\nKdsCAFile=ca.pem\n", "snpd.conf:2: KdsCAFile=ca.pem"),
    ("[Daemon]\nKdsCAFile=/etc\n", "snpd.conf:2: KdsCAFile=/etc"),
    ("[Daemon]\nCacheMaxSize=4095\n", "snpd.conf:2: CacheMaxSize=4095"),
    ("[Daemon]\nCacheMaxSize=1073741825\n", "snpd.conf:2: CacheMaxSize=1073741825"),
    # (uid_t)-1 and (gid_t)-1 mean "no id" to the kernel: never an id
    ("[Daemon]\nLogWriters=0,4294967295\n", "snpd.conf:2: LogWriters=4294967295"),
    ("[Daemon]\nLogWriterGroups=4294967295\n", "snpd.conf:2: LogWriterGroups=4294967295"),
    ("[Daemon]\nLogWriters=4294967296\n", "snpd.conf:2: LogWriters=4294967296"),
    ("[Daemon]\nLogWriters=nosuchuser-snpd\n", "snpd.conf:2: LogWriters=nosuchuser-snpd"),
)


def start_rc(d):
    """The exit status of a start that must fail; "started" when it did not."""
    try:
        d.start()
    except RuntimeError:
        if d.proc.poll() is not None:
            return d.proc.returncode
        raise
    return "started"


def mode_of(d):
    return stat.S_IMODE(os.stat(d.path("measurement")).st_mode)


with h.Daemon(config="[Filesystem]\nMode=0440\n") as d:
    # at start: exit 78 and FILE:LINE
    for text, msg in BAD:
        d.write_config(text)
        open(d.log, "w").close()
        rc = start_rc(d)
        log = d.read_log()
        d.stop()
        res.check(rc == 78 and msg in log,
                  "start with %r: exit %s, names %r%s" % (text, rc, msg,
                                                          "" if msg in log else ":\n" + log))

    # good values at the edges are accepted
    good = "[Daemon]\nCertsDir=\nQueueSize=1\nRateBurst=1\n[HTTP]\nMaxConnections=1\n" \
           "RequestTimeoutSec=1\nIdleTimeoutSec=1\nSocketMode=0777\n[Filesystem]\nMode=0440\n"
    d.write_config(good)
    d.start()
    res.check(mode_of(d) == 0o440, "edge values accepted at start")

    # any uid or gid but (uid_t)-1 is an id, also above 65534 (LDAP users,
    # the ranges of containers): numbers are not looked up as names
    ids = "LogWriters=0,65535,100000,4294967294\nLogWriterGroups=70000,4294967294\n"
    p = subprocess.run([h.SNPD, "--config", "/dev/stdin", "--dump-config"],
                       input="[Daemon]\n" + ids, capture_output=True, text=True)
    res.check(p.returncode == 0 and all(x in p.stdout for x in ids.splitlines()),
              "uids and gids above 65534 accepted: rc %d %s" % (p.returncode,
                                                              p.stderr.strip()))

    # on reload: refused, the running configuration kept, still serving
    for text, msg in BAD:
        d.write_config(text + "[Filesystem]\nMode=0400\n" if "[Filesystem]" not in text
                       else text)
        open(d.log, "w").close()
        d.reload()
        log = d.read_log()
        res.check(msg in log and "Reload failed" in log and mode_of(d) == 0o440,
                  "reload with %r refused (names %r), Mode=0440 kept" % (text, msg))
    st = json.loads(open(d.path("status"), "rb").read())
    res.check(st["reloads"] == 0, "no bad reload was applied (reloads=%d)" % st["reloads"])
    res.check(len(open(d.path("report"), "rb").read()) == 1184, "still serving")
    conn = h.UnixHTTPConnection(d.api)
    conn.request("GET", "/v1/status")
    r = conn.getresponse()
    body = json.loads(r.read())
    res.check(r.status == 200, "HTTP still serving")

res.done()
