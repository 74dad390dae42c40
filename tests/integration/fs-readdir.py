# SPDX-License-Identifier: Apache-2.0
"""Reading a directory of the view across a reload that changes it: every
getdents64() succeeds, an entry the reload leaves alone is listed exactly
once, and no name is listed that neither listing had (readdir(3): only
entries added or removed meanwhile may or may not be listed).

getdents64() with a 300-byte buffer, so that keys/ takes several READDIRs;
between the first and the next, a reload replaces the [Key:*] sections:
1. all of them by others of other name lengths (the review's reproducer:
   with byte offsets into the rebuilt listing, EIO or a mix of names);
2. every other one removed, new ones added, the rest left alone: those
   are listed exactly once.
And without a reload, keys/ and the root read in small pieces list the
same names as os.listdir()."""

import ctypes
import os
import struct

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()

libc = ctypes.CDLL(None, use_errno=True)
SYS_getdents64 = 217  # x86_64
BUF = 300


def getdents(fd, n=BUF):
    """One getdents64(): the names it gives, or the errno name on failure."""
    buf = ctypes.create_string_buffer(n)
    r = libc.syscall(SYS_getdents64, fd, buf, n)
    if r < 0:
        return "errno %d" % ctypes.get_errno()
    names, pos = [], 0
    while pos < r:
        reclen = struct.unpack_from("<H", buf.raw, pos + 16)[0]
        name = buf.raw[pos + 19:pos + reclen].split(b"\0", 1)[0].decode()
        names.append(name)
        pos += reclen
    return names


def read_rest(fd):
    """getdents64() until the end: (names, error or None)."""
    out = []
    while True:
        got = getdents(fd)
        if isinstance(got, str):
            return out, got
        if not got:
            return out, None
        out += got


def keys_config(names):
    return "".join("[Key:%s]\nFields=measurement\nMode=0444\n\n" % n for n in names)


if os.uname().machine != "x86_64":
    print("SKIP: the getdents64 syscall number used here is x86_64's")
    raise SystemExit(t.SKIP)

OLD = ["k%02d_%s" % (i, "x" * 50) for i in range(30)]
NEW = ["a%d" % i for i in range(30)]

with h.Daemon(config=keys_config(OLD)) as d:
    d.start()
    keys = d.path("keys")

    # no reload: pieces add up to the listing
    for path in (keys, d.mnt):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        names, err = read_rest(fd)
        os.close(fd)
        want = sorted(os.listdir(path) + [".", ".."])
        res.check(err is None and sorted(names) == want,
                  "%s in 300-byte pieces: the listing once (%r, %d names, %d wanted)" % (
                      os.path.basename(path) or "/", err, len(names), len(want)))

    # 1. every name replaced between two getdents64()
    fd = os.open(keys, os.O_RDONLY | os.O_DIRECTORY)
    first = getdents(fd)
    res.check(isinstance(first, list) and 2 < len(first) < 32,
              "first piece of keys/: some of the old names (%r)" % (first,))
    d.write_config(keys_config(NEW))
    d.reload()
    rest, err = read_rest(fd)
    os.close(fd)
    seen = (first if isinstance(first, list) else []) + rest
    stray = [n for n in seen if n not in OLD + NEW + [".", ".."]]
    res.check(err is None, "getdents64() after the reload succeeds (%r)" % err)
    res.check(not stray and len(seen) == len(set(seen)),
              "only names of the old or the new listing, each once (stray %r)" % stray[:5])

    # 2. half removed, some added, the rest must come exactly once
    d.write_config(keys_config(OLD))
    d.reload()
    fd = os.open(keys, os.O_RDONLY | os.O_DIRECTORY)
    first = getdents(fd)
    kept = OLD[1::2]
    added = ["b%02d" % i for i in range(10)]
    d.write_config(keys_config(kept + added))
    d.reload()
    rest, err = read_rest(fd)
    os.close(fd)
    seen = (first if isinstance(first, list) else []) + rest
    missing = [n for n in kept if seen.count(n) != 1]
    stray = [n for n in seen if n not in OLD + added + [".", ".."]]
    res.check(err is None and not missing and not stray,
              "half removed, ten added: every kept name exactly once (%r, missing or "
              "repeated %r, stray %r)" % (err, missing[:5], stray[:5]))
    res.check(sorted(os.listdir(keys)) == sorted(kept + added),
              "a fresh listing has exactly the new profiles")

res.done()
