# SPDX-License-Identifier: Apache-2.0
"""tsm-fuse and the tsm backend.

The emulated configfs-tsm tree first, with plain file operations: mkdir,
inblob/outblob/auxblob, generation arithmetic, EINVAL/EBUSY/EFBIG/EACCES,
privlevel and privlevel_floor. Then the tsm backend over it: snpctl report
--backend=tsm:DIR followed by snpctl verify, nonce and VMPL binding, the
floor refused, another writer and lost writes detected (EBUSY), firmware
failures passed on, and never an entry left behind."""

import errno
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "integration"))

import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

SKIP = 77
if os.geteuid() != 0:
    print("SKIP: the tsm-fuse tests need root (mount)")
    sys.exit(SKIP)
if not os.path.exists("/dev/fuse"):
    print("SKIP: /dev/fuse does not exist")
    sys.exit(SKIP)
if not t.SNPCTL or not os.access(t.SNPCTL, os.X_OK):
    print("SKIP: snpctl not built (SNPCTL=%r)" % t.SNPCTL)
    sys.exit(SKIP)
if not h.TsmTree.available():
    print("FAIL: %s not built" % h.TsmTree.BIN)
    sys.exit(1)

CLIENT = os.path.join(h.BUILDDIR, "tests", "helpers", "tsm-client")
ATTRS = sorted(["inblob", "outblob", "auxblob", "provider", "generation", "privlevel",
                "privlevel_floor"])
U64 = 1 << 64
VCEK_GUID = bytes.fromhex("63da758de6644564adc5f4b93be8accd")
res = t.Results()


class Tree(h.TsmTree):
    """A TsmTree with extra tsm-fuse options and environment."""

    def __init__(self, opts=(), env=None, sim=None):
        self.tmp = tempfile.mkdtemp(prefix="snpd-tsm-")
        os.chmod(self.tmp, 0o755)
        self.sim = os.path.join(self.tmp, "sim")
        if sim:
            shutil.copytree(sim, self.sim)  # a private copy of a simulated chip
        else:
            h.sim_init(self.sim)
        self.mnt = os.path.join(self.tmp, "tsm")
        os.mkdir(self.mnt)
        self.report_dir = os.path.join(self.mnt, "report")
        self.log = open(os.path.join(self.tmp, "tsm.log"), "wb")
        self.proc = subprocess.Popen([self.BIN, "--sim", self.sim] + list(opts) + [self.mnt],
                                     stdout=self.log, stderr=self.log,
                                     env=dict(os.environ, **(env or {})))
        end = time.monotonic() + 20
        while not os.path.isdir(self.report_dir):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("tsm-fuse did not come up")
            time.sleep(0.05)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    """One write(2), then close(2): configfs stores bin attributes at close."""
    fd = os.open(path, os.O_WRONLY)
    try:
        n = os.write(fd, data)
    finally:
        os.close(fd)
    return n


def gen(entry):
    return int(read(os.path.join(entry, "generation")).decode().strip())


def cert_table(aux):
    """(guid, offset, length) entries of a GHCB certificate table."""
    out = []
    for i in range(0, len(aux), 24):
        guid, off, ln = aux[i:i + 16], *struct.unpack_from("<II", aux, i + 16)
        if guid == bytes(16) and off == 0 and ln == 0:
            return out
        out.append((guid, off, ln))
    raise ValueError("no terminator")


def client(tree, *args):
    p = subprocess.run([CLIENT] + list(args) + [tree.report_dir], capture_output=True)
    out = p.stdout.decode().strip()
    if p.returncode == 0 and out == "ok":
        return 0
    if p.returncode == 1 and out.startswith("error "):
        return int(out.split()[1])
    raise RuntimeError("tsm-client: rc %d, %r %r" % (p.returncode, out, p.stderr))


def no_entries(tree, what):
    left = os.listdir(tree.report_dir)
    return res.check(left == [], "%s: no entries left behind (%s)" % (what, left))


# ---- the emulated tree: kernel semantics with plain file operations ------

