# SPDX-License-Identifier: Apache-2.0
"""tsm-fuse and the tsm backend.

The emulated configfs-tsm tree first, with plain file operations: mkdir,
inblob/outblob/auxblob, generation arithmetic, EINVAL/EBUSY/EFBIG/EACCES,
privlevel and privlevel_floor, and where Linux is subtle: an oversized
inblob stores an empty one, inblob is stored at the last close (dup, fork),
open files of a removed entry, an open file served from what its first
read got, the two calls of that read with a write between them (tsm-fuse
--foreign-in-read), privlevel_floor as the VMPCK, the 16 KiB
certificate area, the SVSM attributes above VMPL 0. Then the tsm backend over it: snpctl report
--backend=tsm:DIR followed by snpctl verify, nonce and VMPL binding, the
floor refused, another writer and lost writes detected (ESTALE), firmware
failures passed on, and never an entry left behind."""

import errno
import os
import signal
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "integration"))

import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

SKIP = 77
h.need_mount()
if not t.SNPCTL or not os.access(t.SNPCTL, os.X_OK):
    print("SKIP: snpctl not built (SNPCTL=%r)" % t.SNPCTL)
    sys.exit(SKIP)
if not h.TsmTree.available():
    print("FAIL: %s not built" % h.TsmTree.BIN)
    sys.exit(1)

CLIENT = os.path.join(h.BUILDDIR, "tests", "helpers", "tsm-client")
ATTRS = sorted(["inblob", "outblob", "auxblob", "provider", "generation", "privlevel",
                "privlevel_floor"])
SVSM_ATTRS = sorted(ATTRS + ["service_provider", "service_guid", "service_manifest_version",
                             "manifestblob"])
U64 = 1 << 64
VCEK_GUID = bytes.fromhex("63da758de6644564adc5f4b93be8accd")
res = t.Results()


class Tree(h.TsmTree):
    """A TsmTree with extra tsm-fuse options first."""

    def __init__(self, opts=(), env=None, sim=None):
        super().__init__(opts=opts, env=env, sim=sim)


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


def client(tree, *args, stderr=None):
    p = subprocess.run([CLIENT] + list(args) + [tree.report_dir], capture_output=True)
    out = p.stdout.decode().strip()
    if any(m.encode() in p.stderr for m in h.SANITIZER_REPORTS):
        raise h.HelperFailed("tsm-client: sanitizer report:\n%s" % p.stderr.decode(
            errors="replace")[-4000:])
    if stderr is not None:
        stderr.append(p.stderr.decode())
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
    res.check(gen(e) == 1, "the refused inblob write still stores (nothing) at close (%d)"
              % gen(e))
    fd = os.open(a("inblob"), os.O_WRONLY)
    os.write(fd, bytes(60))
    res.expect_errno(lambda: os.pwrite(fd, bytes(8), 60), errno.EFBIG, "inblob past 64 bytes")
    os.close(fd)
    res.check(gen(e) == 2, "an inblob write counts once, at close (%d)" % gen(e))
    res.expect_errno(lambda: read(a("outblob")), errno.EINVAL,
                 "sev_guest refuses a 60-byte inblob at read time")

    nonce = bytes(range(64))
    res.check(write(a("inblob"), nonce) == 64, "64-byte inblob accepted")
    res.check(gen(e) == 3, "generation 3 after three writes")
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
    res.check(gen(e) == 3, "reading does not change the generation")

    res.check(write(a("privlevel"), b"2\n") == 2, "privlevel 2 accepted")
    res.check(gen(e) == 4, "a privlevel write counts")
    out2 = read(a("outblob"))
    res.check(out2 != out and struct.unpack_from("<I", out2, 0x30)[0] == 2,
              "a new report at VMPL 2 after the write")
    # (an empty write never reaches a FUSE file system, so b"" is not tried)
    for bad in (b"4", b"-1", b"abc", b"1 2", b"\n"):
        res.expect_errno(lambda: write(a("privlevel"), bad), errno.EINVAL, "privlevel %r" % bad)
    res.check(gen(e) == 4, "refused privlevel writes do not count")
    res.check(write(a("privlevel"), b"0x1") == 3, "privlevel is kstrtouint (0x1)")

    # an open file of a removed entry that had not read yet
    fd = os.open(a("outblob"), os.O_RDONLY)
    os.rmdir(e)
    res.expect_errno(lambda: os.read(fd, 4096), errno.ENOENT, "first read after rmdir")
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


