# SPDX-License-Identifier: Apache-2.0
"""Start a private snpd on the simulator for one test: its own temporary
directory, simulated platform, configuration and mountpoint; READY=1 is
awaited on a private NOTIFY_SOCKET (never a sleep); always torn down."""

import base64
import fcntl
import hashlib
import http.client
import json
import os
import queue
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import snptest

SKIP = 77
SNPD = os.environ.get("SNPD", "")
SNPCTL = os.environ.get("SNPCTL", "")
BUILDDIR = os.environ.get("SNP_TOP_BUILDDIR", "")


def write_event_log(path, records):
    """A stored event log (docs/evidence.md 4.3) of this boot holding
    @records (encoded event records, in order), mode 0600; returns its head."""
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = bytes.fromhex(f.read().strip().replace("-", ""))
    head, out = bytes(48), [b"SNPDEVL1", boot]
    for rec in records:
        head = hashlib.sha384(b"\x02" + head + rec).digest()
        out += [len(rec).to_bytes(2, "big"), rec, head]
    with open(path, "wb") as f:
        f.write(b"".join(out))
    os.chmod(path, 0o600)
    return head


class DeviceHeld:
    """Take the simulator's state lock of Daemon @d: its device requests
    wait until release()."""

    def __init__(self, d):
        self.f = open(os.path.join(d.sim, "lock"), "a+")
        fcntl.flock(self.f, fcntl.LOCK_EX)

    def release(self):
        if self.f:
            fcntl.flock(self.f, fcntl.LOCK_UN)
            self.f.close()
            self.f = None


def http_response(conn):
    """The response to the request sent on @conn, its body read: its status,
    or the error's repr()."""
    try:
        r = conn.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException) as e:
        return repr(e)


def http_get(conn, path="/v1/report"):
    """GET @path on @conn: http_response()."""
    try:
        conn.request("GET", path)
    except (OSError, http.client.HTTPException) as e:
        return repr(e)
    return http_response(conn)


def need_mount():
    """Skip (77) unless a FUSE file system can be mounted: root, /dev/fuse."""
    if os.geteuid() != 0:
        print("SKIP: FUSE tests need root (allow_other, mount)")
        sys.exit(SKIP)
    if not os.path.exists("/dev/fuse"):
        print("SKIP: /dev/fuse does not exist")
        sys.exit(SKIP)


def need_fuse():
    need_mount()
    if not SNPD or not os.access(SNPD, os.X_OK):
        print("SKIP: snpd not built (SNPD=%r)" % SNPD)
        sys.exit(SKIP)


def need_cryptography():
    """Skip (77) unless Debian's python3-cryptography can be imported."""
    try:
        __import__("cryptography")
    except ImportError:
        print("SKIP: python3-cryptography missing")
        sys.exit(SKIP)


def need_setpriv():
    if not shutil.which("setpriv"):
        print("SKIP: setpriv (util-linux) not found")
        sys.exit(SKIP)


def preload_env(lib):
    """LD_PRELOAD for the simulator's /dev/sev-guest library; a sanitizer
    build needs its runtime first in the list."""
    libs = [lib]
    if os.environ.get("SNP_SANITIZER"):
        p = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                           text=True)
        if p.returncode == 0 and os.path.isabs(p.stdout.strip()):
            libs.insert(0, p.stdout.strip())
    return " ".join(libs)


def sim_init(path, *args):
    subprocess.run([SNPCTL, "sim", "init", "--dir", path] + list(args), check=True,
                   capture_output=True)


