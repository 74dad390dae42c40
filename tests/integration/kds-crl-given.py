# SPDX-License-Identifier: Apache-2.0
"""snpctl and the CRLs it is handed, against the KDS emulator
(tests/helpers/kds-emulator.py) serving a simulated chip; never the real KDS:
a CRL whose issuer holds control bytes and bytes that are not UTF-8: the
error snpctl prints shows them escaped, as printable ASCII."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SNP_TOP_SRCDIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "helpers"))
import simtest  # noqa: E402

if not os.access(simtest.SNPCTL, os.X_OK):
    simtest.skip("snpctl not built")
try:
    import cryptography  # noqa: F401
except ImportError:
    simtest.skip("python3-cryptography missing")
import kdsemu  # noqa: E402

failures = 0


def check(ok, what):
    global failures
    print(("PASS: " if ok else "FAIL: ") + what)
    if not ok:
        failures += 1


def run(*args):
    p = subprocess.run([simtest.SNPCTL] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr


def main():
    d = simtest.new_state("Milan")
    tmp = tempfile.mkdtemp(prefix="snp-kds-crl-given.")
    emu = kdsemu.Emulator(d)
    try:
        rpt = os.path.join(tmp, "r.bin")
        subprocess.run([simtest.SNPCTL, "report", "--backend=sim:" + d, "--nonce", "00ff",
                        "-o", rpt], check=True, stdout=subprocess.DEVNULL)
        ark = os.path.join(d, "ark.pem")

        # a CRL issuer that is no text: escaped in snpctl's error
        emu.set(mode="badissuer")
        rc, out, err = run("collateral", "fetch", rpt, "--cache-dir", os.path.join(tmp, "c2"),
                           "--trust-ark", ark, "--kds-url", emu.url)
        bad = [b for b in err if b < 0x20 and b != 0x0a or b > 0x7e]
        check(rc != 0 and b"CRL issuer is" in err and not bad and b"\\x1b" in err,
              "a CRL issuer with control and non-UTF-8 bytes: snpctl's error escapes them: rc "
              "%d, raw bytes %r: %s" % (rc, bytes(bad), err.decode(errors="replace").strip()))
        emu.set(mode="normal")
    finally:
        emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        simtest.cleanup(d)
    if failures:
        print("FAIL: %d check(s) failed" % failures)
        sys.exit(1)


main()
