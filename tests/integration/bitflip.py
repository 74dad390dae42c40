# SPDX-License-Identifier: Apache-2.0
"""Flipping one bit anywhere in the signed region (0x000-0x29f) or in the
signature (0x2a0-0x49f) of a genuine report makes snpctl verify fail.
Positions are sampled with a fixed seed; every positive report vector is used,
and the signed region and the signature are both sampled in every one."""

import os
import random
import tempfile

import snptest as t

SIGNED_SAMPLES = int(os.environ.get("SNP_BITFLIP_SIGNED", "40"))
SIG_SAMPLES = int(os.environ.get("SNP_BITFLIP_SIG", "24"))

t.need_testdata()
res = t.Results()
rng = random.Random(0x5E5)

with tempfile.TemporaryDirectory() as tmp:
    for v in t.manifest()["vectors"]:
        if not v.get("report") or v.get("expect"):
            continue
        report = t.load_report(v)
        args = t.verify_args(v, os.path.join(tmp, "r.bin")) + ["--allow-debug",
                                                               "--allow-provisional"]
        with open(os.path.join(tmp, "r.bin"), "wb") as f:
            f.write(report)
        rc, _, _, _ = t.verify_json(args)
        res.check(rc == 0, "%s: unmodified report verifies" % v["name"])
        # always include the edges of both regions
        bits = [0, 0x29F * 8 + 7, 0x2A0 * 8, 0x49F * 8 + 7]
        bits += rng.sample(range(0, 0x2A0 * 8), SIGNED_SAMPLES)
        bits += rng.sample(range(0x2A0 * 8, 0x4A0 * 8), SIG_SAMPLES)
        accepted = []
        for bit in bits:
            flipped = bytearray(report)
            flipped[bit // 8] ^= 1 << (bit % 8)
            with open(os.path.join(tmp, "r.bin"), "wb") as f:
                f.write(flipped)
            rc, doc, _, err = t.verify_json(args)
            # 1: verification failed; 3: the flip made the report malformed
            if rc not in (1, 3):
                accepted.append((hex(bit // 8), bit % 8, rc))
        res.check(not accepted, "%s: %d single-bit flips all rejected%s" % (
            v["name"], len(bits), "" if not accepted else " -- accepted: %r" % accepted))

res.done()