class Daemon:
    def __init__(self, tmp=None, sim_args=(), config="", args=(), backend=None,
                 sim_dir=None, env=None, wrapper=()):
        self.own_tmp = tmp is None
        self.tmp = tmp or tempfile.mkdtemp(prefix="snpd-test-")
        # other users must reach the mountpoint (the permission tests)
        os.chmod(self.tmp, 0o755)
        self.sim = sim_dir or os.path.join(self.tmp, "sim")
        if not sim_dir and not os.path.exists(self.sim):
            sim_init(self.sim, *sim_args)
        self.mnt = os.path.join(self.tmp, "mnt")
        self.api = os.path.join(self.tmp, "api.sock")
        self.conf = os.path.join(self.tmp, "snpd.conf")
        self.log = os.path.join(self.tmp, "snpd.log")
        self.backend = backend or "sim:" + self.sim
        self.args = list(args)
        self.env = env
        self.wrapper = list(wrapper)  # runs snpd: ["strace", ..., "--"], ["unshare", ...]
        self.proc = None
        self.write_config(config)

    def collateral_args(self):
        """Tests never reach the real KDS: offline and a private cache unless
        the test names a KDS (--kds-url, the emulator); the simulated chip's
        ARK is trusted explicitly (--trust-ark), as snpctl verify does."""
        extra = []
        opts = " ".join(self.args)
        if "--kds-url" not in opts and "KdsUrl=" not in self.config_text():
            extra.append("--offline=yes")
        if "--cache-dir" not in opts:
            extra.append("--cache-dir=" + os.path.join(self.tmp, "cache"))
        ark = os.path.join(self.sim, "ark.pem")
        if "--trust-ark" not in opts and "TrustArk=" not in self.config_text() and \
                os.path.exists(ark):
            extra.append("--trust-ark=" + ark)
        return extra

    def config_text(self):
        try:
            with open(self.conf) as f:
                return f.read()
        except OSError:
            return ""

    def write_config(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, timeout=30, expect_fail=False, wait=True):
        """Start snpd and wait for READY=1 (@wait false: return at once, the
        caller waits with wait_for("READY=1")); @expect_fail: wait for its
        exit and return the status."""
        env = dict(os.environ, NOTIFY_SOCKET=self._listen_notify())
        env.update(self.env or {})
        cmd = self.wrapper + [SNPD, "--config", self.conf, "--backend", self.backend,
               "--mountpoint", self.mnt, "--api-socket", self.api,
               "--event-log", os.path.join(self.tmp, "eventlog")] + self.collateral_args() \
            + self.args
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.logf, stderr=self.logf)
        self.messages = []
        if expect_fail:
            return self.proc.wait(timeout=timeout)
        if wait:
            self.wait_for("READY=1", timeout)
        return 0

    def _listen_notify(self):
        """A fresh NOTIFY_SOCKET for snpd: its path."""
        ns = os.path.join(self.tmp, "notify.sock")
        if os.path.exists(ns):
            os.unlink(ns)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(ns)
        # Drained all the time, as systemd does: a datagram queue that fills
        # up (10 messages here) would block snpd's sd_notify() while a test
        # waits on the view, and neither side would move again.
        self.queue = queue.Queue()
        self.drain = threading.Thread(target=self._drain, args=(self.notify, self.queue),
                                      daemon=True)
        self.drain.start()
        return ns

    @staticmethod
    def _drain(sock, q):
        while True:
            try:
                msg = sock.recv(4096)
            except OSError:
                return
            if not msg:
                return
            q.put(msg.decode(errors="replace"))

    def next_message(self, timeout=0.2):
        """The next notification (also kept in self.messages), or None."""
        try:
            msg = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        self.messages.append(msg)
        return msg

    def close_notify(self):
        try:
            self.notify.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.notify.close()
        self.drain.join(timeout=5)

    def wait_for(self, what, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self.next_message()
            if msg is not None:
                if what in msg.split("\n"):
                    return msg
            elif self.proc.poll() is not None:
                raise RuntimeError("snpd exited with %d before %s:\n%s" % (
                    self.proc.returncode, what, self.read_log()))
        raise RuntimeError("no %s from snpd within %ds:\n%s" % (what, timeout, self.read_log()))

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def path(self, *p):
        return os.path.join(self.mnt, *p)

    def snpd_pid(self):
        """snpd's pid: that of the process started, or under a wrapper that
        forks (strace), of its descendant running SNPD."""
        pid = self.proc.pid
        for _ in range(4):
            try:
                if os.path.samefile("/proc/%d/exe" % pid, SNPD):
                    return pid
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    pid = int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                break
        return self.proc.pid

    def send_signal(self, sig):
        os.kill(self.snpd_pid() if self.wrapper else self.proc.pid, sig)

    def reload(self):
        self.send_signal(signal.SIGHUP)
        self.wait_for("RELOADING=1")
        return self.wait_for("READY=1")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
            self.close_notify()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def cleanup(self):
        self.stop()
        if os.path.ismount(self.mnt) or not os.path.exists(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


class ThreadResults(snptest.Results):
    """snptest.Results for scenarios that run in threads: one check (and
    its line) at a time."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def check(self, ok, what):
        with self.lock:
            return super().check(ok, what)

    def run(self, fn, *args):
        """fn(*args), as a thread's target: an exception it raises is a
        failed check with its traceback, not a thread that dies quietly."""
        try:
            fn(*args)
        except Exception:
            self.check(False, "%s: %s" % (fn.__name__, traceback.format_exc()))


def stop_clean(d, res):
    """SIGTERM @d and check with @res that it exited 0 with no sanitizer
    report (the log's tail shown if there is one); clean up; its log."""
    rc = d.stop()
    log = d.read_log()
    bad = "Sanitizer" in log or "runtime error" in log
    res.check(rc == 0 and not bad, "%s: clean exit (%s)%s" % (
        os.path.basename(d.tmp), rc, "\n" + log[-4000:] if bad else ""))
    d.cleanup()
    return log


def read_all(fd, size=4096):
    """All that @fd gives until end of file, read(2) @size bytes at a time
    (@fd is left open)."""
    data = b""
    while True:
        chunk = os.read(fd, size)
        if not chunk:
            return data
        data += chunk


def fuse_append(d, data):
    """One write(2) of @data to @d's log/extend: what it returned (an
    error raises OSError)."""
    fd = os.open(d.path("log", "extend"), os.O_WRONLY)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def sim_set_params(sim, **kv):
    """Rewrite the simulator's params in @sim atomically (a process that
    has the state open reads them at its next request)."""
    p = os.path.join(sim, "params")
    lines = [ln for ln in open(p).read().splitlines() if ln.split("=")[0] not in kv]
    lines += ["%s=%s" % i for i in kv.items()]
    with open(p + ".new", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(p + ".new", p)


def sim_renew_host_crl(sim, valid=86400, **more):
    """The host's tables from now on carry a CRL valid for @valid s more
    (thisUpdate a second ago), with @more simulator params: its nextUpdate."""
    now = int(time.time())
    sim_set_params(sim, host_crl_this_update=now - 1, host_crl_next_update=now + valid, **more)
    return now + valid


def sim_certs_dir(sim, cdir):
    """Make @cdir a CertsDir= folder with simulator @sim's ark.pem, ask.pem
    and vcek.pem (copies); returns @cdir."""
    os.makedirs(cdir)
    for n in ("ark.pem", "ask.pem", "vcek.pem"):
        shutil.copy(os.path.join(sim, n), os.path.join(cdir, n))
    return cdir


def sim_set_tcb(sim, tcb):
    """A firmware update: current, committed and reported TCB to @tcb."""
    v = "0x%016x" % tcb
    sim_set_params(sim, current_tcb=v, committed_tcb=v, reported_tcb=v)


def view_tcb(d):
    """REPORTED_TCB of @d's view (its tcb file)."""
    for ln in open(d.path("tcb")).read().splitlines():
        if ln.startswith("reported "):
            return int(ln.split()[1], 16)
    return None


def report_tcb(raw):
    """REPORTED_TCB of a raw report, None if @raw is not one."""
    return int.from_bytes(raw[0x180:0x188], "little") if len(raw) == 1184 else None


def free_port():
    """A TCP port on 127.0.0.1 for snpd to listen on, kept from the kernel's
    other users until snpd binds it: a connection to it is closed from the
    port's side first, which leaves that side in TIME_WAIT (60 s). Neither
    bind() to port 0 nor connect() hands out a port in TIME_WAIT, nor may
    anything bind it without SO_REUSEADDR; snpd's listening socket, and
    systemd-socket-activate's, set it and may."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as c:
            a, _ = s.accept()
            a.close()  # first: the port's side goes to TIME_WAIT
            c.recv(1)  # its FIN, before the client's goes
    return port


class UnixHTTPConnection:
    """http.client over a unix socket."""

    def __new__(cls, path, timeout=30):
        import http.client

        class Conn(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(path)

        return Conn("localhost", timeout=timeout)


def start_fuse_helper(what, argv, mnt, up, log_path, env=None, timeout=20):
    """Start the FUSE helper @argv, its output into @log_path, and wait
    until @up() says it serves @mnt (polled every 50 ms, at most @timeout s).
    Returns (process, log file) for stop_fuse_helper(). When it exits or
    does not come up in time it is stopped, and RuntimeError says @what,
    the command, how it ended and the end of its output."""
    log = open(log_path, "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env)
    end = time.monotonic() + timeout
    while not up():
        if proc.poll() is not None or time.monotonic() > end:
            how = ("exit status %d" % proc.returncode if proc.poll() is not None else
                   "not up after %d s" % timeout)
            stop_fuse_helper(proc, mnt, log)
            with open(log_path, "rb") as f:
                out = f.read()[-2000:].decode(errors="replace").strip()
            raise RuntimeError("%s did not come up (%s: %s): %s" %
                               (what, " ".join(argv), how, out or "no output"))
        time.sleep(0.05)
    return proc, log


def stop_fuse_helper(proc, mnt, log):
    """SIGTERM (the helpers unmount), SIGKILL after 10 s, then a lazy
    unmount of @mnt in case it could not; closes @log. Its exit status
    (negative: the signal that ended it, -9 when it had to be killed)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    subprocess.run(["umount", "-l", mnt], capture_output=True)
    log.close()
    return proc.returncode


# what the sanitizers print when they find something (ASan, UBSan, LSan)
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


def helper_end_problem(what, rc, log_path, clean=0):
    """What went wrong in helper @what that exited with @rc, its stdout and
    stderr in @log_path: None when it exited @clean and its output holds no
    sanitizer report (SANITIZER_REPORTS), else a sentence saying how it
    ended and the end of its output."""
    try:
        with open(log_path, "rb") as f:
            out = f.read().decode(errors="replace")
    except OSError as e:
        out = "(its output cannot be read: %s)" % e
    found = [m for m in SANITIZER_REPORTS if m in out]
    if rc == clean and not found:
        return None
    how = ("exit status %d" % rc if rc >= 0 else
           "killed by signal %d%s" % (-rc, " (did not exit on SIGTERM)" if rc == -9 else ""))
    return "%s did not end cleanly (%s, %d wanted%s); its output ends:\n%s" % (
        what, how, clean, "; sanitizer report: " + ", ".join(found) if found else "",
        out[-4000:].strip() or "(no output)")


class HelperFailed(AssertionError):
    """A test helper (tsm-fuse, held-file) crashed, exited with an error or had a
    sanitizer report: the test fails even if every check passed."""


def end_fuse_helper(helper, what):
    """Stop FUSE helper @what of @helper (TsmTree, HeldFile: its proc, mnt,
    log and log_path) if it still runs, once, and raise HelperFailed
    unless it exited 0 with no sanitizer report."""
    if not helper.proc:
        return
    rc = stop_fuse_helper(helper.proc, helper.mnt, helper.log)
    helper.proc = None
    problem = helper_end_problem(what, rc, helper.log_path)
    if problem:
        raise HelperFailed(problem)


class TsmTree:
    """tests/helpers/tsm-fuse: a FUSE tree with configfs-tsm's semantics
    (report/<entry>/inblob, outblob, auxblob, generation, privlevel...),
    backed by the simulator; @opts are more tsm-fuse options, @env more
    environment, @sim a simulated chip to copy instead of a new one.

    stop() (and leaving a with block) checks how tsm-fuse ended: on
    SIGTERM or an unmount its request loop ends without an error and it
    exits 0. Any other status (a crash, an error, a sanitizer's exit) or a
    sanitizer report in its output (UBSan may go on after one) raises
    HelperFailed with the end of its output, self.log_path, which is kept
    until then."""

    BIN = os.path.join(BUILDDIR, "tests", "helpers", "tsm-fuse")

    @staticmethod
    def available():
        return os.access(TsmTree.BIN, os.X_OK)

    def __init__(self, sim_args=(), opts=(), env=None, sim=None):
        self.tmp = tempfile.mkdtemp(prefix="snpd-tsm-")
        try:
            os.chmod(self.tmp, 0o755)
            self.sim = os.path.join(self.tmp, "sim")
            if sim:
                shutil.copytree(sim, self.sim)  # a private copy of a simulated chip
            else:
                sim_init(self.sim, *sim_args)
            self.mnt = os.path.join(self.tmp, "tsm")
            os.mkdir(self.mnt)
            self.report_dir = os.path.join(self.mnt, "report")
            self.log_path = os.path.join(self.tmp, "tsm.log")
            self.proc, self.log = start_fuse_helper(
                "tsm-fuse", [self.BIN, "--sim", self.sim] + list(opts) + [self.mnt], self.mnt,
                lambda: os.path.isdir(self.report_dir), self.log_path,
                env=dict(os.environ, **env) if env else None)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def stop(self):
        """Stop tsm-fuse if it still runs (SIGTERM) and check how it ended:
        HelperFailed unless it exited 0 with no sanitizer report. Once;
        later calls do nothing. The tree is gone afterwards, but not the
        simulated chip (self.sim) until __exit__."""
        end_fuse_helper(self, "tsm-fuse")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


# The FUSE protocol as the kernel speaks it to snpd (include/uapi/linux/fuse.h),
# as much as the tests that play the kernel need.
FUSE_IN_HDR = struct.Struct("<IIQQIIII")  # len opcode unique nodeid uid gid pid padding
FUSE_OUT_HDR = struct.Struct("<IiQ")  # len error unique
FUSE_NOTIFY_INVAL_INODE = 2


class FuseWire:
    """The kernel's side of a FUSE connection to snpd on a SOCK_SEQPACKET
    pair (WireDaemon): requests as @uid/@gid unless a call names others;
    the inodes of NOTIFY_INVAL_INODE notifications seen are kept in
    self.inval."""

    def __init__(self, sock, uid=0, gid=0):
        self.sock = sock
        self.uid = uid
        self.gid = gid
        self.unique = 0
        self.inval = []

    def send(self, opcode, nodeid, body, uid=None, gid=None, pid=None):
        """Send a request and return (a FORGET has no reply: snpd reads its
        requests in order, so the next call's reply comes after it)."""
        self.unique += 2
        self.sock.send(FUSE_IN_HDR.pack(
            FUSE_IN_HDR.size + len(body), opcode, self.unique, nodeid,
            self.uid if uid is None else uid, self.gid if gid is None else gid,
            os.getpid() if pid is None else pid, 0) + body)

    def _note(self, msg):
        """Keep what notification @msg invalidates; True if it is one."""
        _, err, unique = FUSE_OUT_HDR.unpack_from(msg)
        if unique != 0:
            return False
        if err == FUSE_NOTIFY_INVAL_INODE:
            self.inval.append(struct.unpack_from("<Q", msg, FUSE_OUT_HDR.size)[0])
        return True

    def call(self, opcode, nodeid, body, uid=None, gid=None, pid=None):
        """Send a request and wait for its reply: (errno, the reply's body)."""
        self.send(opcode, nodeid, body, uid, gid, pid)
        while True:
            msg = self.sock.recv(1 << 17)
            if len(msg) < FUSE_OUT_HDR.size:
                raise RuntimeError("short reply from snpd: %r" % msg)
            if self._note(msg):
                continue
            _, err, unique = FUSE_OUT_HDR.unpack_from(msg)
            if unique != self.unique:
                raise RuntimeError("reply to %d, expected %d" % (unique, self.unique))
            return -err, msg[FUSE_OUT_HDR.size:]

    def drain(self):
        """Take the notifications already sent (a reload's come before its
        READY=1)."""
        self.sock.setblocking(False)
        try:
            while True:
                self._note(self.sock.recv(1 << 17))
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)


class WireDaemon(Daemon):
    """snpd serving a FUSE connection handed over as fd 3 named "fuse"
    (LISTEN_FDNAMES, as snpd-mount hands it one): the test is the kernel
    (FuseWire on the other end of a socket pair)."""

    def start_on(self, fd):
        env = dict(os.environ, NOTIFY_SOCKET=self._listen_notify(), LISTEN_FDS="1",
                   LISTEN_FDNAMES="fuse")
        cmd = ["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", SNPD, "--config", self.conf,
               "--backend", self.backend, "--mountpoint", self.mnt, "--no-http",
               "--event-log="] + self.collateral_args()
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.logf, stderr=self.logf,
                                     pass_fds=(3,), preexec_fn=lambda: os.dup2(fd, 3))
        self.messages = []
        self.wait_for("READY=1")


class HeldFile:
    """tests/helpers/held-file: @self.path is @source as it is now (absent
    while @source is), a regular file whose open waits while held, as on a
    slow disk: a reader (snpd's collateral worker reading TrustArk=) stopped
    at a known point. snpd reads no FIFO, so a FIFO cannot do this. Each
    held open has its own marker, so that openers held at the same time are
    told apart (waiting()).

    stop() (and leaving a with block) releases the hold and checks how
    held-file ended, as TsmTree.stop() does for tsm-fuse: it exits 0 on
    SIGTERM or an unmount, and anything else (a crash, an error, a
    sanitizer's exit) or a sanitizer report in its output raises
    HelperFailed with the end of that output (self.log_path, kept in
    self.dir until then; the caller's @tmp holds self.dir)."""

    BIN = os.path.join(BUILDDIR, "tests", "helpers", "held-file")

    def __init__(self, tmp, source):
        self.dir = tempfile.mkdtemp(prefix="held-", dir=tmp)
        os.chmod(self.dir, 0o755)
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        self.hold_path = os.path.join(self.dir, "hold")
        self.path = os.path.join(self.mnt, "file")
        self.log_path = os.path.join(self.dir, "held-file.log")
        self.proc, self.log = start_fuse_helper(
            "held-file", [self.BIN, source, self.hold_path, self.mnt], self.mnt,
            lambda: os.path.ismount(self.mnt), self.log_path)

    def hold(self):
        """Opens from now on wait until release()."""
        open(self.hold_path, "w").close()

    def waiting(self):
        """The opens waiting now, oldest first: [(pid, n)], the opener's
        (thread) id as FUSE gives it and the open's number on this mount,
        from their markers HOLD.waiting.PID.N."""
        pre = os.path.basename(self.hold_path) + ".waiting."
        held = []
        for name in os.listdir(self.dir):
            if name.startswith(pre):
                pid, n = name[len(pre):].split(".")
                held.append((int(pid), int(n)))
        return sorted(held, key=lambda w: w[1])

    def wait_held(self, timeout=60, count=1, pid=None):
        """True once @count opens wait, @pid's among them when given
        (polled, never a pass condition)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            held = self.waiting()
            if len(held) >= count and (pid is None or pid in [w[0] for w in held]):
                return True
            time.sleep(0.02)
        return False

    def release(self):
        try:
            os.unlink(self.hold_path)
        except FileNotFoundError:
            pass

    def stop(self):
        """Release the hold, stop held-file if it still runs (SIGTERM) and
        check how it ended: HelperFailed unless it exited 0 with no
        sanitizer report. Once; later calls do nothing."""
        self.release()
        end_fuse_helper(self, "held-file")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wait_until(cond, tries=600):
    """Poll @cond every 50 ms, at most @tries times (bounded: the machine
    may be busy); its last value."""
    for _ in range(tries):
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def wait_evidence(d, cond, tries=1200):
    """Poll @d's evidence counters until @cond(them), at most @tries times
    every 50 ms; whether it held."""
    return bool(wait_until(lambda: cond(evidence_status(d)), tries))


def wait_evidence_or_fail(res, d, what, cond, tries=1200):
    """wait_evidence(@d, @cond, @tries); when @cond never held, a check of
    @res fails with @what and the last counters. Whether it held."""
    if wait_evidence(d, cond, tries):
        return True
    res.check(False, "%s: %r" % (what, evidence_status(d)))
    return False


def wait_evidence_across(res, d, what, cond, event, tries=1200):
    """wait_evidence_or_fail(@res, @d, @what, @cond, @tries) begun before
    @event() is called, so that the wait is seen to wait: @event runs only
    after @cond's first look, which must not hold (a check of @res fails
    otherwise: the state was there before the event that should make it),
    and the wait must end on a look that held. Whether all of that was so."""
    looks = []
    first = threading.Event()
    out = {}

    def look(e):
        v = bool(cond(e))
        looks.append(v)
        first.set()
        return v

    def waiter():
        try:
            out["ok"] = wait_evidence_or_fail(res, d, what, look, tries)
        finally:
            first.set()  # also when it never looked, or raised

    w = threading.Thread(target=waiter)
    w.start()
    try:
        first.wait()
        event()
    finally:
        w.join()
    before = bool(looks) and not looks[0]
    res.check(before and len(looks) >= 2 and looks[-1],
              "%s: not so before the event, waited for (%d looks: %s)" %
              (what, len(looks), ", ".join("held" if v else "not yet" for v in looks[:3]) +
               (", ..." if len(looks) > 3 else "")))
    return bool(out.get("ok")) and before and len(looks) >= 2 and looks[-1]


# Helpers shared by the tests that read snpd's status and its HTTP API.


def fuse_status(d, section=None):
    """@d's FUSE status file, parsed; only its @section ("evidence",
    "collateral", ...) when given."""
    with open(d.path("status")) as f:
        doc = json.load(f)
    return doc if section is None else doc[section]


def evidence_status(d):
    """The evidence batcher's counters in @d's status file."""
    return fuse_status(d, "evidence")


def api_request(d, method, path, body=None, headers=None, timeout=30):
    """@method @path on @d's API socket, on a connection of its own (closed
    after): (status, {lower-case header name: value}, body). @body: bytes or
    str sent as they are, anything else as JSON; @headers: more request
    headers; @timeout: seconds per socket operation. Errors raise."""
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    c = UnixHTTPConnection(d.api, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
    finally:
        c.close()


def api_get_full(d, path, headers=None, timeout=30):
    """api_request() of GET @path without a body."""
    return api_request(d, "GET", path, headers=headers, timeout=timeout)


def api_get(d, path, headers=None, timeout=30):
    """api_get_full() without the headers: (status, body)."""
    st, _, data = api_get_full(d, path, headers, timeout)
    return st, data


def api_status(d, section=None, headers=None, timeout=30):
    """GET /v1/status of @d, parsed (only its @section when given); {} when
    the answer is not 200."""
    st, data = api_get(d, "/v1/status", headers, timeout)
    if st != 200:
        return {}
    doc = json.loads(data)
    return doc if section is None else doc[section]


def problem(data):
    """(type, detail) of a problem+json body: the type's last ":" part
    ("collateral-stale"); (None, "") when @data is not JSON."""
    try:
        j = json.loads(data)
        return j.get("type", "").rsplit(":", 1)[-1], j.get("detail", "")
    except ValueError:
        return None, ""


def problem_type(data):
    """problem()'s type alone."""
    return problem(data)[0]


