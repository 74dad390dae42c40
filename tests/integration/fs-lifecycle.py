# SPDX-License-Identifier: Apache-2.0
"""snpd as a service: READY/STATUS/RELOADING/STOPPING notifications, SIGHUP
applies a changed configuration (and a bad one changes nothing), SIGTERM
unmounts, kill -9 then a restart recovers the mountpoint, configuration
errors exit 78 naming file and line, auto never falls back to the
simulator, --dump-config shows the effective configuration."""

import json
import os
import signal
import shutil
import subprocess
import tempfile

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()

with h.Daemon(config="[Filesystem]\nMode=0444\n") as d:
    d.start()
    res.check(any("STATUS=" in m for m in d.messages), "STATUS= sent with READY=1")
    res.check(oct(os.stat(d.path("measurement")).st_mode & 0o777) == "0o444", "mode 0444")

    # reload with a changed configuration
    d.write_config("[Filesystem]\nMode=0440\n\n[Key:added]\nFields=measurement\n")
    msg = d.reload()
    res.check(oct(os.stat(d.path("measurement")).st_mode & 0o777) == "0o440",
              "SIGHUP applied Mode=0440")
    res.check(os.listdir(d.path("keys")) == ["added"], "SIGHUP added keys/added")
    st = json.loads(open(d.path("status"), "rb").read())
    res.check(st["reloads"] == 1 and st["view_generation"] == 2,
              "reload counted and the view rebuilt: %r" % ((st["reloads"],
                                                            st["view_generation"]),))

    # a bad configuration on reload changes nothing and the daemon keeps serving
    d.write_config("[Filesystem]\nMode=banana\n")
    d.reload()
    res.check(oct(os.stat(d.path("measurement")).st_mode & 0o777) == "0o440",
              "a bad reload keeps the running configuration")
    res.check("snpd.conf:2: Mode=banana" in d.read_log(), "the bad reload names file:line")
    res.check(len(open(d.path("report"), "rb").read()) == 1184, "still serving after it")

    # kill -9 leaves a dead mount; a restart clears it and serves again
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    try:
        os.listdir(d.mnt)
        stale = False
    except OSError as e:
        stale = e.errno == 107  # ENOTCONN
    res.check(stale, "after kill -9 the mountpoint is a dead mount (ENOTCONN)")
    d.stop()
    d.write_config("")
    d.start()
    res.check(len(open(d.path("report"), "rb").read()) == 1184, "restart recovered the mount")
    noticed = "Clearing a stale mount" in d.read_log()
    res.check(noticed, "the stale mount was noticed" + ("" if noticed else
                                                         ":\n" + d.read_log()[-600:]))

    # SIGTERM: STOPPING=1, clean unmount, exit 0
    d.proc.send_signal(signal.SIGTERM)
    d.wait_for("STOPPING=1", 10)
    rc = d.stop()
    res.check(rc == 0 and not os.path.ismount(d.mnt),
              "SIGTERM stops (%s) and unmounts (%s)" % (rc, os.path.ismount(d.mnt)))

    # configuration errors: exit 78, FILE:LINE in the message
    for text, msg in (("[Daemon]\nNoSuchKey=1\n", "snpd.conf:2: unknown key 'NoSuchKey'"),
                      ("[Nope]\n", "snpd.conf:1: unknown section [Nope]"),
                      ("[Daemon]\nQueueSize=0\n", "QueueSize"),
                      ("[Daemon]\nVmpl=7\n", "snpd.conf:2: Vmpl=7"),
                      ("[Key:bad/name]\n", "snpd.conf:1: key profile name"),
                      ("Backend=sim\n", "snpd.conf:1: 'Backend' outside of any section"),
                      ("[Filesystem]\nUser=no-such-user-xyz\n", "no such user")):
        d.write_config(text)
        rc = d.start(expect_fail=True)
        log = d.read_log()
        res.check(rc == 78 and msg in log, "config %r: exit %d, names %r" % (text, rc, msg))
        d.stop()
    d.write_config("")
    for args, msg in ((["--vmpl", "9"], "--vmpl"), (["--no-such-option"], "")):
        p = subprocess.run([h.SNPD, "--config", d.conf] + args, capture_output=True)
        res.check(p.returncode == 78, "command line %s: exit %d" % (args, p.returncode))
    p = subprocess.run([h.SNPD, "--config", os.path.join(d.tmp, "missing.conf")],
                       capture_output=True)
    res.check(p.returncode == 78 and b"missing.conf" in p.stderr, "a missing --config is 78")

    # drop-ins override the main file in order; the command line overrides both
    os.mkdir(d.conf + ".d")
    with open(os.path.join(d.conf + ".d", "10-a.conf"), "w") as f:
        f.write("[Daemon]\nQueueSize=10\nRateLimit=5\n")
    with open(os.path.join(d.conf + ".d", "20-b.conf"), "w") as f:
        f.write("[Daemon]\nQueueSize=20\n")
    d.write_config("[Daemon]\nQueueSize=5\nRateBurst=7\n")
    p = subprocess.run([h.SNPD, "--config", d.conf, "--rate-limit", "9", "--dump-config"],
                       capture_output=True, text=True)
    res.check(p.returncode == 0 and "QueueSize=20\n" in p.stdout and "RateLimit=9\n" in p.stdout
              and "RateBurst=7\n" in p.stdout, "drop-ins and command line layered")

    # auto: no device here, and never a silent fallback to the simulator
    if not os.path.exists("/dev/sev-guest") and not os.path.exists(
            "/sys/kernel/config/tsm/report"):
        p = subprocess.run([h.SNPD, "--config", d.conf, "--backend", "auto", "--no-fs"],
                           capture_output=True, text=True, timeout=30)
        res.check(p.returncode != 0 and "--backend=sim" in p.stderr,
                  "auto without a device exits and points to --backend=sim (%d)" % p.returncode)

# first use: the simulator's state directory and its parents are created
# (the README's main command starts with --backend=sim:/var/lib/snpd/sim)
with h.Daemon(sim_dir=os.path.join(tempfile.mkdtemp(prefix="snpd-fresh-"), "a", "b", "sim"),
              args=["--no-http"]) as d:
    d.start(timeout=60)
    st = os.stat(d.sim)
    res.check(len(open(d.path("report"), "rb").read()) == 1184 and st.st_mode & 0o777 == 0o700,
              "a new simulator directory (and parents) is created on first use, mode 0700")
    shutil.rmtree(os.path.dirname(os.path.dirname(os.path.dirname(d.sim))), ignore_errors=True)

res.done()