# ---- where Linux is subtle (each of these differed in an earlier tsm-fuse) --

def report_data(path):
    return read(path)[0x50:0x90]


def oversized_inblob(tree):
    """configfs_bin_write_iter() marks the file written before it refuses a
    write past 64 bytes (EFBIG), so the release stores what was buffered:
    nothing. The old inblob is gone: generation + 1, outblob EINVAL."""
    e = os.path.join(tree.report_dir, "big")
    os.mkdir(e)
    a = lambda name: os.path.join(e, name)  # noqa: E731
    write(a("inblob"), b"A" * 64)
    res.check(report_data(a("outblob")) == b"A" * 64 and gen(e) == 1, "a report of inblob A")
    res.expect_errno(lambda: write(a("inblob"), b"B" * 65), errno.EFBIG, "65-byte inblob")
    res.check(gen(e) == 2, "the refused write stored an (empty) inblob at close: "
              "generation 2 (%d)" % gen(e))
    res.expect_errno(lambda: read(a("outblob")), errno.EINVAL,
                     "outblob after the refused write: EINVAL, not A's report")
    write(a("inblob"), b"C" * 64)
    res.check(report_data(a("outblob")) == b"C" * 64 and gen(e) == 3,
              "the next inblob is reported")
    os.rmdir(e)


def last_close(tree):
    """A bin attribute is stored when the open file is released: closing a
    dup or a forked child's copy stores nothing, the last close does."""
    e = os.path.join(tree.report_dir, "dup")
    os.mkdir(e)
    a = lambda name: os.path.join(e, name)  # noqa: E731
    fd = os.open(a("inblob"), os.O_WRONLY)
    os.write(fd, b"D" * 64)
    os.close(os.dup(fd))
    res.check(gen(e) == 0, "closing a dup of the inblob descriptor stores nothing (%d)" % gen(e))
    pid = os.fork()
    if pid == 0:
        os.close(fd)
        os._exit(0)
    os.waitpid(pid, 0)
    res.check(gen(e) == 0, "a child closing the inherited descriptor stores nothing (%d)"
              % gen(e))
    os.pwrite(fd, b"E" * 8, 0)
    os.close(fd)
    res.check(gen(e) == 1, "the last close stores, once (%d)" % gen(e))
    res.check(report_data(a("outblob")) == b"E" * 8 + b"D" * 56,
              "the report has everything written through the file")
    os.rmdir(e)


def after_rmdir(tree):
    """After rmdir, configfs serves what an open file already read, accepts
    writes to an open inblob (dropped at close) and refuses the rest."""
    rd = tree.report_dir
    e = os.path.join(rd, "gone")
    os.mkdir(e)
    a = lambda name: os.path.join(e, name)  # noqa: E731
    nonce = bytes(range(100, 164))
    write(a("inblob"), nonce)
    fo = os.open(a("outblob"), os.O_RDONLY)
    fg = os.open(a("generation"), os.O_RDONLY)
    fi = os.open(a("inblob"), os.O_WRONLY)
    fp = os.open(a("privlevel"), os.O_WRONLY)
    head = os.read(fo, 100)
    ghead = os.read(fg, 1)
    os.rmdir(e)
    try:
        out = head + h.read_all(fo)
        res.check(len(out) == 1184 and out[0x50:0x90] == nonce,
                  "an outblob being read is served to its end after rmdir (%d bytes)" % len(out))
    except OSError as err:
        res.check(False, "an outblob being read is served after rmdir: %s" % err)
    try:
        res.check(ghead + os.read(fg, 64) == b"1\n", "and so is a text attribute being read")
    except OSError as err:
        res.check(False, "a text attribute being read after rmdir: %s" % err)
    try:
        res.check(os.write(fi, b"F" * 64) == 64, "an open inblob accepts writes after rmdir")
    except OSError as err:
        res.check(False, "an open inblob accepts writes after rmdir: %s" % err)
    res.expect_errno(lambda: os.write(fp, b"1"), errno.ENOENT, "privlevel write after rmdir")
    for fd in (fo, fg, fi, fp):
        os.close(fd)  # the inblob is dropped: nothing to store into
    res.check("gone" not in os.listdir(rd), "the entry stays removed")
    os.mkdir(e)
    res.check(gen(e) == 0, "a new entry of that name starts afresh")
    os.rmdir(e)


