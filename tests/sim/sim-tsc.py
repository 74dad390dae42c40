# SPDX-License-Identifier: Apache-2.0
"""Secure TSC and the sequence numbers the guest kernel consumes.

1. With secure_tsc=1 and kernel_tsc_info=1 (Linux >= 6.14: the kernel sends
   TSC_INFO_REQ at boot with its VMPCK), the kernel's request and the
   firmware's response, as the hypervisor saw them, decrypt with the VMPCK
   in an independent oracle (Debian's python3-cryptography, none of our
   code): request seq 1, type 17, 128 zero bytes; response seq 2, type 18,
   STATUS 0 and the launch's TSC values. The first user request is seq 3.
2. The same launch through libsnp-preload (/dev/sev-guest for any process)
   and through the sim backend: the first report request of a process uses
   seq 3, succeeds and verifies; the guest's and the firmware's counters in
   STATE/launch-state stay equal (4 after one request, not 2), also after
   a relaunch (the kernel boots again). The same through tests/helpers/
   tsm-fuse (configfs-tsm over the simulator) when FUSE is usable; tsm-fuse
   must end cleanly (exit 0 on SIGTERM, no sanitizer report).
3. A process SIGKILLed while the kernel's boot request is under way (the
   hypervisor delays each exit; the kill follows the commit of the boot's
   intent) leaves the boot done: the next report succeeds and verifies,
   both counters advance in step and no number is used twice.
"""
import os
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simtest  # noqa: E402

sys.path.insert(0, os.path.join(simtest.SRC, "tests", "integration"))
import snpd_harness as h  # noqa: E402

try:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:
    simtest.skip("python3-cryptography is not installed")

TSC_SCALE = 0x0000000123456789
TSC_OFFSET = 0xFFFFFFF012345678
TSC_FACTOR = 321
PRELOAD = os.path.join(simtest.BUILD, "sim", ".libs", "libsnp-preload.so")
LIMIT = 60  # seconds for tsm-fuse to mount (a bound, never a pass condition)


