# SPDX-License-Identifier: Apache-2.0
"""The split of snpd.service without systemd: this test plays the service
manager (a NOTIFY_SOCKET that keeps the fd store, answers barriers and
honours FDSTOREREMOVE=1). snpd-mount start mounts the view and stores the
connection as "fuse"; snpd runs as uid 65534 with no capabilities, takes it
(LISTEN_FDNAMES=fuse) and removes it from the store; another user reads
the report; kill -9 with readers blocked makes them fail instead of hang;
snpd-mount stop leaves no mount, also when nobody ever served the
connection; a live mount of a hand-run snpd is refused and left alone."""

import os
import signal
import socket
import subprocess
import threading
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
h.need_setpriv()
HELPER = os.path.join(os.path.dirname(h.SNPD), "snpd-mount")
if not os.access(HELPER, os.X_OK):
    print("SKIP: snpd-mount not built (%s)" % HELPER)
    raise SystemExit(h.SKIP)
NOBODY = 65534
res = t.Results()

CONFIG = """[Key:k]
Fields=measurement
"""


class Manager:
    """The part of systemd's notify socket and fd store this needs."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)  # snpd sends as uid 65534
        self.store = []  # (name, fd)
        self.messages = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                msg, fds, _, _ = socket.recv_fds(self.sock, 4096, 16)
            except OSError:
                return
            if not msg and not fds:
                return
            text = msg.decode(errors="replace")
            tags = text.split("\n")
            with self.cond:
                if "FDSTORE=1" in tags:
                    name = next((x[7:] for x in tags if x.startswith("FDNAME=")), "stored")
                    self.store += [(name, fd) for fd in fds]
                else:
                    for fd in fds:  # BARRIER=1: closing it is the answer
                        os.close(fd)
                if "FDSTOREREMOVE=1" in tags:
                    name = next((x[7:] for x in tags if x.startswith("FDNAME=")), None)
                    for n, fd in [e for e in self.store if e[0] == name]:
                        os.close(fd)
                    self.store = [e for e in self.store if e[0] != name]
                self.messages.append(text)
                self.cond.notify_all()

    def wait(self, pred, timeout=30):
        with self.cond:
            return self.cond.wait_for(pred, timeout)

    def take(self, name):
        with self.cond:
            return [fd for n, fd in self.store if n == name]

    def flush(self):
        with self.cond:
            for _, fd in self.store:
                os.close(fd)
            self.store = []

    def close(self):
        self.flush()
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def helper(mode, d, env):
    return subprocess.run([HELPER, mode, "--config", d.conf, "--mountpoint", d.mnt,
                           "--backend", d.backend], env=env, capture_output=True, text=True)


def mounts_at(path):
    """(fstype, source) of every mount at @path, bottom first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a, b = line.split(" - ", 1)
            if a.split()[4] == path:
                out.append(tuple(b.split()[:2]))
    return out


