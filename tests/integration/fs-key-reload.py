# SPDX-License-Identifier: Apache-2.0
"""A key handle stays bound to the profile it was opened for (issue 11,
item 1). uid 65534 holds keys/pub (0444) open while root moves the 0400
[Key:secret] ahead of it and reloads: the held fd still gives pub's key,
never the secret; once pub is changed or removed the held fd fails
(ESTALE/ENOENT). By path, keys/pub read in a loop during order-flipping
reloads never returns anything but pub's key."""

import os
import subprocess
import sys

import snpd_harness as h
import snptest as t

h.need_fuse()
h.need_setpriv()
res = t.Results()

PUB = "[Key:pub]\nFields=measurement\nMode=0444\n"
PUB_CHANGED = "[Key:pub]\nFields=measurement\nMode=0440\n"
SECRET = "[Key:secret]\nFields=policy\nMode=0400\n"
PUB_FIRST = PUB + "\n" + SECRET
SECRET_FIRST = SECRET + "\n" + PUB
# every read by path goes to the device: no rate limit in the way
UNLIMITED = "[Daemon]\nRateLimit=0\n\n"
RELOADS = 60

# As uid 65534: open keys/pub, say so, then for every line on stdin read
# the held fd from offset 0 and print the result (hex or the errno name).
HOLDER = r"""
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print("open", flush=True)
for line in sys.stdin:
    try:
        print(os.pread(fd, 64, 0).hex(), flush=True)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
"""

# As uid 65534: read keys/pub by path until stdin closes; print each
# distinct result and how often it was seen.
LOOPER = r"""
import errno, os, select, sys
seen = {}
print("go", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:
    try:
        with open(sys.argv[1], "rb") as f:
            v = f.read().hex()
    except OSError as e:
        v = errno.errorcode.get(e.errno, str(e.errno))
    seen[v] = seen.get(v, 0) + 1
for v, n in seen.items():
    print(v, n)
"""


def as_nobody(script, *args):
    return subprocess.Popen(["setpriv", "--reuid", "65534", "--regid", "65534",
                             "--clear-groups", sys.executable, "-c", script] + list(args),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def held_read(p):
    p.stdin.write("read\n")
    p.stdin.flush()
    return p.stdout.readline().strip()


with h.Daemon(config=UNLIMITED + PUB_FIRST) as d:
    d.start()
    pub_path = d.path("keys", "pub")
    pub = open(pub_path, "rb").read().hex()
    secret = open(d.path("keys", "secret"), "rb").read().hex()
    res.check(len(pub) == 64 and len(secret) == 64 and pub != secret,
              "two different 32-byte keys")

    # a held fd across a reload that only moves the profiles
    p = as_nobody(HOLDER, pub_path)
    try:
        res.check(p.stdout.readline().strip() == "open", "uid 65534 opened keys/pub")
        # first read after the reload: the device is asked only now
        d.write_config(UNLIMITED + SECRET_FIRST)
        d.reload()
        got = held_read(p)
        res.check(got != secret, "after [Key:secret] moved ahead, the fd opened before "
                  "does not give the secret key")
        res.check(got == pub, "... it still gives pub's key (%s)" % got[:16])
        st = os.stat(pub_path)
        res.check(st.st_mode & 0o777 == 0o444, "keys/pub is still 0444")

        # pub changed (its mode): the held fd fails
        d.write_config(UNLIMITED + SECRET + "\n" + PUB_CHANGED)
        d.reload()
        got = held_read(p)
        res.check(got in ("ESTALE", "ENOENT"), "after pub changed, the held fd fails (%s)" %
                  got[:16])

        # and stays failed when pub goes back to its old settings (a new profile)
        d.write_config(UNLIMITED + SECRET_FIRST)
        d.reload()
        got = held_read(p)
        res.check(got in ("ESTALE", "ENOENT"), "... also after pub is restored (%s)" % got[:16])
    finally:
        p.stdin.close()
        p.wait(timeout=30)

    # a held fd whose profile is removed
    p = as_nobody(HOLDER, pub_path)
    try:
        res.check(p.stdout.readline().strip() == "open", "uid 65534 opened keys/pub again")
        res.check(held_read(p) == pub, "the new fd reads pub's key")
        d.write_config(UNLIMITED + SECRET)
        d.reload()
        got = held_read(p)
        res.check(got in ("ESTALE", "ENOENT"), "after pub was removed, the held fd fails (%s)"
                  % got[:16])
    finally:
        p.stdin.close()
        p.wait(timeout=30)

    # by path, during reloads that flip the order
    d.write_config(UNLIMITED + PUB_FIRST)
    d.reload()
    p = as_nobody(LOOPER, pub_path)
    try:
        res.check(p.stdout.readline().strip() == "go", "uid 65534 reads keys/pub in a loop")
        for i in range(RELOADS):
            d.write_config(UNLIMITED + (SECRET_FIRST if i % 2 == 0 else PUB_FIRST))
            d.reload()
    finally:
        p.stdin.close()
        out = p.stdout.read()
        p.wait(timeout=30)
    seen = dict(line.split() for line in out.splitlines() if line.strip())
    total = sum(int(n) for n in seen.values())
    leaked = int(seen.get(secret, 0))
    res.check(leaked == 0, "%d of %d reads of keys/pub during %d reloads gave the secret key" %
              (leaked, total, RELOADS))
    others = {v[:16]: n for v, n in seen.items() if v != pub}
    res.check(not others and total > 0, "all %d reads gave pub's key (others: %r)" %
              (total, others))

res.done()