def emulator(tree):
    rd = tree.report_dir
    res.check(os.listdir(tree.mnt) == ["report"], "the root holds report/")
    res.check(os.listdir(rd) == [], "report/ starts empty")
    e = os.path.join(rd, "e1")
    os.mkdir(e, 0o700)
    a = lambda name: os.path.join(e, name)  # noqa: E731
    res.check(sorted(os.listdir(e)) == ATTRS, "an entry has %s" % sorted(os.listdir(e)))
    res.check(read(a("provider")) == b"sev_guest\n", "provider is sev_guest")
    res.check(read(a("generation")) == b"0\n", "generation starts at 0")
    res.check(read(a("privlevel_floor")) == b"0\n", "privlevel_floor is 0")

    res.expect_errno(lambda: read(a("outblob")), errno.EINVAL, "outblob before inblob")
    res.expect_errno(lambda: read(a("auxblob")), errno.EINVAL, "auxblob before inblob")
    res.expect_errno(lambda: read(a("inblob")), errno.EACCES, "inblob is write-only")
    res.expect_errno(lambda: read(a("privlevel")), errno.EACCES, "privlevel is write-only")
    res.expect_errno(lambda: write(a("outblob"), b"x"), errno.EACCES, "outblob is read-only")
    res.expect_errno(lambda: write(a("generation"), b"5"), errno.EACCES,
                 "generation is read-only")
    res.expect_errno(lambda: read(a("nosuch")), errno.ENOENT, "unknown attribute")
    res.expect_errno(lambda: os.mkdir(a("sub")), errno.EPERM, "mkdir inside an entry")
    res.expect_errno(lambda: os.mkdir(os.path.join(tree.mnt, "other")), errno.EPERM,
                 "mkdir outside report/")
    res.expect_errno(lambda: os.mkdir(e), errno.EEXIST, "mkdir of an existing entry")
    res.expect_errno(lambda: os.rmdir(rd), errno.EPERM, "rmdir report/")
    res.expect_errno(lambda: os.unlink(a("inblob")), errno.EPERM, "unlink an attribute")
    res.check(gen(e) == 0, "failed operations leave the generation alone")

    res.expect_errno(lambda: write(a("inblob"), bytes(65)), errno.EFBIG, "65-byte inblob")
    fd = os.open(a("inblob"), os.O_WRONLY)
    os.write(fd, bytes(60))
    res.expect_errno(lambda: os.pwrite(fd, bytes(8), 60), errno.EFBIG, "inblob past 64 bytes")
    os.close(fd)
    res.check(gen(e) == 1, "an inblob write counts once, at close (%d)" % gen(e))
    res.expect_errno(lambda: read(a("outblob")), errno.EINVAL,
                 "sev_guest refuses a 60-byte inblob at read time")

    nonce = bytes(range(64))
    res.check(write(a("inblob"), nonce) == 64, "64-byte inblob accepted")
    res.check(gen(e) == 2, "generation 2 after two writes")
    out = read(a("outblob"))
    res.check(len(out) == 1184, "outblob is one report (%d bytes)" % len(out))
    res.check(out[0x50:0x90] == nonce, "outblob REPORT_DATA is the inblob")
    res.check(struct.unpack_from("<I", out, 0x30)[0] == 0, "VMPL 0 by default")
    aux = read(a("auxblob"))
    ents = cert_table(aux)
    res.check(any(g == VCEK_GUID for g, _, _ in ents), "auxblob has a VCEK entry")
    res.check(len(aux) == max(o + n for _, o, n in ents),
              "auxblob is cut to max(offset+length) (%d bytes)" % len(aux))
    res.check(read(a("outblob")) == out and read(a("auxblob")) == aux,
              "without a write the cached blobs come back")
    res.check(gen(e) == 2, "reading does not change the generation")

    res.check(write(a("privlevel"), b"2\n") == 2, "privlevel 2 accepted")
    res.check(gen(e) == 3, "a privlevel write counts")
    out2 = read(a("outblob"))
    res.check(out2 != out and struct.unpack_from("<I", out2, 0x30)[0] == 2,
              "a new report at VMPL 2 after the write")
    # (an empty write never reaches a FUSE file system, so b"" is not tried)
    for bad in (b"4", b"-1", b"abc", b"1 2", b"\n"):
        res.expect_errno(lambda: write(a("privlevel"), bad), errno.EINVAL, "privlevel %r" % bad)
    res.check(gen(e) == 3, "refused privlevel writes do not count")
    res.check(write(a("privlevel"), b"0x1") == 3, "privlevel is kstrtouint (0x1)")

    # an open file of a removed entry
    fd = os.open(a("outblob"), os.O_RDONLY)
    os.rmdir(e)
    res.expect_errno(lambda: os.read(fd, 4096), errno.ENOENT, "read after rmdir")
    os.close(fd)
    res.check(os.listdir(rd) == [], "rmdir removes the entry")
    res.expect_errno(lambda: os.rmdir(e), errno.ENOENT, "rmdir twice")

    # entries are independent
    for n in ("x", "y"):
        os.mkdir(os.path.join(rd, n))
        write(os.path.join(rd, n, "inblob"), n.encode() * 64)
    ox = read(os.path.join(rd, "x", "outblob"))
    oy = read(os.path.join(rd, "y", "outblob"))
    res.check(ox[0x50:0x90] == b"x" * 64 and oy[0x50:0x90] == b"y" * 64,
              "two entries, two reports")
    os.rmdir(os.path.join(rd, "x"))
    os.rmdir(os.path.join(rd, "y"))