def status_field(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split()[1]
    return None


def blocked_in_fuse(pids):
    for p in pids:
        try:
            with open("/proc/%d/wchan" % p) as f:
                w = f.read()
        except OSError:
            return False
        if "fuse" not in w and "request_wait" not in w:
            return False
    return True


def wait_until(pred, timeout=10):
    """Poll @pred (an observation, not a readiness wait on a timer)."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def start_readers(path, n=3):
    return [subprocess.Popen(["cat", path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE) for _ in range(n)]


def reap(readers, timeout=30):
    """Exit statuses; None for a reader still blocked after @timeout (a hang)."""
    out = []
    for p in readers:
        try:
            p.wait(timeout=timeout)
            out.append(p.returncode)
        except subprocess.TimeoutExpired:
            out.append(None)
    return out


with h.Daemon(config=CONFIG) as d:
    os.makedirs(d.mnt, exist_ok=True)
    subprocess.run(["chown", "-R", "%d:%d" % (NOBODY, NOBODY), d.sim], check=True)
    m = Manager(os.path.join(d.tmp, "manager.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=m.path)
    try:
        # 1. snpd-mount start: the mount in this namespace, the fd in the store
        p = helper("start", d, env)
        res.check(p.returncode == 0, "snpd-mount start succeeds: %s" % p.stderr.strip())
        res.check(mounts_at(d.mnt) == [("fuse.snpd", "snpd.service")],
                  "one fuse.snpd mount of snpd.service at the mountpoint: %s" % mounts_at(d.mnt))
        fds = m.take("fuse")
        res.check(len(fds) == 1, "the store holds one fd named fuse")
        res.check(any("BARRIER=1" in x for x in m.messages),
                  "snpd-mount waited for the manager (BARRIER=1)")

        # 2. snpd as uid 65534 takes it
        log = open(os.path.join(d.tmp, "snpd.log"), "ab")

        def give_fd():
            os.dup2(fds[0], 3)

        cmd = ["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh",
               "setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
               h.SNPD, "--config", d.conf, "--backend", d.backend, "--mountpoint", d.mnt,
               "--no-http", "--event-log=", "--offline=yes", "--cache-dir="]
        denv = dict(env, LISTEN_FDS="1", LISTEN_FDNAMES="fuse")
        daemon = subprocess.Popen(cmd, env=denv, stdout=log, stderr=log, pass_fds=(3,),
                                  preexec_fn=give_fd)
        ready = m.wait(lambda: any("READY=1" in x.split("\n") for x in m.messages) or
                       daemon.poll() is not None)
        res.check(ready and daemon.poll() is None, "snpd (uid 65534) is READY: %s" %
                  d.read_log()[-300:])
        res.check(any("FDSTOREREMOVE=1" in x.split("\n") for x in m.messages) and
                  not m.take("fuse"), "snpd removed the connection from the store")
        res.check(status_field(daemon.pid, "Uid") == str(NOBODY) and
                  status_field(daemon.pid, "CapEff") == "0000000000000000",
                  "snpd runs as uid 65534 with CapEff 0")
        r = subprocess.run(["setpriv", "--reuid=65533", "--regid=65533", "--clear-groups",
                            "cat", d.path("report")], capture_output=True)
        res.check(r.returncode == 0 and len(r.stdout) == 1184,
                  "uid 65533 reads a 1184-byte report from the unprivileged snpd")
        st = os.stat(d.path("keys", "k"))
        res.check((st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o400),
                  "keys/k keeps root:root 0400")
        with open(d.path("keys", "k"), "rb") as f:
            res.check(len(f.read()) == 32, "root reads keys/k")

        # 3. kill -9 with readers blocked in a request: they fail, never hang
        daemon.send_signal(signal.SIGSTOP)
        readers = start_readers(d.path("report"))
        res.check(wait_until(lambda: blocked_in_fuse([x.pid for x in readers])),
                  "3 readers are blocked in FUSE requests to the stopped snpd")
        daemon.kill()
        daemon.wait()
        rcs = reap(readers)
        res.check(None not in rcs and 0 not in rcs,
                  "after kill -9 every blocked reader failed (exit %s): %s" % (
                      rcs, readers[0].stderr.read().decode().strip()))
        for x in readers:
            x.stderr.close()
        res.check(mounts_at(d.mnt) == [("fuse.snpd", "snpd.service")],
                  "the dead mount stays until snpd-mount stop")
        # the configuration broke meanwhile: stop does not depend on it
        d.write_config(CONFIG + "[Daemon]\nNoSuchKey=1\n")
        p = helper("stop", d, env)
        d.write_config(CONFIG)
        res.check(p.returncode == 0 and mounts_at(d.mnt) == [],
                  "snpd-mount stop leaves no mount, even with a broken configuration: %s" %
                  p.stderr.strip())

        # 4. nobody took the connection (snpd failed early): stop must not
        # leave a reader waiting for the fd the store still holds
        p = helper("start", d, env)
        res.check(p.returncode == 0 and len(m.take("fuse")) == 1,
                  "snpd-mount start again: a fresh connection in the store")
        readers = start_readers(d.path("report"), 1)
        res.check(wait_until(lambda: blocked_in_fuse([readers[0].pid])),
                  "a reader is blocked on the connection nobody serves")
        p = helper("stop", d, env)
        rcs = reap(readers)
        readers[0].stderr.close()
        res.check(p.returncode == 0 and rcs[0] not in (None, 0) and mounts_at(d.mnt) == [],
                  "snpd-mount stop aborts it (reader exit %s) and leaves no mount" % rcs)
        m.flush()

        # 5. a second instance: a hand-run snpd serves the mountpoint
        d.start()
        p = helper("start", d, env)
        res.check(p.returncode != 0 and "already a live FUSE mount" in p.stderr,
                  "snpd-mount start over a live mount fails clearly: %s" % p.stderr.strip())
        res.check(len(mounts_at(d.mnt)) == 1 and not m.take("fuse"),
                  "no second mount, nothing stored")
        p = helper("stop", d, env)
        with open(d.path("report"), "rb") as f:
            n = len(f.read())
        res.check(p.returncode == 0 and len(mounts_at(d.mnt)) == 1 and n == 1184,
                  "snpd-mount stop leaves the hand-run snpd's mount alone (it serves)")
        d.stop()
        res.check(mounts_at(d.mnt) == [], "the hand-run snpd unmounted by itself")

        # 5a. a user's FUSE mount named like ours (fusermount3 lets anyone
        # choose fsname= and subtype=, but writes the caller's uid into
        # user_id=): stop, which runs as root, leaves it alone
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        ufd = os.open("/dev/fuse", os.O_RDWR)
        opts = "fd=%d,rootmode=40000,user_id=65534,group_id=65534" % ufd
        if libc.mount(b"snpd.service", d.mnt.encode(), b"fuse.snpd", 0, opts.encode()) != 0:
            res.check(False, "a user-owned fuse.snpd mount: mount(2): %s" %
                      os.strerror(ctypes.get_errno()))
        else:
            p = helper("stop", d, env)
            res.check(p.returncode == 0 and mounts_at(d.mnt) == [("fuse.snpd", "snpd.service")],
                      "snpd-mount stop leaves a user-owned mount named snpd.service alone: "
                      "%s %s" % (mounts_at(d.mnt), p.stderr.strip()))
            subprocess.run(["umount", "-l", d.mnt], capture_output=True)
        os.close(ufd)

        # 6. outside a unit (no NOTIFY_SOCKET) it says what to do instead
        p = helper("start", d, dict(os.environ))
        res.check(p.returncode != 0 and "NOTIFY_SOCKET" in p.stderr and mounts_at(d.mnt) == [],
                  "snpd-mount start without a manager refuses: %s" % p.stderr.strip())
    finally:
        m.close()
        for _ in range(4):
            if not mounts_at(d.mnt):
                break
            subprocess.run(["umount", "-l", d.mnt], capture_output=True)
res.done()