def open_file_keeps_its_read(tree):
    """configfs fills an open bin file's buffer at its first read; every
    later read of that open file, at any offset, is served from it, whatever
    is written meanwhile; a new open reads afresh. inblob and outblob can be
    open at once (two open files: no ETXTBSY)."""
    e = os.path.join(tree.report_dir, "keep")
    os.mkdir(e)
    a = lambda name: os.path.join(e, name)  # noqa: E731
    write(a("inblob"), b"K" * 64)
    fo = os.open(a("outblob"), os.O_RDONLY)
    fa = os.open(a("auxblob"), os.O_RDONLY)
    fi = os.open(a("inblob"), os.O_WRONLY)
    try:
        head = os.read(fo, 100)
        ahead = os.read(fa, 24)
        res.check(os.write(fi, b"L" * 64) == 64, "inblob written while outblob is open")
        os.close(fi)
        fi = -1
        res.check(gen(e) == 2, "the second inblob is stored (%d)" % gen(e))
        rest = os.pread(fo, 4096, 100)
        whole = os.pread(fo, 4096, 0)
        res.check(head + rest == whole and len(whole) == 1184 and
                  whole[0x50:0x90] == b"K" * 64,
                  "an open outblob keeps serving the report it read, at any offset")
        res.check(os.pread(fa, 24, 0) == ahead, "and so does an open auxblob")
        res.check(report_data(a("outblob")) == b"L" * 64, "a new open reads the new report")
    finally:
        for fd in (fo, fa, fi):
            if fd >= 0:
                os.close(fd)
    res.expect_errno(lambda: os.open(a("outblob"), os.O_RDWR), errno.EACCES,
                     "no bin attribute opens for reading and writing")
    res.expect_errno(lambda: os.open(a("inblob"), os.O_RDWR), errno.EACCES,
                     "inblob neither")
    os.rmdir(e)


