#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The API socket (Socket=) is never made by following a name another user
controls: a socket directory writable by group or others is refused at
start, so is a symlinked directory on the way (or at the socket's own name),
and the socket gets its mode and owner (SocketMode=, SocketUser=,
SocketGroup=) without chmod/chown by path."""

import os
import pwd
import stat

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
NOBODY = pwd.getpwnam("nobody").pw_uid


def start_with(d, sock, config=""):
    open(d.log, "w").close()
    d.api = sock
    d.write_config(config)
    try:
        d.start()
    except RuntimeError:  # it exited before READY=1
        return d.proc.returncode
    return 0  # it started


with h.Daemon(args=["--no-fs"]) as d:
    # a world-writable directory (not sticky): anybody could swap the name
    ww = os.path.join(d.tmp, "ww")
    os.mkdir(ww)
    os.chmod(ww, 0o777)
    rc = start_with(d, os.path.join(ww, "api.sock"))
    log = d.read_log()
    res.check(rc != 0 and "writable by group or others" in log and ww in log,
              "Socket= in a world-writable directory is refused (rc %r): %s" % (
                  rc, log.strip().splitlines()[-1:] if log.strip() else ""))
    res.check(not os.path.exists(os.path.join(ww, "api.sock")),
              "no socket was made in the world-writable directory")
    d.stop()

    # a group-writable one, too
    gw = os.path.join(d.tmp, "gw")
    os.mkdir(gw)
    os.chmod(gw, 0o775)
    rc = start_with(d, os.path.join(gw, "api.sock"))
    res.check(rc != 0 and "writable by group or others" in d.read_log(),
              "Socket= in a group-writable directory is refused")
    d.stop()

    # a symlinked parent directory
    real = os.path.join(d.tmp, "real")
    os.mkdir(real, 0o755)
    link = os.path.join(d.tmp, "link")
    os.symlink(real, link)
    rc = start_with(d, os.path.join(link, "api.sock"))
    res.check(rc != 0 and "symlink" in d.read_log(),
              "Socket= through a symlinked directory is refused")
    res.check(not os.path.exists(os.path.join(real, "api.sock")),
              "no socket was made through the symlink")
    d.stop()

    # a symlinked directory higher up
    os.mkdir(os.path.join(real, "sub"), 0o755)
    rc = start_with(d, os.path.join(link, "sub", "api.sock"))
    res.check(rc != 0 and "symlink" in d.read_log(),
              "Socket= below a symlinked directory is refused")
    d.stop()

    # a symlink where the socket goes (pointing at a file to chmod) is not followed
    victim = os.path.join(d.tmp, "victim")
    with open(victim, "w") as f:
        f.write("x")
    os.chmod(victim, 0o600)
    os.symlink(victim, os.path.join(real, "api.sock"))
    rc = start_with(d, os.path.join(real, "api.sock"), "[HTTP]\nSocketMode=0666\n")
    st = os.stat(victim)
    res.check(rc != 0 and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0,
              "a symlink at the socket's name is refused, its target untouched")
    os.unlink(os.path.join(real, "api.sock"))
    d.stop()

    # the socket gets its mode and owner; a stale socket is replaced
    sockdir = os.path.join(d.tmp, "run", "snpd")
    os.mkdir(os.path.join(d.tmp, "run"), 0o755)
    sock = os.path.join(sockdir, "api.sock")
    d.api = sock
    d.write_config("[HTTP]\nSocketMode=0660\nSocketUser=nobody\nSocketGroup=%d\n" % os.getgid())
    d.start()
    st = os.lstat(sock)
    res.check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660 and
              st.st_uid == NOBODY and st.st_gid == os.getgid(),
              "the socket is 0660 nobody:%d (%o %d:%d)" % (
                  os.getgid(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
    dst = os.stat(sockdir)
    res.check(stat.S_IMODE(dst.st_mode) == 0o755, "a missing socket directory is made 0755")
    c = h.UnixHTTPConnection(sock)
    c.request("GET", "/healthz")
    res.check(c.getresponse().status == 200, "the API answers on it")
    d.stop()
    # the next start replaces the socket the last one left (it is removed at stop)
    res.check(not os.path.exists(sock), "the socket is removed at stop")
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)
    s.close()
    d.write_config("[HTTP]\nSocketMode=0600\n")
    d.start()
    st = os.lstat(sock)
    res.check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and
              st.st_uid == 0, "a stale socket is replaced, mode 0600 root")

res.done()
