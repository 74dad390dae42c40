# SPDX-License-Identifier: Apache-2.0
"""Helpers for the simulator's Python tests (run with Debian's /usr/bin/python3).

They reuse tests/sim/sim-lib.sh for the template state, so the RSA-4096
identity is generated once per build tree.
"""
import os
import shutil
import subprocess
import sys
import tempfile

BUILD = os.environ.get("SNP_TOP_BUILDDIR", ".")
SRC = os.environ.get("SNP_TOP_SRCDIR", ".")
SNPCTL = os.environ.get("SNPCTL", os.path.join(BUILD, "cli", "snpctl"))


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


failures = 0


def check(ok, msg):
    """Print "ok: @msg", or "FAIL: @msg" and count the failure for done()."""
    global failures
    print(("ok: " if ok else "FAIL: ") + msg)
    if not ok:
        failures += 1


def done():
    """The test's end: fail() when a check() failed, else print PASS."""
    if failures:
        fail("%d check(s) failed" % failures)
    print("PASS")


def new_state(product="Milan"):
    """A fresh state directory copied from the template (caller removes it)."""
    tmp = tempfile.mkdtemp(prefix="snp-sim-py.")
    script = '. "%s/tests/sim/sim-lib.sh"; trap - EXIT; t=$(sim_template %s) && ' \
             'cp "$t"/params "$t"/secrets "$t"/*.pem "%s"/ && rm -rf "$SIM_TMP"' % (SRC, product, tmp)
    subprocess.run(["/bin/sh", "-c", script], check=True)
    os.chmod(tmp, 0o700)
    subprocess.run([SNPCTL, "sim", "relaunch", "--dir", tmp], check=True,
                   stdout=subprocess.DEVNULL)
    return tmp


def read_kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            k, v = line.split("=", 1)
            out[k] = v
    return out


def write_kv_update(path, updates):
    lines = []
    with open(path) as f:
        for line in f:
            k = line.split("=", 1)[0]
            if k in updates:
                line = "%s=%s\n" % (k, updates[k])
            lines.append(line)
    with open(path, "w") as f:
        f.writelines(lines)


def cleanup(d):
    shutil.rmtree(d, ignore_errors=True)