def preload_env():
    """LD_PRELOAD value; in a sanitizer build the ASan runtime comes first."""
    r = subprocess.run(["ldd", PRELOAD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("libasan") and len(parts) >= 3:
            return parts[2] + " " + PRELOAD
    return PRELOAD


def rd(path):
    with open(path, "rb") as f:
        return f.read()


def set_params(d, updates):
    """Set keys in D/params (appending those an older template lacks)."""
    path = os.path.join(d, "params")
    have = simtest.read_kv(path)
    simtest.write_kv_update(path, {k: v for k, v in updates.items() if k in have})
    with open(path, "a") as f:
        for k, v in updates.items():
            if k not in have:
                f.write("%s=%s\n" % (k, v))


def counters(d, vmpck=0):
    """(firmware, guest) counters of VMPCK in the launch record (sim/state.c)."""
    rec = rd(os.path.join(d, "launch-state"))
    fw = struct.unpack_from("<Q", rec, 0x10 + 8 * vmpck)[0]
    guest = struct.unpack_from("<I", rec, 0x30 + 0xA0 + 4 * vmpck)[0]
    return fw, guest


def decrypt(page, vmpck):
    hdr = page[:0x60]
    tag = hdr[:16]
    seqno = struct.unpack_from("<Q", hdr, 0x20)[0]
    algo, hv, hsz, mtype, mver, msz = struct.unpack_from("<BBHBBH", hdr, 0x30)
    if (algo, hv, hsz) != (1, 1, 0x60):
        simtest.fail("header algo/version/size %d %d %#x" % (algo, hv, hsz))
    iv = struct.pack("<Q", seqno) + b"\0" * 4
    pt = AESGCM(vmpck).decrypt(iv, page[0x60:0x60 + msz] + tag, hdr[0x30:0x60])
    return seqno, mtype, mver, hdr[0x3C], pt


def new_tsc_state():
    d = simtest.new_state("Milan")
    set_params(d, {"secure_tsc": "1", "tsc_scale": "0x%016x" % TSC_SCALE,
                   "tsc_offset": "0x%016x" % TSC_OFFSET, "tsc_factor": str(TSC_FACTOR),
                   "kernel_tsc_info": "1", "kernel_vmpl": "0"})
    return d


def check_oracle(d):
    out = os.path.join(d, "capture")
    os.mkdir(out)
    r = subprocess.run([os.path.join(simtest.BUILD, "tests", "sim", "sim-capture"), d, out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        simtest.fail("sim-capture with kernel_tsc_info=1: %s" % r.stdout.strip())
    if not os.path.exists(os.path.join(out, "tsc-req.bin")):
        simtest.fail("the simulated kernel sent no TSC_INFO_REQ")
    vmpck = rd(os.path.join(out, "vmpck.bin"))
    sq, t, v, k, pt = decrypt(rd(os.path.join(out, "tsc-req.bin")), vmpck)
    if (sq, t, v, k) != (1, 17, 1, 0) or pt != bytes(128):
        simtest.fail("TSC_INFO_REQ: seq %d type %d ver %d vmpck %d len %d" % (sq, t, v, k, len(pt)))
    sq, t, v, k, pt = decrypt(rd(os.path.join(out, "tsc-resp.bin")), vmpck)
    if (sq, t, v, k) != (2, 18, 1, 0) or len(pt) != 128:
        simtest.fail("TSC_INFO_RSP: seq %d type %d ver %d vmpck %d len %d" % (sq, t, v, k, len(pt)))
    status, rsvd, scale, offset, factor = struct.unpack_from("<IIQQI", pt, 0)
    if status != 0 or rsvd != 0 or any(pt[0x1C:]):
        simtest.fail("TSC_INFO_RSP status %#x / reserved bytes" % status)
    if (scale, offset, factor) != (TSC_SCALE, TSC_OFFSET, TSC_FACTOR):
        simtest.fail("TSC_INFO_RSP values %#x %#x %d" % (scale, offset, factor))
    # the user's requests come after the kernel's: report 3/4, key 5/6
    sq, t, _, _, _ = decrypt(rd(os.path.join(out, "report-req.bin")), vmpck)
    if (sq, t) != (3, 5):
        simtest.fail("first user request: seq %d type %d, not 3 / REPORT_REQ" % (sq, t))
    sq, t, _, _, pt = decrypt(rd(os.path.join(out, "report-resp.bin")), vmpck)
    if (sq, t) != (4, 6) or struct.unpack_from("<I", pt, 0)[0] != 0:
        simtest.fail("first user response: seq %d type %d" % (sq, t))
    if counters(d) != (6, 6):
        simtest.fail("counters after boot, report, key: %r, not (6, 6)" % (counters(d),))
    print("ok: the kernel's TSC_INFO pair decrypts (seq 1/2, status 0, launch values); "
          "the user's first request is seq 3")


def run(cmd, env=None, what=""):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        simtest.fail("%s: exit %d: %s" % (what or " ".join(cmd), r.returncode, r.stdout.strip()))
    return r.stdout


def report_and_verify(d, name, backend, env):
    rep = os.path.join(d, name + ".bin")
    certs = os.path.join(d, name + "-certs")
    run([simtest.SNPCTL, "report", "--backend=" + backend, "--nonce", "00ff", "-o", rep,
         "--certs-dir", certs], env=env, what="%s report" % name)
    run([simtest.SNPCTL, "verify", rep, "--certs", certs, "--trust-ark",
         os.path.join(certs, "ark.pem")], what="%s verify" % name)


def check_paths(d):
    pre = dict(os.environ, SNP_SIM_DIR=d, LD_PRELOAD=preload_env())
    pre.pop("SNP_SIM_FAULTS", None)
    # a fresh launch: nothing sent yet
    if counters(d) != (0, 0):
        simtest.fail("counters of a fresh launch %r" % (counters(d),))
    report_and_verify(d, "preload", "sev-guest", pre)
    if counters(d) != (4, 4):
        simtest.fail("preload: counters %r after the kernel's and one user request, "
                     "not (4, 4)" % (counters(d),))
    report_and_verify(d, "preload2", "sev-guest", pre)
    if counters(d) != (6, 6):
        simtest.fail("preload: counters %r, not (6, 6)" % (counters(d),))

    env = dict(os.environ)
    env.pop("SNP_SIM_FAULTS", None)
    run([simtest.SNPCTL, "sim", "relaunch", "--dir", d], what="relaunch")
    report_and_verify(d, "sim", "sim:" + d, env)
    if counters(d) != (4, 4):
        simtest.fail("sim backend: counters %r after a relaunch and one request, "
                     "not (4, 4)" % (counters(d),))
    # both paths on one launch keep the numbers in step
    report_and_verify(d, "preload3", "sev-guest", pre)
    report_and_verify(d, "sim2", "sim:" + d, env)
    if counters(d) != (8, 8):
        simtest.fail("mixed paths: counters %r, not (8, 8)" % (counters(d),))
    print("ok: libsnp-preload and the sim backend start at seq 3 after the kernel's "
          "TSC_INFO; reports verify, counters in step")


def check_tsm(d):
    binp = os.path.join(simtest.BUILD, "tests", "helpers", "tsm-fuse")
    if not os.access(binp, os.X_OK) or not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        print("skip: tsm-fuse (no helper, no /dev/fuse or not root)")
        return
    run([simtest.SNPCTL, "sim", "relaunch", "--dir", d], what="relaunch")
    mnt = os.path.join(d, "tsm")
    os.mkdir(mnt)
    env = dict(os.environ)
    env.pop("SNP_SIM_FAULTS", None)
    env.pop("SNP_SIM_VMPCK", None)
    log_path = os.path.join(d, "tsm.log")
    try:
        proc, log = h.start_fuse_helper("tsm-fuse", [binp, "--sim", d, mnt], mnt,
                                        lambda: os.path.isdir(os.path.join(mnt, "report")),
                                        log_path, env=env, timeout=LIMIT)
    except RuntimeError as e:
        simtest.fail(str(e))
    try:
        entry = os.path.join(mnt, "report", "e")
        os.mkdir(entry)
        nonce = bytes(range(64))
        with open(os.path.join(entry, "inblob"), "wb") as f:
            f.write(nonce)
        with open(os.path.join(entry, "outblob"), "rb") as f:
            rep = f.read()
        if len(rep) != 0x4A0 or rep[0x50:0x90] != nonce:
            simtest.fail("tsm-fuse: outblob of %d bytes without the nonce" % len(rep))
        if counters(d) != (4, 4):
            simtest.fail("tsm-fuse: counters %r after the kernel's and one report, "
                         "not (4, 4)" % (counters(d),))
    finally:
        # a crash, an error exit or a sanitizer report of tsm-fuse fails the test
        problem = h.helper_end_problem("tsm-fuse", h.stop_fuse_helper(proc, mnt, log),
                                       log_path)
        if problem:
            simtest.fail(problem)
    print("ok: tsm-fuse's first report after the kernel's TSC_INFO uses seq 3; it ended "
          "cleanly")


def check_kill_during_boot(d):
    slow = dict(os.environ, SNP_SIM_FAULTS="delay_ms=1500")
    env = dict(os.environ)
    env.pop("SNP_SIM_FAULTS", None)
    seen = []
    for i in range(3):
        run([simtest.SNPCTL, "sim", "relaunch", "--dir", d], what="relaunch")
        proc = subprocess.Popen([simtest.SNPCTL, "report", "--backend=sim:" + d, "-o",
                                 os.path.join(d, "killed.bin")], env=slow,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # the kernel's intent is committed, its exit is being delayed
        while counters(d)[0] < 2 and proc.poll() is None:
            time.sleep(0.01)
        proc.kill()
        proc.wait()
        fw, guest = counters(d)
        seen.append(fw)
        if fw != guest or fw not in (2, 4, 6):
            simtest.fail("killed during boot: counters %r" % ((fw, guest),))
        report_and_verify(d, "after-kill-%d" % i, "sim:" + d, env)
        if counters(d) != (fw + 2, fw + 2):
            simtest.fail("after a kill at %d: counters %r, not %d" % (fw, counters(d), fw + 2))
    print("ok: a process killed during the kernel's boot request leaves both sides in step "
          "(counters at the kills: %s)" % seen)


def main():
    if not os.path.exists(PRELOAD):
        simtest.skip("no preload library")
    d = new_tsc_state()
    try:
        check_oracle(d)
    finally:
        simtest.cleanup(d)
    d = new_tsc_state()
    try:
        check_paths(d)
        check_tsm(d)
        check_kill_during_boot(d)
    finally:
        simtest.cleanup(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
