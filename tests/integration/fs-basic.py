# SPDX-License-Identifier: Apache-2.0
"""The FUSE view on the simulator: cat report gives 1184 bytes that verify
(snpctl verify and an independent Python check), nonce binding on one fd,
on two fds at once and through nonce/<hex>, the decoded files, and bad
input answered with the right errno while the daemon keeps serving."""

import errno
import json
import os
import subprocess

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def check(label, ok, what):
    return res.check(ok, "[%s] %s" % (label, what))


def scenario(d, label):
    d.start()
    certs = d.path("certs")
    # the host's table (checked against the trusted simulated ARK); no CRL offline
    check(label, sorted(os.listdir(certs)) == ["ark.pem", "ask.pem", "chain.pem", "source",
                                               "vcek.pem"],
          "certs/ lists %s" % sorted(os.listdir(certs)))
    check(label, open(os.path.join(certs, "source")).read() ==
          "ark.pem host\nask.pem host\nvcek.pem host\n", "certs/source says host")
    check(label, sorted(os.listdir(d.mnt)) == sorted([
        "report", "report.json", "nonce", "certs", "platform.json", "measurement", "tcb",
        "chip_id", "policy", "vmpl", "keys", "status", "log", "evidence"]), "root lists every file")
    # the names under nonce/ and evidence/ are made up by the reader: both list empty
    check(label, os.listdir(d.path("nonce")) == [] and os.listdir(d.path("evidence")) == [],
          "nonce/ and evidence/ list (empty)")

    rep = read(d.path("report"))
    check(label, len(rep) == 1184, "cat report gives %d bytes" % len(rep))
    check(label, rep[0x50:0x90] == bytes(64), "REPORT_DATA is zero without a write")
    check(label, t.oracle_verify_dir(rep, certs), "independent oracle verifies report and chain")
    p = os.path.join(d.tmp, "r.bin")
    with open(p, "wb") as f:
        f.write(rep)
    rc, out, err = t.snpctl(["verify", "--certs", certs, "--trust-ark",
                             os.path.join(certs, "ark.pem"), p])
    check(label, rc == 0, "snpctl verify --certs /snp/certs --trust-ark: rc %d" % rc)
    rc, out, err = t.snpctl(["verify", "--certs", certs, p])
    check(label, rc == 1 and "untrusted root" in out, "without --trust-ark: untrusted root")
    check(label, read(d.path("report")) != rep, "every open gives a fresh report")

    # nonce written on the fd binds the report read from it
    fd = os.open(d.path("report"), os.O_RDWR)
    os.write(fd, b"N" * 64)
    rep = h.read_all(fd)
    os.close(fd)
    check(label, len(rep) == 1184 and rep[0x50:0x90] == b"N" * 64, "write 64 bytes then read binds")

    # two fds at once, each with its own nonce
    a = os.open(d.path("report"), os.O_RDWR)
    b = os.open(d.path("report"), os.O_RDWR)
    os.write(a, b"alpha")
    os.write(b, b"beta-beta")
    ra, rb = os.read(a, 4096), os.read(b, 4096)
    os.close(a)
    os.close(b)
    check(label, ra[0x50:0x55] == b"alpha" and ra[0x55:0x90] == bytes(59) and
              rb[0x50:0x59] == b"beta-beta", "two fds with different nonces each get their own")

    nonce = os.urandom(32).hex()
    rep = read(d.path("nonce", nonce))
    check(label, rep[0x50:0x70].hex() == nonce and rep[0x70:0x90] == bytes(32),
              "nonce/<hex> binds the nonce")
    doc = json.loads(read(d.path("nonce", nonce + ".json")))
    check(label, doc["report_data"] == nonce + "00" * 32 and doc["version"] in (2, 3, 5),
              "nonce/<hex>.json decodes a bound report")
    doc = json.loads(read(d.path("report.json")))
    check(label, doc["report_data"] == "00" * 64 and "measurement" in doc, "report.json decodes")

    # decoded facts of the reference report
    plat = json.loads(read(d.path("platform.json")))
    check(label, read(d.path("measurement")).decode() == plat["measurement"] + "\n",
              "measurement matches platform.json")
    check(label, read(d.path("chip_id")).decode() == plat["chip_id"] + "\n", "chip_id")
    check(label, read(d.path("policy")).decode() == plat["policy"]["raw"] + "\n", "policy")
    check(label, read(d.path("vmpl")) == b"0\n", "vmpl")
    check(label, read(d.path("tcb")).decode().startswith(
        "reported %s" % plat["reported_tcb"]["raw"]), "tcb")
    st = json.loads(read(d.path("status")))
    check(label, st["health"] == "ok" and st["broker"]["completed"] >= 5, "status: %s" % st["health"])

    # bad input: the right errno, nothing lost, still serving
    def write65():
        fd = os.open(d.path("report"), os.O_WRONLY)
        try:
            os.write(fd, b"x" * 65)
        finally:
            os.close(fd)
    res.expect_errno(write65, errno.EFBIG, "65-byte write")

    def write_after_read():
        fd = os.open(d.path("report"), os.O_RDWR)
        try:
            os.read(fd, 10)
            os.write(fd, b"late")
        finally:
            os.close(fd)
    res.expect_errno(write_after_read, errno.EBUSY, "write after the report was read")

    def write_in_pieces():
        fd = os.open(d.path("report"), os.O_RDWR)
        os.write(fd, b"x" * 60)
        try:
            os.write(fd, b"y" * 5)
        finally:
            os.close(fd)
    res.expect_errno(write_in_pieces, errno.EFBIG, "60+5 bytes")
    res.expect_errno(lambda: read(d.path("nonce", "abc")), errno.EINVAL, "odd-length nonce")
    res.expect_errno(lambda: read(d.path("nonce", "zz")), errno.EINVAL, "non-hex nonce")
    res.expect_errno(lambda: read(d.path("nonce", "a")), errno.EINVAL, "one hex digit")
    res.expect_errno(lambda: read(d.path("nonce", "ab" * 65)), errno.ENAMETOOLONG,
                 "130-digit nonce")
    res.expect_errno(lambda: read(d.path("nonce", "ab" * 65 + ".json")), errno.ENAMETOOLONG,
                 "130-digit nonce .json")
    res.expect_errno(lambda: read(d.path("nosuchfile")), errno.ENOENT, "unknown file")
    for ro in ("measurement", "report.json", "status", "platform.json", "certs/vcek.pem"):
        res.expect_errno(lambda: open(d.path(ro), "wb").close(), errno.EACCES,
                     "open %s for writing" % ro)
    res.expect_errno(lambda: os.mkdir(d.path("newdir")), errno.EACCES, "mkdir in the view")
    res.expect_errno(lambda: os.unlink(d.path("report")), errno.EACCES, "unlink report")
    rep = read(d.path("nonce", "00ff"))
    check(label, len(rep) == 1184 and rep[0x50:0x52] == b"\x00\xff",
              "still serving after the bad input")

    rc = d.stop()
    check(label, rc == 0, "SIGTERM: exit status %s" % rc)
    check(label, not os.path.ismount(d.mnt), "SIGTERM unmounts the view")
    log = d.read_log()
    check(label, "<5>snpd" in log and "<6>FUSE view" in log, "log lines carry <N> priorities")



preload = os.path.join(h.BUILDDIR, "sim", ".libs", "libsnp-preload.so")
backends = os.environ.get("SNP_FS_BACKENDS", "sim,sev-guest,tsm").split(",")
for name in backends:
    if name == "sim":
        with h.Daemon() as d:
            scenario(d, "sim")
    elif name == "sev-guest":
        if not os.path.exists(preload):
            print("skip sev-guest: %s not built" % preload)
            continue
        # the real ioctl code of the sev-guest backend, on /dev/sev-guest as
        # the simulator's LD_PRELOAD library provides it
        with h.Daemon(backend="sev-guest:/dev/sev-guest") as d:
            d.env = {"LD_PRELOAD": h.preload_env(preload), "SNP_SIM_DIR": d.sim}
            scenario(d, "sev-guest")
    elif name == "tsm":
        tsm = h.TsmTree.available()
        if not tsm:
            print("skip tsm: the configfs-tsm emulator is not built")
            continue
        with h.TsmTree() as tree, h.Daemon(sim_dir=tree.sim,
                                            backend="tsm:" + tree.report_dir) as d:
            scenario(d, "tsm")

res.done()
