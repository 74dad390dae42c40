# SPDX-License-Identifier: Apache-2.0
"""nonce/<hex> keeps working for any number of distinct nonces, and one
uid cannot take it from the others: 10,240 distinct names by root, then
5,120 by uid 65534 (stat(), and a sample of real reads checked for their
nonce), each followed by the other uid succeeding; the daemon holds at most
its per-uid share of names whatever the kernel caches; a uid that pins names by
holding open file descriptors hits its own cap (EMFILE) while root and
another uid still succeed, and its open files keep their own nonce."""

import errno
import json
import os
import resource
import subprocess
import sys
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
NAMES = 10240
SAMPLE = 400  # every SAMPLE-th name is read, not only stat()ed
PIN = 1500    # more than a uid may hold
PER_UID = 2048  # fs.c nonce_share(): twice MaxHandlesPerUser= (1024)

# Runs as another uid: argv = mountpoint, mode, count. Prints JSON.
CHILD = r'''
import errno, json, os, sys
mnt, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {"ok": 0, "errors": {}, "read_ok": 0, "read_bad": 0}
def err(e):
    k = errno.errorcode.get(e.errno, str(e.errno))
    out["errors"][k] = out["errors"].get(k, 0) + 1
if mode == "flood":
    for i in range(count):
        n = os.urandom(32).hex()
        p = os.path.join(mnt, "nonce", n)
        try:
            if i % %(sample)d == 0:
                with open(p, "rb") as f:
                    d = f.read()
                if len(d) == 1184 and d[0x50:0x70].hex() == n:
                    out["read_ok"] += 1
                else:
                    out["read_bad"] += 1
            else:
                os.stat(p)
            out["ok"] += 1
        except OSError as e:
            err(e)
    print(json.dumps(out))
elif mode == "pin":
    fds = []
    for i in range(count):
        n = os.urandom(32).hex()
        try:
            fds.append((os.open(os.path.join(mnt, "nonce", n), os.O_RDONLY), n))
            out["ok"] += 1
        except OSError as e:
            err(e)
            if len(out["errors"]) and sum(out["errors"].values()) >= 20:
                break
    print(json.dumps(out), flush=True)
    sys.stdin.readline()  # hold them until told
    for fd, n in fds[::50]:
        d = b""
        while True:
            c = os.read(fd, 65536)
            if not c:
                break
            d += c
        if len(d) == 1184 and d[0x50:0x70].hex() == n:
            out["read_ok"] += 1
        else:
            out["read_bad"] += 1
    for fd, n in fds:
        os.close(fd)
    print(json.dumps(out), flush=True)
'''.replace("%(sample)d", str(SAMPLE))


def as_uid(uid, *args):
    return ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",
            sys.executable, "-c", CHILD] + list(args)


def flood(d, uid, count):
    if uid == 0:
        p = subprocess.run([sys.executable, "-c", CHILD, d.mnt, "flood", str(count)],
                           capture_output=True, text=True)
    else:
        p = subprocess.run(as_uid(uid, d.mnt, "flood", str(count)), capture_output=True,
                           text=True)
    if p.returncode != 0:
        print(p.stderr)
        return None
    return json.loads(p.stdout)


def one_works(d, uid):
    r = flood(d, uid, SAMPLE)  # one real read and SAMPLE - 1 stat()s
    return r is not None and r["ok"] == SAMPLE and r["read_ok"] == 1


def names_known(d):
    """Names the daemon holds now. The kernel keeps the names it looked up
    (reclaimable dentries, never invalidated: see fs-nonce-stall.py) until
    it forgets them; the daemon holds at most PER_UID of them per uid and
    evicts the least recently used (the kernel gets ESTALE and looks the
    name up again)."""
    with open(d.path("status")) as f:
        return json.load(f)["filesystem"]["nonce_inodes"]


