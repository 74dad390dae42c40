# SPDX-License-Identifier: Apache-2.0
"""A report whose CHIP_ID is masked by the platform (MASK_CHIP_ID: all
zero) gets chip_match skipped with that reason by `snpctl verify`, not
failed; `--require-chip-id` makes it a failure (exit 1). An unmasked
report still passes chip_match, with or without the option."""
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simtest  # noqa: E402


def verify(d, *extra):
    p = subprocess.run([simtest.SNPCTL, "verify", os.path.join(d, "r.bin"), "--certs",
                        os.path.join(d, "certs"), "--trust-ark",
                        os.path.join(d, "certs", "ark.pem"), "--json"] + list(extra),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        simtest.fail("no JSON from snpctl verify (rc %d): %s %s" % (p.returncode, p.stdout,
                                                                     p.stderr))
    chip = [c for c in doc["checks"] if c["name"] == "chip_match"]
    if len(chip) != 1:
        simtest.fail("chip_match missing: %r" % doc["checks"])
    return p.returncode, chip[0]


def report(d):
    subprocess.run([simtest.SNPCTL, "report", "--backend=sim:" + d, "--nonce", "00ff", "-o",
                    os.path.join(d, "r.bin"), "--certs-dir", os.path.join(d, "certs")],
                   check=True)
    with open(os.path.join(d, "r.bin"), "rb") as f:
        return f.read()


def main():
    for product in ("Milan", "Turin"):
        d = simtest.new_state(product)
        try:
            r = report(d)
            if not any(r[0x1a0:0x1e0]):
                simtest.fail("%s: the unmasked chip id is zero" % product)
            rc, c = verify(d)
            if rc != 0 or c["result"] != "passed":
                simtest.fail("%s unmasked: rc %d, chip_match %r" % (product, rc, c))

            simtest.write_kv_update(os.path.join(d, "params"), {"mask_chip_id": "1"})
            r = report(d)
            if any(r[0x1a0:0x1e0]):
                simtest.fail("%s: mask_chip_id=1 but CHIP_ID is not zero" % product)
            rc, c = verify(d)
            if rc != 0 or c["result"] != "skipped" or "masked" not in c["detail"]:
                simtest.fail("%s masked: rc %d (expected 0), chip_match %r (expected "
                             "skipped, masked)" % (product, rc, c))
            print("ok: %s masked chip id: chip_match skipped: %s" % (product, c["detail"]))
            rc, c = verify(d, "--require-chip-id")
            if rc != 1 or c["result"] != "failed" or "masked" not in c["detail"]:
                simtest.fail("%s masked, --require-chip-id: rc %d (expected 1), %r" %
                             (product, rc, c))
            print("ok: %s masked chip id with --require-chip-id: failed: %s" %
                  (product, c["detail"]))
            simtest.write_kv_update(os.path.join(d, "params"), {"mask_chip_id": "0"})
            report(d)
            rc, c = verify(d, "--require-chip-id")
            if rc != 0 or c["result"] != "passed":
                simtest.fail("%s unmasked, --require-chip-id: rc %d, %r" % (product, rc, c))
        finally:
            simtest.cleanup(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
