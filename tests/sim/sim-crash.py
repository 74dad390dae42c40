# SPDX-License-Identifier: Apache-2.0
"""A simulated guest survives processes killed at any point (issue 11, item 8).

On hardware the guest's message counter (kernel memory) and the firmware's
(the PSP) outlive any process; the simulator keeps both in its state
directory.

1. The state a relaunch leaves when it is killed right after it replaced
   "secrets" (the firmware's new VMPCKs), before the guest's view of them:
   the next request must finish the relaunch and work.
2. 50 times, `snpctl report` or `snpctl key --backend=sim:DIR` is SIGKILLed
   after a random delay spread over a whole run (start-up, the locked
   request, the writes after it; every other run with the hypervisor
   delaying each exit, so that more kills land inside the request); then
   10 times `snpctl sim relaunch`. After each kill a fresh report must
   succeed and verify against the chip's chain with its own nonce.
   Meanwhile a second process asks for reports in a loop on the same
   directory: every one must succeed too (the directory lock makes the
   processes take turns; a dead holder releases it).
3. A directory in the layout before the fix, left by a kill between its
   two writes, is converted and works.

Before the fix the guest's counter was saved before a request and the
firmware's after it: a kill in between made the next request fail with
firmware error 0x1d (AEAD_OFLOW) and every later one with ENOTTY.
"""
import os
import random
import shutil
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simtest  # noqa: E402

KILLS = 50
RELAUNCH_KILLS = 10
SNPCTL = simtest.SNPCTL


def run(args, env=None):
    return subprocess.run([SNPCTL] + args, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def report_args(d, nonce, out):
    return ["report", "--backend=sim:" + d, "--nonce", nonce, "-o", out]


def fresh_report_verifies(d, tmp, when):
    nonce = "%064x" % random.getrandbits(256)
    out = os.path.join(tmp, "fresh.bin")
    p = run(report_args(d, nonce, out))
    if p.returncode != 0:
        simtest.fail("%s the next report failed (exit %d):\n%s" %
                     (when, p.returncode, p.stdout))
    p = run(["verify", out, "--certs", d, "--trust-ark", os.path.join(d, "ark.pem"),
             "--report-data", nonce])
    if p.returncode != 0:
        simtest.fail("%s the report does not verify:\n%s" % (when, p.stdout))
    os.unlink(out)


class Steady(threading.Thread):
    """Reports in a loop from another process on the same directory."""

    def __init__(self, d, tmp):
        super().__init__(daemon=True)
        self.d, self.out = d, os.path.join(tmp, "steady.bin")
        self.stop = threading.Event()
        self.n = 0
        self.error = None

    def run(self):
        while not self.stop.is_set():
            p = run(report_args(self.d, "%064x" % self.n, self.out))
            if p.returncode != 0:
                self.error = "report %d of the second process failed (exit %d):\n%s" % (
                    self.n, p.returncode, p.stdout)
                return
            self.n += 1


def relaunch_killed_after_secrets(d, tmp):
    other = simtest.new_state()  # the same chip, another launch
    try:
        for name in ("params", "secrets"):
            shutil.copy(os.path.join(other, name), os.path.join(d, name))
    finally:
        simtest.cleanup(other)
    fresh_report_verifies(d, tmp, "after a relaunch killed once it replaced 'secrets'")


def old_layout_killed_between_writes(d, tmp):
    """A directory of the code before the launch record, left by a process
    killed between its two writes: the guest's counter (guest-secrets)
    saved past the firmware's (fw-counters) with the VMPCK still live."""
    rec = os.path.join(d, "launch-state")
    with open(rec, "rb") as f:
        data = f.read()
    fw = struct.unpack_from("<4Q", data, 0x10)
    page = bytearray(data[0x30:0x30 + 4096])
    struct.pack_into("<I", page, 0xa0, fw[0] + 2)
    with open(os.path.join(d, "guest-secrets"), "wb") as f:
        f.write(page)
    with open(os.path.join(d, "fw-counters"), "w") as f:
        f.write("".join("vmpck%d=%d\n" % (i, c) for i, c in enumerate(fw)))
    os.unlink(rec)
    fresh_report_verifies(d, tmp, "in a directory of the old layout killed mid-request")
    if not os.path.exists(rec) or os.path.exists(os.path.join(d, "guest-secrets")) or \
            os.path.exists(os.path.join(d, "fw-counters")):
        simtest.fail("the old layout was not converted to the launch record")


def main():
    d = simtest.new_state()
    tmp = os.path.join(d, "t")
    os.mkdir(tmp)
    random.seed(os.environ.get("SNP_TEST_SEED") or None)
    delayed = dict(os.environ, SNP_SIM_FAULTS="delay_ms=50")
    try:
        fresh_report_verifies(d, tmp, "before any kill")
        relaunch_killed_after_secrets(d, tmp)
        # how long one run takes here and now: kill points spread over it
        span = {}
        for name, env in (("plain", None), ("delayed", delayed)):
            t = time.monotonic()
            p = run(report_args(d, "00", os.path.join(tmp, "cal.bin")), env)
            if p.returncode != 0:
                simtest.fail("a report without a kill failed:\n" + p.stdout)
            span[name] = time.monotonic() - t
        t = time.monotonic()
        if run(["sim", "relaunch", "--dir", d]).returncode != 0:
            simtest.fail("a relaunch without a kill failed")
        span["relaunch"] = time.monotonic() - t
        steady = Steady(d, tmp)
        steady.start()
        finished = 0
        for i in range(KILLS):
            env = delayed if i % 2 else None
            span_i = span["delayed" if i % 2 else "plain"]
            if i % 3 == 2:
                args = ["key", "--backend=sim:" + d, "--fields", "measurement"]
            else:
                args = report_args(d, "%064x" % i, os.path.join(tmp, "killed.bin"))
            proc = subprocess.Popen([SNPCTL] + args, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0, span_i * 1.2))
            proc.kill()
            if proc.wait() == 0:
                finished += 1
            fresh_report_verifies(d, tmp, "after kill %d" % i)
            if steady.error:
                simtest.fail(steady.error)
        for i in range(RELAUNCH_KILLS):
            proc = subprocess.Popen([SNPCTL, "sim", "relaunch", "--dir", d],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0, span["relaunch"] * 1.2))
            proc.kill()
            proc.wait()
            fresh_report_verifies(d, tmp, "after relaunch kill %d" % i)
            if steady.error:
                simtest.fail(steady.error)
        steady.stop.set()
        steady.join()
        if steady.error:
            simtest.fail(steady.error)
        old_layout_killed_between_writes(d, tmp)
        print("ok: %d kills (%d runs finished first), %d relaunches killed, %d reports of a "
              "second process" % (KILLS, finished, RELAUNCH_KILLS, steady.n))
    finally:
        simtest.cleanup(d)


main()