def floor_tree(tree):
    rd = tree.report_dir
    e = os.path.join(rd, "f")
    os.mkdir(e)
    res.check(read(os.path.join(e, "privlevel_floor")) == b"2\n", "--floor 2 shows 2")
    res.expect_errno(lambda: write(os.path.join(e, "privlevel"), b"1"), errno.EINVAL,
                 "privlevel below the floor")
    res.check(write(os.path.join(e, "privlevel"), b"3") == 1, "privlevel 3 above the floor")
    os.rmdir(e)

    res.check(client(tree, "--vmpl", "1") == errno.EINVAL,
              "backend refuses VMPL 1 below floor 2 (EINVAL)")
    no_entries(tree, "refused VMPL")
    out = os.path.join(tree.tmp, "f.bin")
    res.check(client(tree, "--vmpl", "2", "-o", out) == 0, "backend VMPL 2 at floor 2")
    res.check(struct.unpack_from("<I", read(out), 0x30)[0] == 2, "report says VMPL 2")
    rc, _, err = t.snpctl(["report", "--backend=tsm:" + rd, "--vmpl", "1", "-o", out])
    res.check(rc != 0 and "privlevel_floor" in err,
              "snpctl report --vmpl 1 fails and names the floor (rc %d)" % rc)
    no_entries(tree, "floor")


def wrap_tree(sim):
    start = U64 - 3
    with Tree(["--initial-generation", str(start)], sim=sim) as tree:
        e = os.path.join(tree.report_dir, "w")
        os.mkdir(e)
        a = lambda name: os.path.join(e, name)  # noqa: E731
        res.check(gen(e) == start, "generation starts at 2^64-3")
        write(a("privlevel"), b"0")
        write(a("inblob"), b"A" * 64)
        res.check(gen(e) == U64 - 1, "two writes: 2^64-1")
        res.expect_errno(lambda: write(a("privlevel"), b"0"), errno.EBUSY,
                     "a write that would wrap onto the read generation")
        write(a("inblob"), b"B" * 64)
        res.check(gen(e) == U64 - 1,
                  "a wrapping inblob store is dropped at close (configfs ignores it)")
        res.check(read(a("outblob"))[0x50:0x90] == b"A" * 64,
                  "the report is of the inblob that was stored")
        res.check(write(a("inblob"), b"C" * 64) == 64 and gen(e) == 0,
                  "after a read, writes go on and the generation wraps to 0")
        res.check(read(a("outblob"))[0x50:0x90] == b"C" * 64, "and the report follows")
        os.rmdir(e)
        # the backend: its two writes end exactly at 2^64-1
        res.check(client(tree, "--nonce", "ab" * 64) == 0,
                  "backend: generation arithmetic modulo 2^64")
        no_entries(tree, "wrap")
    for start, what in ((U64 - 2, "inblob store dropped"), (U64 - 1, "privlevel write EBUSY")):
        with Tree(["--initial-generation", str(start)], sim=sim) as tree:
            res.check(client(tree) == errno.EBUSY, "backend: %s -> EBUSY" % what)
            no_entries(tree, what)