def wait_status(res, d, pred, what, limit, get=None, interval=0.1, show=None):
    """Poll get(@d) (default: api_status(@d, "collateral")) every @interval
    s until pred(value) holds: that value. When snpd exits or @limit s pass
    first (a failure, never a pass condition), a check of @res fails with
    @what, the last value while snpd runs (show(value) when given) and the
    log's tail: None."""
    get = get or (lambda d: api_status(d, "collateral"))
    end = time.monotonic() + limit
    v = None
    while time.monotonic() < end:
        v = get(d)
        if pred(v):
            return v
        if d.proc.poll() is not None:
            v = None
            break
        time.sleep(interval)
    res.check(False, "%s: never reached (last status %r)\n%s" % (
        what, show(v) if show and v is not None else v, d.read_log()[-3000:]))
    return None


def daemon_status(d):
    """@d's whole /v1/status, asked for as JSON: api_status()."""
    return api_status(d, headers={"Accept": "application/json"})


def wait_daemon_status(res, d, pred, what, limit):
    """wait_status() of daemon_status(@d), every 0.2 s: a failure shows the
    last status's collateral."""
    return wait_status(res, d, pred, what, limit, get=daemon_status, interval=0.2,
                       show=lambda s: s.get("collateral"))


def until_served(res, fetch, what, limit, served=(200,)):
    """Call fetch() every 0.2 s until its answer's first element is in
    @served: (that answer, every answer on the way, it included). After
    @limit s a check of @res fails with @what: (None, the answers)."""
    seen = []
    end = time.monotonic() + limit
    while time.monotonic() < end:
        a = fetch()
        seen.append(a)
        if a[0] in served:
            return a, seen
        time.sleep(0.2)
    res.check(False, "%s: never served again (last %r)" % (what, seen[-1:]))
    return None, seen