def read_all(path):
    """One open, read(2) until EOF."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return h.read_all(fd, 65536)
    finally:
        os.close(fd)


def write_between_reads(sim):
    """configfs calls tsm's read twice at an open file's first read, for
    the length and then for the content, with nothing locked in between
    (tsm-fuse --foreign-in-read stores 64 0xee bytes there). The second
    call generates the report of that inblob, and the file gets it in a
    buffer of the first call's length; when the second report is a refused
    exit's empty one, the file is the first length of nothing (zeros here,
    stale memory on Linux). The backend's generation check catches both."""
    with Tree(["--foreign-in-read"], sim=sim) as tree:
        e = os.path.join(tree.report_dir, "race")
        os.mkdir(e)
        a = lambda name: os.path.join(e, name)  # noqa: E731
        write(a("inblob"), b"M" * 64)
        out = read_all(a("outblob"))
        res.check(len(out) == 1184 and out[0x50:0x90] == b"\xee" * 64,
                  "a write between the two calls: the open file has the report of the "
                  "other inblob (%d bytes, %s...)" % (len(out), out[0x50:0x54].hex()))
        res.check(gen(e) == 2, "and the generation shows the other write (%d)" % gen(e))
        os.rmdir(e)
        got = client(tree, "--certs")
        res.check(got == errno.ESTALE, "backend: a write between the two calls -> ESTALE (%s)"
                  % errno.errorcode.get(got, got))
        out = os.path.join(tree.tmp, "race.bin")
        rc, _, err = t.snpctl(["report", "--backend=tsm:" + tree.report_dir, "-o", out])
        res.check(rc != 0 and "generation" in err and not os.path.exists(out),
                  "snpctl report fails, names the generation, writes no report (rc %d)" % rc)
        no_entries(tree, "a write between the two calls")
    # the first request (one exit) is let through, the second refused
    with Tree(["--foreign-in-read"], env={"SNP_SIM_FAULTS": "after=1,refuse_exit=1"},
              sim=sim) as tree:
        e = os.path.join(tree.report_dir, "race0")
        os.mkdir(e)
        write(os.path.join(e, "inblob"), b"N" * 64)
        out = read_all(os.path.join(e, "outblob"))
        res.check(len(out) == 1184 and out == bytes(1184),
                  "the second call's report refused: 1184 bytes that are no report "
                  "(%d bytes, %d non-zero)" % (len(out), sum(1 for b in out if b)))
        os.rmdir(e)
    with Tree(["--foreign-in-read"], env={"SNP_SIM_FAULTS": "after=1,refuse_exit=1"},
              sim=sim) as tree:
        got = client(tree)
        res.check(got == errno.ESTALE, "backend: such an outblob is not taken -> ESTALE (%s)"
                  % errno.errorcode.get(got, got))
        no_entries(tree, "refused between the two calls")
    with Tree(["--foreign-in-read", "--foreign-after", "1"], sim=sim) as tree:
        got = (client(tree), client(tree))
        res.check(got == (0, errno.ESTALE),
                  "--foreign-after spares it too: ok, then ESTALE (%r)" % (got,))
        no_entries(tree, "a write between the two calls, after one")


def certs_too_small(sim):
    """sev_report_new() asks once with 16 KiB for certificates; when the host
    says that is too small, the driver's plain retry keeps the VMPCK and
    the read fails with EIO. The next read asks again."""
    with Tree(env={"SNP_SIM_FAULTS": "certs_small=1"}, sim=sim) as tree:
        e = os.path.join(tree.report_dir, "c")
        os.mkdir(e)
        write(os.path.join(e, "inblob"), b"G" * 64)
        res.expect_errno(lambda: read(os.path.join(e, "outblob")), errno.EIO,
                         "certificates over 16 KiB (host says): EIO after one attempt")
        try:
            ok = report_data(os.path.join(e, "outblob")) == b"G" * 64
            aux = read(os.path.join(e, "auxblob"))
            ok = ok and any(g == VCEK_GUID for g, _, _ in cert_table(aux))
        except OSError as err:
            ok = False
            print("  next read: %s" % err)
        res.check(ok, "the next read asks again and gets the report and certificates")
        os.rmdir(e)
        no_entries(tree, "certificates too small")
    with Tree(env={"SNP_SIM_FAULTS": "certs_small=1"}, sim=sim) as tree:
        r = client(tree, "--certs")
        res.check(r == errno.EIO, "backend: certificates over 16 KiB -> EIO (%s)"
                  % errno.errorcode.get(r))
        no_entries(tree, "backend, certificates too small")