def backend(tree):
    rd = tree.report_dir
    res.check(client(tree, "--probe") == 0, "probe: the tree is a configfs-tsm report dir")
    p = subprocess.run([CLIENT, "--probe", tree.mnt], capture_output=True)
    res.check(p.returncode == 1, "probe: the mount root is not")
    p = subprocess.run([CLIENT, "--probe", os.path.join(tree.tmp, "nosuch")],
                       capture_output=True)
    res.check(p.stdout.decode().strip() == "error %d" % errno.ENOENT,
              "probe: a missing directory is ENOENT")

    out = os.path.join(tree.tmp, "r.bin")
    certs = os.path.join(tree.tmp, "certs")
    nonce = "5a" * 32 + "01" * 16
    rc, _, err = t.snpctl(["report", "--backend=tsm:" + rd, "--nonce", nonce, "-o", out,
                           "--certs-dir", certs])
    res.check(rc == 0, "snpctl report --backend=tsm: (rc %d %s)" % (rc, err.strip()))
    rep = read(out) if rc == 0 else b""
    res.check(len(rep) == 1184, "1184 bytes")
    res.check(rep[0x50:0x90] == bytes.fromhex(nonce) + bytes(16),
              "REPORT_DATA is the nonce, zero-padded")
    rc, _, err = t.snpctl(["verify", out, "--certs", certs, "--trust-ark",
                           os.path.join(certs, "ark.pem")])
    res.check(rc == 0, "snpctl verify with the auxblob's certificates (rc %d %s)" % (
        rc, err.strip()))
    ark = os.path.join(certs, "ark.pem")
    rc, _, err = t.snpctl(["verify", out, "--certs", certs, "--trust-ark", ark,
                           "--nonce", nonce])
    res.check(rc == 0, "snpctl verify --nonce NONCE (rc %d %s)" % (rc, err.strip()))
    rc, _, _ = t.snpctl(["verify", out, "--certs", certs, "--trust-ark", ark,
                         "--nonce", "5b" * 32])
    res.check(rc == 2, "snpctl verify --nonce OTHER fails the policy (rc %d)" % rc)
    no_entries(tree, "snpctl report")

    aux = os.path.join(tree.tmp, "aux.bin")
    res.check(client(tree, "--vmpl", "3", "-o", out, "--aux", aux) == 0, "backend VMPL 3")
    res.check(struct.unpack_from("<I", read(out), 0x30)[0] == 3, "report says VMPL 3")
    ents = cert_table(read(aux))
    res.check(len(ents) >= 3, "certificates handed back as the table (%d entries)" % len(ents))
    rc, _, err = t.snpctl(["verify", out, "--cert-table", aux, "--trust-ark", ark,
                           "--vmpl", "3"])
    res.check(rc == 0, "snpctl verify --cert-table AUXBLOB (rc %d %s)" % (rc, err.strip()))
    res.check(client(tree, "-o", out) == 0, "a report without certificates")
    for _ in range(20):
        client(tree)
    no_entries(tree, "21 requests")


def foreign_tree(sim):
    with Tree(["--foreign-writes", "1"], sim=sim) as tree:
        res.check(client(tree, "--certs") == errno.EBUSY,
                  "backend: another writer in the entry -> EBUSY")
        no_entries(tree, "another writer")


def faults(sim):
    with Tree(env={"SNP_SIM_FAULTS": "fw_error=1,fw_error_code=0x16"}, sim=sim) as tree:
        r1, r2 = client(tree), client(tree)
        res.check(r1 == errno.EIO and r2 == errno.ENOTTY,
                  "backend: a host-reported firmware error is EIO, then the driver's "
                  "VMPCK is gone: ENOTTY (%s, %s)" % (errno.errorcode.get(r1),
                                                      errno.errorcode.get(r2)))
        no_entries(tree, "firmware error")
    # the guest uses VMPCK2 but the floor says 0: the firmware refuses VMPL 0
    # with status INVALID_PARAM in its response, which the driver maps to EINVAL
    with Tree(env={"SNP_SIM_VMPCK": "2"}, sim=sim) as tree:
        r = client(tree, "--vmpl", "0")
        res.check(r == errno.EINVAL, "backend: response status INVALID_PARAM -> EINVAL (%s)"
                  % errno.errorcode.get(r))
        r = client(tree, "--vmpl", "2")
        res.check(r == 0, "and the next request at VMPL 2 works (%s)" % errno.errorcode.get(r))
        no_entries(tree, "firmware status")
    with Tree(env={"SNP_SIM_FAULTS": "tamper=1"}, sim=sim) as tree:
        r1, r2 = client(tree), client(tree)
        res.check(r1 != 0 and r2 == errno.ENOTTY,
                  "backend: a tampered response disables the VMPCK, then ENOTTY (%s, %s)" % (
                      errno.errorcode.get(r1), errno.errorcode.get(r2)))
        no_entries(tree, "tampered response")


def sigterm_unmounts():
    tree = h.TsmTree()
    mnt = tree.mnt
    tree.proc.send_signal(signal.SIGTERM)
    rc = tree.proc.wait(timeout=10)
    res.check(rc == 0 and not os.path.ismount(mnt), "SIGTERM: exit 0 and unmounted (%d)" % rc)
    tree.__exit__(None, None, None)


with h.TsmTree() as tree:
    emulator(tree)
    backend(tree)
    sim = os.path.join(tree.tmp, "sim")
    with Tree(["--floor", "2"], sim=sim) as ft:
        floor_tree(ft)
    wrap_tree(sim)
    foreign_tree(sim)
    faults(sim)
sigterm_unmounts()
res.done()