def log_lines(d, text):
    """The lines of @d's log that hold @text."""
    return [ln for ln in d.read_log().splitlines() if text in ln]


def snpctl_verify_evidence(d, tmp, data, nonce):
    """snpctl verify of the evidence document @data (bytes) for @nonce
    (hex), offline, trusting @d's simulated ARK, its cache in @tmp: (rc,
    the tails of its stdout and stderr)."""
    path = os.path.join(tmp, "evidence.json")
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run([SNPCTL, "verify", path, "--trust-ark", os.path.join(d.sim, "ark.pem"),
                        "--offline", "--nonce", nonce, "--cache-dir",
                        os.path.join(tmp, "verify-cache")],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout[-600:] + p.stderr[-600:]


def fuse_evidence(d, tmp):
    """One read of evidence/<a fresh nonce> of @d, verified with
    snpctl_verify_evidence(): (errno or 0, TCB of its report, verify rc,
    verify output)."""
    nonce = os.urandom(32).hex()
    try:
        with open(d.path("evidence", nonce), "rb") as f:
            data = f.read()
    except OSError as e:
        return e.errno, None, None, ""
    doc = json.loads(data)
    rc, out = snpctl_verify_evidence(d, tmp, data, nonce)
    return 0, report_tcb(base64.b64decode(doc["report"])), rc, out


def vcek_ucode(pem):
    """The microcode SPL (extension 1.3.6.1.4.1.3704.1.3.8) of the AMD
    leaf certificate @pem (str or bytes; its first certificate).
    Needs python3-cryptography."""
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier
    c = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    raw = c.extensions.get_extension_for_oid(
        ObjectIdentifier("1.3.6.1.4.1.3704.1.3.8")).value.value
    return int.from_bytes(raw[2:2 + raw[1]], "big")


def report_certs(d, timeout=120):
    """GET /v1/report?certs=1 of @d: (status, problem type, TCB of the
    report, microcode SPL of the VCEK attached or None)."""
    st, data = api_get(d, "/v1/report?certs=1&nonce=" + os.urandom(16).hex(), timeout=timeout)
    if st != 200:
        return st, problem_type(data), None, None
    j = json.loads(data)
    pem = (j.get("certificates") or {}).get("vcek")
    return st, None, report_tcb(base64.b64decode(j["report"])), vcek_ucode(pem) if pem else None


def served_crl_next_update(d):
    """nextUpdate of @d's certs/crl.der in seconds since the epoch, None
    without one. Needs python3-cryptography."""
    from cryptography import x509
    try:
        with open(d.path("certs", "crl.der"), "rb") as f:
            nu = x509.load_der_x509_crl(f.read()).next_update  # naive UTC
    except (OSError, ValueError):
        return None
    return int((nu - nu.__class__(1970, 1, 1)).total_seconds())


def sorted_listdir(p):
    """The names in directory @p, sorted; [] when it cannot be read."""
    try:
        return sorted(os.listdir(p))
    except OSError:
        return []
