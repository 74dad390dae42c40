# SPDX-License-Identifier: Apache-2.0
"""Derived keys under keys/: readable only as configured (checked as other
users with setpriv), 32 bytes, the same across reads and restarts,
different between profiles."""

import os
import subprocess

import snpd_harness as h
import snptest as t

h.need_fuse()
h.need_setpriv()
res = t.Results()

CONFIG = """[Key:disk]
Root=vcek
Fields=measurement+policy
Mode=0440
Group=65533

[Key:vmrk]
Root=vmrk
Fields=measurement

[Key:open]
Fields=image_id
Mode=0444
User=65534
"""


def read_as(path, uid, gid, groups=()):
    cmd = ["setpriv", "--reuid", str(uid), "--regid", str(gid)]
    cmd += ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    p = subprocess.run(cmd + ["cat", path], capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode()


keys = {}
with h.Daemon(config=CONFIG.replace("Fields=measurement+policy",
                                    "Fields=measurement,policy")) as d:
    d.start()
    res.check(sorted(os.listdir(d.path("keys"))) == ["disk", "open", "vmrk"],
              "keys/ lists the profiles")
    st = os.stat(d.path("keys", "disk"))
    res.check((st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o440, 0, 65533),
              "keys/disk is 0440 root:65533")
    st = os.stat(d.path("keys", "vmrk"))
    res.check((st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o400, 0, 0),
              "default profile mode 0400 root:root")
    for name in ("disk", "vmrk", "open"):
        with open(d.path("keys", name), "rb") as f:
            keys[name] = f.read()
        res.check(len(keys[name]) == 32, "keys/%s has 32 bytes" % name)
        with open(d.path("keys", name), "rb") as f:
            res.check(f.read() == keys[name], "keys/%s is the same on a second read" % name)
    res.check(len(set(keys.values())) == 3, "profiles give different keys")

    rc, out, err = read_as(d.path("keys", "disk"), 65534, 65534)
    res.check(rc != 0 and "Permission denied" in err and not out,
              "uid 65534 outside the group cannot read keys/disk")
    rc, out, err = read_as(d.path("keys", "disk"), 65534, 65534, [65533])
    res.check(rc == 0 and out == keys["disk"], "a member of group 65533 can (rc %d)" % rc)
    rc, out, err = read_as(d.path("keys", "vmrk"), 65534, 65533, [65533])
    res.check(rc != 0 and not out, "nobody but root reads the 0400 keys/vmrk")
    rc, out, err = read_as(d.path("keys", "open"), 12345, 12345)
    res.check(rc == 0 and out == keys["open"], "keys/open (0444) is readable by anyone")
    rc, out, err = read_as(d.path("report"), 65534, 65534)
    res.check(rc == 0 and len(out) == 1184, "reports stay readable by everyone")
    log = d.read_log()
    res.check(keys["disk"].hex() not in log and keys["vmrk"].hex() not in log,
              "keys never appear in the log")

    # the same keys after a restart (the --key command line form this time)
    d.stop()
    d.write_config("")
    d.args = ["--key", "disk:Root=vcek,Fields=measurement+policy,Mode=0440,Group=65533",
              "--key", "vmrk:Root=vmrk,Fields=measurement"]
    d.start()
    for name in ("disk", "vmrk"):
        with open(d.path("keys", name), "rb") as f:
            res.check(f.read() == keys[name], "keys/%s is the same after a restart" % name)
    res.check(not os.path.exists(d.path("keys", "open")), "a dropped profile is gone")

res.done()