def svsm_tree(sim):
    """A guest at VMPL 1 (under an SVSM): Linux >= 6.11 shows the service_*
    attributes and manifestblob; VMPCK1 is the floor. The simulated SVSM
    has no attestation service, so an SVSM report is EINVAL."""
    try:
        tree = Tree(["--vmpl", "1"], sim=sim)
    except RuntimeError as err:
        res.check(False, "a tree for a guest at VMPL 1: %s" % err)
        return
    with tree:
        e = os.path.join(tree.report_dir, "s")
        os.mkdir(e)
        a = lambda name: os.path.join(e, name)  # noqa: E731
        names = sorted(os.listdir(e))
        res.check(names == SVSM_ATTRS,
                  "above VMPL 0 an entry also has the SVSM attributes (%s)" % names)
        res.check(read(a("privlevel_floor")) == b"1\n", "privlevel_floor is the VMPL: 1")
        write(a("inblob"), b"H" * 64)
        res.expect_errno(lambda: read(a("outblob")), errno.EINVAL,
                         "privlevel unwritten (0) below the floor: EINVAL")
        write(a("privlevel"), b"1")
        out = read(a("outblob"))
        res.check(out[0x50:0x90] == b"H" * 64 and struct.unpack_from("<I", out, 0x30)[0] == 1,
                  "privlevel 1: a VMPL 1 report")
        res.check(read(a("manifestblob")) == b"", "manifestblob of a firmware report is empty")
        g = gen(e)
        res.check(write(a("service_provider"), b"svsm\n") == 5 and gen(e) == g + 1,
                  "service_provider svsm accepted and counted")
        res.expect_errno(lambda: read(a("outblob")), errno.EINVAL,
                         "an SVSM report: the SVSM offers no attestation service, EINVAL")
        res.expect_errno(lambda: read(a("manifestblob")), errno.EINVAL, "nor a manifest")
        write(a("service_provider"), b"tdx")
        res.expect_errno(lambda: read(a("outblob")), errno.EINVAL, "another service provider")
        g = gen(e)
        res.expect_errno(lambda: write(a("service_guid"), b"not-a-guid"), errno.EINVAL,
                         "a malformed service_guid")
        res.check(gen(e) == g + 1, "a malformed service_guid still counts (cleared first)")
        res.check(write(a("service_guid"), b"c476f1eb-0123-45a5-9641-b4e7dde5bfe3\n") == 37
                  and gen(e) == g + 2, "a service_guid accepted")
        res.expect_errno(lambda: write(a("service_manifest_version"), b"x"), errno.EINVAL,
                         "a malformed service_manifest_version")
        res.check(write(a("service_manifest_version"), b"2") == 1 and gen(e) == g + 3,
                  "service_manifest_version 2 accepted")
        os.rmdir(e)
        res.check(client(tree, "--vmpl", "1") == 0, "backend: VMPL 1 under the SVSM")
        res.check(client(tree, "--vmpl", "0") == errno.EINVAL, "backend: VMPL 0 below the floor")
        no_entries(tree, "SVSM")


def floor_tree(tree):
    rd = tree.report_dir
    e = os.path.join(rd, "f")
    os.mkdir(e)
    res.check(read(os.path.join(e, "privlevel_floor")) == b"2\n", "--floor 2 shows 2")
    res.expect_errno(lambda: write(os.path.join(e, "privlevel"), b"1"), errno.EINVAL,
                 "privlevel below the floor")
    res.check(write(os.path.join(e, "privlevel"), b"3") == 1, "privlevel 3 above the floor")
    os.rmdir(e)
    # privlevel_floor is the VMPCK the driver signs with; privlevel starts at 0
    os.mkdir(e)
    write(os.path.join(e, "inblob"), b"I" * 64)
    res.expect_errno(lambda: read(os.path.join(e, "outblob")), errno.EINVAL,
                     "privlevel unwritten at floor 2: the firmware refuses VMPL 0, EINVAL")
    write(os.path.join(e, "privlevel"), b"2")
    out = read(os.path.join(e, "outblob"))
    res.check(struct.unpack_from("<I", out, 0x30)[0] == 2 and out[0x50:0x90] == b"I" * 64,
              "after privlevel 2: a VMPL 2 report")
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
    # a lost store is the generation check's (ESTALE); the kernel's own
    # EBUSY of a write that would wrap is passed on
    for start, what, err in ((U64 - 2, "inblob store dropped", errno.ESTALE),
                             (U64 - 1, "privlevel write EBUSY", errno.EBUSY)):
        with Tree(["--initial-generation", str(start)], sim=sim) as tree:
            got = client(tree)
            res.check(got == err, "backend: %s -> %s (%s)" % (
                what, errno.errorcode[err], errno.errorcode.get(got, got)))
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
                           "--report-data", nonce])
    res.check(rc == 0, "snpctl verify --report-data NONCE (rc %d %s)" % (rc, err.strip()))
    rc, _, _ = t.snpctl(["verify", out, "--certs", certs, "--trust-ark", ark,
                         "--report-data", "5b" * 32])
    res.check(rc == 2, "snpctl verify --report-data OTHER fails the policy (rc %d)" % rc)
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
        got = client(tree, "--certs")
        res.check(got == errno.ESTALE, "backend: another writer in the entry -> ESTALE (%s)"
                  % errno.errorcode.get(got, got))
        no_entries(tree, "another writer")
    # spared stores: the first request is undisturbed, the next is not
    with Tree(["--foreign-writes", "1", "--foreign-after", "1"], sim=sim) as tree:
        got = (client(tree), client(tree))
        res.check(got == (0, errno.ESTALE), "--foreign-after 1: ok, then ESTALE (%r)" % (got,))
        no_entries(tree, "another writer after one")


