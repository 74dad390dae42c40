# SPDX-License-Identifier: Apache-2.0
"""One process that stalls while it holds nonce/'s directory lock (shared)
does not hang nonce/ for everyone, nor the daemon's exit: it reads the
directory (getdents64) into a private mapping of a file on a second snpd
that is stopped (SIGSTOP), so the page fault never returns. Lookups of
fresh nonce names by root and by uid 65534 must still complete, and
SIGTERM must still stop the daemon. A hang fails the test (timeouts), it
never hangs it; everything is resumed and killed at the end."""

import ctypes
import mmap
import os
import signal
import subprocess
import sys
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
libc = ctypes.CDLL(None, use_errno=True)
SYS_getdents64 = {"x86_64": 217, "aarch64": 61}.get(os.uname().machine)
if SYS_getdents64 is None:
    print("SKIP: getdents64 number unknown on %s" % os.uname().machine)
    sys.exit(h.SKIP)
HANG = 20  # seconds after which a lookup or the exit counts as hung


def conn_dir(path):
    st = os.stat(path)
    return "/sys/fs/fuse/connections/%d" % os.minor(st.st_dev)


def stalled(pid):
    """@pid waits for a FUSE answer inside a page fault."""
    try:
        with open("/proc/%d/stack" % pid) as f:
            stack = f.read()
    except OSError:
        return False
    return "fault" in stack and "fuse" in stack


def stat_as(uid, path):
    cmd = ["stat", "-c", "%i", path]
    if uid:
        cmd = ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups"] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=HANG)
        return "ok" if p.returncode == 0 else "rc=%d %s" % (p.returncode, err.strip())
    except subprocess.TimeoutExpired:
        p.kill()
        return "hung"


A = h.Daemon(args=["--no-http"])
B = h.Daemon(args=["--no-http"])
child = None
conn_a = conn_b = None
try:
    A.start()
    B.start()
    conn_a, conn_b = conn_dir(A.mnt), conn_dir(B.mnt)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            fd = os.open(B.path("measurement"), os.O_RDONLY)
            mm = mmap.mmap(fd, 0, access=mmap.ACCESS_COPY)  # MAP_PRIVATE
            addr = ctypes.addressof(ctypes.c_char.from_buffer(mm))
            dfd = os.open(A.path("nonce"), os.O_RDONLY | os.O_DIRECTORY)
            os.write(w1, b"m")
            os.read(r2, 1)
            libc.syscall(SYS_getdents64, dfd, ctypes.c_void_p(addr), 4096)
        finally:
            os._exit(0)
    os.read(r1, 1)
    os.kill(B.proc.pid, signal.SIGSTOP)
    os.write(w2, b"g")
    # stalled (holding nonce/ shared) once it waits for B inside the fault
    end = time.monotonic() + HANG
    while not stalled(child) and time.monotonic() < end:
        time.sleep(0.05)
    if not stalled(child):
        print("SKIP: could not see the reader stall (/proc/PID/stack)")
        raise SystemExit(h.SKIP)
    res.check(True, "a reader of nonce/ is stalled on a stopped FUSE mount")

    results = []
    for i in range(12):
        results.append(stat_as(0 if i % 2 == 0 else 65534,
                               A.path("nonce", os.urandom(16).hex())))
        if results[-1] == "hung":
            break
    res.check(all(r == "ok" for r in results),
              "lookups of fresh names in nonce/ by root and uid 65534 complete: %s" % results)
    res.check(stat_as(65534, A.path("status")) == "ok", "status still answers")

    A.proc.send_signal(signal.SIGTERM)
    try:
        rc = A.proc.wait(timeout=HANG)
    except subprocess.TimeoutExpired:
        rc = "still running"
    res.check(rc == 0, "SIGTERM stops the daemon: exit status %s" % rc)
finally:
    if B.proc:
        os.kill(B.proc.pid, signal.SIGCONT)
    for conn in (conn_a, conn_b):
        if A.proc and A.proc.poll() is None and conn:
            # a hung daemon: let the kernel fail every request
            try:
                with open(os.path.join(conn, "abort"), "w") as f:
                    f.write("1")
            except OSError:
                pass
    if child:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(child, 0)
    for d in (A, B):
        if d.proc and d.proc.poll() is None:
            d.proc.kill()
        d.cleanup()

res.done()