# Runs as root: looks up nonce names without pause until unmounted.
FLOODER = r'''
import os, sys
mnt = sys.argv[1]
print("go", flush=True)
while True:
    try:
        os.stat(os.path.join(mnt, "nonce", os.urandom(32).hex()))
    except OSError:
        if not os.path.ismount(mnt):
            break
'''
with h.Daemon(config="[Daemon]\nRateLimit=0\n") as d:
    d.start()
    for uid, other, names in ((0, 65534, NAMES), (65534, 0, NAMES // 2)):
        r = flood(d, uid, names)
        res.check(r is not None and r["ok"] == names and not r["errors"],
                  "uid %d: %d distinct nonce names, errors %r" % (
                      uid, r["ok"] if r else -1, r["errors"] if r else None))
        res.check(r is not None and r["read_ok"] == len(range(0, names, SAMPLE)) and not r["read_bad"],
                  "uid %d: the sample of reads gave reports bound to their nonce (%r of %d)"
                  % (uid, r["read_ok"] if r else None, len(range(0, names, SAMPLE))))
        res.check(one_works(d, other), "then uid %d still succeeds" % other)
    # bounded by the per-uid share, whatever the kernel still caches
    n = names_known(d)
    res.check(n <= 2 * PER_UID, "names the daemon holds after the floods of 2 uids: %d" % n)

    # uid 65534 pins names with open fds until its own cap
    pin = subprocess.Popen(as_uid(65534, d.mnt, "pin", str(PIN)), stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    first = json.loads(pin.stdout.readline())
    errs = first["errors"]
    res.check(1000 <= first["ok"] < PIN and set(errs) == {"EMFILE"},
              "uid 65534 holding open nonce files: %d opened, then %r" % (first["ok"], errs))
    res.check(one_works(d, 0), "root still succeeds meanwhile")
    res.check(one_works(d, 65533), "uid 65533 still succeeds meanwhile")
    pin.stdin.write("\n")
    pin.stdin.flush()
    last = json.loads(pin.stdout.readline())
    pin.wait()
    res.check(last["read_ok"] > 0 and not last["read_bad"],
              "the pinned files still read their own nonce (%d checked)" % last["read_ok"])
    res.check(one_works(d, 65534), "uid 65534 succeeds again once it closed them")

    # one name, two uids: root holds it open while uid 65534 reads it
    name = os.urandom(32).hex()
    fd = os.open(d.path("nonce", name), os.O_RDONLY)
    st1 = os.fstat(fd)
    p = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                        "cat", d.path("nonce", name)], capture_output=True)
    mine = os.read(fd, 4096)
    st2 = os.stat(d.path("nonce", name))
    os.close(fd)
    res.check(p.returncode == 0 and p.stdout[0x50:0x70].hex() == name and
              mine[0x50:0x70].hex() == name and st1.st_ino == st2.st_ino,
              "one name read by two uids at once, each bound to it; st_ino stable")
    res.check(st1.st_ino < 1 << 32, "nonce inode numbers fit 32-bit stat(): %#x" % st1.st_ino)
    n = names_known(d)
    res.check(n <= 3 * PER_UID, "names the daemon holds at the end (3 uids): %d" % n)

    # SIGTERM while lookups (and so the daemon's invalidations) are in
    # flight: the daemon still exits cleanly
    flooders = [subprocess.Popen([sys.executable, "-c", FLOODER, d.mnt], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True) for _ in range(4)]
    for f in flooders:
        f.stdout.readline()
    one_works(d, 0)
    rc = d.stop()
    for f in flooders:
        f.kill()
        f.wait()
    res.check(rc == 0, "SIGTERM during a flood of lookups: exit status %s" % rc)

# A uid's share of names follows MaxHandlesPerUser=: with 1500 open files
# allowed, 1400 nonce files open at once (each name looked up and held) all
# work; the share was a fixed 1024, so the 1025th open failed with EMFILE
# although the handle limit allowed it (1,000 evidence clients of one uid
# then evicted each other's names: ESTALE).
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
with h.Daemon(config="[Daemon]\nRateLimit=0\n[Filesystem]\nMaxHandlesPerUser=1500\n") as d:
    d.start()
    fds, errs = [], set()
    for i in range(1400):
        try:
            fds.append(os.open(d.path("nonce", os.urandom(32).hex()), os.O_RDONLY))
        except OSError as e:
            errs.add(errno.errorcode.get(e.errno, str(e.errno)))
            break
    res.check(len(fds) == 1400 and not errs,
              "MaxHandlesPerUser=1500: 1400 nonce files open at once: %d, errors %r"
              % (len(fds), sorted(errs)))
    for fd in fds:
        os.close(fd)
    res.check(one_works(d, 0), "and the uid still succeeds after closing them")
    res.check(d.stop() == 0, "clean exit")

res.done()
