# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpora of the fuzz targets of snpd's own inputs.

Usage: make-seeds-daemon.py SRCDIR EVENTLOG_DIR CONFIG_DIR NAMES_DIR

Nothing here needs test data: the seeds are made from the formats of
docs/evidence.md (event records, the stored log's frames, the body of
POST /v1/log/events), the example configuration systemd/snpd.conf of
SRCDIR, and a few names. The directories are temporary ones that
tests/fuzz/fuzz.sh creates.

Event-log seeds (fuzz-eventlog takes them as a POST body and as the
frames after the stored log's header): bodies, a stored log of a few
events with their heads, the same log ending in an interrupted append, and
logs damaged in the ways load() must refuse.
"""

import hashlib
import os
import struct
import sys

ALG = {"sha256": (0x000B, 32), "sha384": (0x000C, 48), "sha512": (0x000D, 64)}


def write(d, data):
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def record(alg, etype, digest, desc):
    num, size = ALG[alg]
    assert len(digest) == size
    return (struct.pack(">BHIB", 1, num, etype, size) + digest +
            bytes([len(desc)]) + desc.encode())


def frames(records):
    """The frames after the header: u16be length, record, head after it."""
    head = bytes(48)
    out = b""
    for r in records:
        head = hashlib.sha384(b"\x02" + head + r).digest()
        out += struct.pack(">H", len(r)) + r + head
    return out


def eventlog_seeds(d):
    recs = [
        record("sha256", 1, hashlib.sha256(b"a").digest(), "boot"),
        record("sha384", 7, hashlib.sha384(b"b").digest(), "kernel cmdline"),
        record("sha512", 0x7FFFFFFF, hashlib.sha512(b"c").digest(), ""),
        record("sha256", 2, bytes(32), "x" * 64),
    ]
    log = frames(recs)
    write(d, b"")
    write(d, log)
    write(d, frames(recs[:1]))
    # an interrupted append: the start of one more frame, cut at a few places
    more = frames(recs + recs[:1])[len(log):]
    for cut in (1, 2, 9, 2 + len(recs[0]), len(more) - 1):
        write(d, log + more[:cut])
    # damage load() must refuse: a head, a length, a record byte changed
    bad = bytearray(log)
    bad[-1] ^= 1
    write(d, bytes(bad))
    bad = bytearray(log)
    bad[1] = 0x89
    write(d, bytes(bad))
    bad = bytearray(log)
    bad[2 + 8 + 32 + 1] = 0x01
    write(d, bytes(bad))
    # POST /v1/log/events bodies
    write(d, '{"alg":"sha256","digest":"%s","type":1,"description":"boot"}'
          % hashlib.sha256(b"a").hexdigest())
    write(d, '{"alg":"sha384","digest":"%s","type":2147483647}'
          % hashlib.sha384(b"b").hexdigest().upper())
    write(d, '{"alg":"sha512","digest":"%s","type":0,"description":""}'
          % ("00" * 64))
    write(d, '{"alg":"sha256","digest":"00","type":1}')
    write(d, '{"alg":"sha256","digest":"%s","type":2147483648}' % ("00" * 32))


CONFIGS = [
    "[Daemon]\nBackend=auto\nLogLevel=debug\nVmpl=2\nVmplFloor=1\n"
    "LogWriters=0, 1 2\nLogWriterGroups=root\nEventLogMax=65536\n"
    "KdsUrl=https://kds.example:8443/mirror\nCacheDir=\nTrustArk=\n",
    "[Filesystem]\nEnabled=no\nMountpoint=/run/snp\nMode=0440\nUser=0\n"
    "[HTTP]\nSocket=/run/snpd/api.sock\nListen=[::1]:8086\nListen=127.0.0.1:1\n"
    "SocketMode=0660\nMaxConnections=1\n",
    "[Key:sealing]\nRoot=vmrk\nFields=policy,measurement,tcb_version\nSVN=3\n"
    "TCB=0x0123456789abcdef\nVmpl=1\nMode=0400\nApiUsers=0\nApiGroups=0,1\n"
    "[Key:other.key-2_]\nRoot=VCEK\n",
    "# comment\n; comment\n\n  [Daemon]  \n  QueueSize = 4096  \n",
    "[Daemon]\nVmpl=0\nVmplFloor=1\n",
    "[Nope]\nX=1\n",
]


def config_seeds(srcdir, d):
    example = os.path.join(srcdir, "systemd", "snpd.conf")
    if os.path.exists(example):
        with open(example, "rb") as f:
            write(d, f.read())
    for c in CONFIGS:
        write(d, c)


NAMES = [
    "00", "abcd", "ABCDEF0123456789", "ab.json", "AbCd.json", "0" * 128,
    "0" * 128 + ".json", "0" * 130, "abc", ".json", "xyz", "12 34", "0x12",
    "4294967295", "18446744073709551615", "18446744073709551616", "3", "0X1f",
    "00\n11\t22 33\r",
]


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    srcdir, ev_dir, cfg_dir, names_dir = sys.argv[1:]
    eventlog_seeds(ev_dir)
    config_seeds(srcdir, cfg_dir)
    for n in NAMES:
        write(names_dir, n)
    print("seeds: %d event log, %d configuration, %d name" %
          tuple(len(os.listdir(x)) for x in (ev_dir, cfg_dir, names_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
