# SPDX-License-Identifier: Apache-2.0
"""`snpctl report --backend=sim:DIR --certs-dir D` against a host whose
certificate table is larger than a guest takes (the fault certs_small with
certs_pages=P, P > 4 pages = 16 KiB): as snpd does, the report is taken
without the host's table. Exit 0, the report written and bound to the
nonce, verifying with the chip's own VCEK; no certificates in D; a warning
on stderr that says so and gives the host's size. The guest's messages go
on (a plain report afterwards works). A host that contradicts itself
(asks for no more than the area it was given) is still an error, and a
host with a table that fits still fills D."""
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import simtest  # noqa: E402
import kdsemu  # noqa: E402

check = simtest.check


run = kdsemu.snpctl  # bounded: a stuck snpctl fails the test instead of hanging it


def faults(d, spec):
    rc, _, err = run("sim", "faults", "--dir", d, spec)
    if rc != 0:
        simtest.fail("sim faults %s: rc %d %s" % (spec, rc, err.strip()))


def main():
    d = simtest.new_state("Milan")
    tmp = tempfile.mkdtemp(prefix="snp-report-certs-large.")
    nonce = "5a" * 64
    try:
        # a table of 5 pages (20 KiB), for good
        faults(d, "certs_small=1000000,certs_pages=5")
        out, certs = os.path.join(tmp, "r.bin"), os.path.join(tmp, "certs")
        rc, _, err = run("report", "--backend=sim:" + d, "--nonce", nonce, "-o", out,
                         "--certs-dir", certs)
        check(rc == 0, "a table larger than 16 KiB: exit 0 (rc %d) %s" % (rc, err.strip()))
        check("20480" in err and "not written" in err and "without them" in err,
              "stderr says the certificates are not written, why and the host's size: %r" %
              err.strip())
        data = open(out, "rb").read() if os.path.exists(out) else b""
        check(len(data) == 1184 and data[0x50:0x90] == bytes.fromhex(nonce),
              "the report is written and bound to the nonce (%d bytes)" % len(data))
        check(not os.path.exists(os.path.join(certs, "vcek.pem")),
              "no host certificates in --certs-dir")
        rc, _, verr = run("verify", out, "--certs", d, "--trust-ark",
                          os.path.join(d, "ark.pem"), "--offline",
                          "--cache-dir", os.path.join(tmp, "cache"), "--report-data", nonce)
        check(rc == 0, "the report verifies with the chip's own chain (rc %d) %s" %
              (rc, verr.strip()[-300:]))
        rc, _, err = run("report", "--backend=sim:" + d, "-o", os.path.join(tmp, "r2.bin"))
        check(rc == 0, "a plain report afterwards: the guest's messages go on (rc %d) %s" %
              (rc, err.strip()))

        # a host contradicting itself (1 page asked, 4 given): still an error
        faults(d, "certs_small=1,certs_pages=1")
        rc, _, err = run("report", "--backend=sim:" + d, "-o", os.path.join(tmp, "r3.bin"),
                         "--certs-dir", os.path.join(tmp, "c3"))
        check(rc == 4 and "too small" in err,
              "a host asking for no more than it was given: exit 4 (rc %d) %s" %
              (rc, err.strip()))

        # a table that fits: written as before, no warning
        faults(d, "none")
        rc, _, err = run("report", "--backend=sim:" + d, "-o", os.path.join(tmp, "r4.bin"),
                         "--certs-dir", os.path.join(tmp, "c4"))
        check(rc == 0 and os.path.exists(os.path.join(tmp, "c4", "vcek.pem")) and
              "not written" not in err,
              "a table that fits: the certificates written, no warning (rc %d) %s" %
              (rc, err.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        simtest.cleanup(d)
    simtest.done()


if __name__ == "__main__":
    main()