def faults(sim):
    with Tree(env={"SNP_SIM_FAULTS": "fw_error=1,fw_error_code=0x16"}, sim=sim) as tree:
        r1, r2 = client(tree), client(tree)
        res.check(r1 == errno.EIO and r2 == errno.ENOTTY,
                  "backend: a host-reported firmware error is EIO, then the driver's "
                  "VMPCK is gone: ENOTTY (%s, %s)" % (errno.errorcode.get(r1),
                                                      errno.errorcode.get(r2)))
        no_entries(tree, "firmware error")
    # the guest uses VMPCK2, so privlevel_floor is 2 (sev-guest's vmpck_id)
    with Tree(env={"SNP_SIM_VMPCK": "2"}, sim=sim) as tree:
        e = os.path.join(tree.report_dir, "k")
        os.mkdir(e)
        res.check(read(os.path.join(e, "privlevel_floor")) == b"2\n",
                  "VMPCK2 in use: privlevel_floor 2")
        os.rmdir(e)
        r = client(tree, "--vmpl", "0")
        res.check(r == errno.EINVAL, "backend: VMPL 0 below the floor -> EINVAL (%s)"
                  % errno.errorcode.get(r))
        r = client(tree, "--vmpl", "2")
        res.check(r == 0, "and the next request at VMPL 2 works (%s)" % errno.errorcode.get(r))
        no_entries(tree, "firmware status")
    # a refused exit: Linux's report_new() returns ES_VMM_ERROR (2), which
    # tsm_report_read() passes as a 0-byte outblob; the next read generates
    # again and meets the wiped VMPCK
    with Tree(env={"SNP_SIM_FAULTS": "refuse_exit=1"}, sim=sim) as tree:
        e = os.path.join(tree.report_dir, "refused")
        os.mkdir(e)
        write(os.path.join(e, "inblob"), bytes(64))
        g = gen(e)
        out = read(os.path.join(e, "outblob"))
        res.check(out == b"" and gen(e) == g,
                  "refused exit: outblob reads 0 bytes (%d), generation unchanged" % len(out))
        # nothing was cached: auxblob generates again
        try:
            read(os.path.join(e, "auxblob"))
            again = 0
        except OSError as ex:
            again = ex.errno
        res.check(again == errno.ENOTTY, "refused exit: the next read regenerates: ENOTTY (%s)"
                  % errno.errorcode.get(again, again))
        os.rmdir(e)
    with Tree(env={"SNP_SIM_FAULTS": "refuse_exit=1"}, sim=sim) as tree:
        msg = []
        r = client(tree, "--certs", stderr=msg)
        res.check(r == errno.EIO and "refused" in msg[0],
                  "backend: an empty outblob (refused exit) is EIO, said (%s, %r)"
                  % (errno.errorcode.get(r, r), msg[0].strip()))
        no_entries(tree, "refused exit")
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
    oversized_inblob(tree)
    last_close(tree)
    after_rmdir(tree)
    open_file_keeps_its_read(tree)
    backend(tree)
    sim = os.path.join(tree.tmp, "sim")
    with Tree(["--floor", "2"], sim=sim) as ft:
        floor_tree(ft)
    wrap_tree(sim)
    foreign_tree(sim)
    write_between_reads(sim)
    faults(sim)
    certs_too_small(sim)
    svsm_tree(sim)
sigterm_unmounts()
res.done()
