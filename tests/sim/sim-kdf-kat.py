# SPDX-License-Identifier: Apache-2.0
"""Known-answer test of the simulated firmware's key derivation.

For a set of MSG_KEY_REQ variants, `snpctl key --backend=sim:DIR` must print
exactly what an independent computation gives: NIST SP 800-108 counter-mode
HMAC-SHA256 (i = 1 LE32 || "gmsg-keyreq" || 0x00 || MIX_DATA || L = 256
LE32) over the 168-byte MIX_DATA of snp-abi.md §6.2, keyed with the
simulator's root read from the state directory: the VMRK, or for the VCEK
HMAC-SHA384(vcek_seed, "SIMULATED-TCB-HASH-STICK" || TCB LE64) with the
requested TCB when tcb_version is selected, else the current TCB.
Only Python's hmac/hashlib/struct are used.
"""
import hashlib
import hmac
import os
import struct
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simtest  # noqa: E402

GFS = {"policy": 1, "image_id": 2, "family_id": 4, "measurement": 8, "guest_svn": 16,
       "tcb_version": 32}


def expected(params, secrets, root, fields, vmpl, svn, tcb):
    gfs = 0
    for f in fields:
        gfs |= GFS[f]
    idkey = bytes.fromhex(params["id_key_digest"])
    author = bytes.fromhex(params["author_key_digest"])
    author_en = params["author_key_en"] == "1"
    idsel = 0
    if any(idkey):
        idsel = 2 if author_en else 1
    key_select = (1 if root == "vmrk" else 0) | idsel << 1
    mix = struct.pack("<IIQII", key_select, 0, gfs, vmpl, svn if gfs & 16 else 0)
    mix += struct.pack("<Q", tcb if gfs & 32 else 0)
    mix += struct.pack("<Q", int(params["policy"], 16) if gfs & 1 else 0)
    mix += bytes.fromhex(params["image_id"]) if gfs & 2 else bytes(16)
    mix += bytes.fromhex(params["family_id"]) if gfs & 4 else bytes(16)
    mix += bytes.fromhex(params["measurement"])[:32] if gfs & 8 else bytes(32)
    mix += bytes.fromhex(params["host_data"])
    mix += (author if idsel == 2 else idkey if idsel == 1 else bytes(48))[:32]
    assert len(mix) == 168
    if root == "vmrk":
        rootkey = bytes.fromhex(secrets["vmrk"])
    else:
        t = tcb if gfs & 32 else int(params["current_tcb"], 16)
        rootkey = hmac.new(bytes.fromhex(secrets["vcek_seed"]),
                           b"SIMULATED-TCB-HASH-STICK" + struct.pack("<Q", t),
                           hashlib.sha384).digest()
    msg = struct.pack("<I", 1) + b"gmsg-keyreq" + b"\0" + mix + struct.pack("<I", 256)
    return hmac.new(rootkey, msg, hashlib.sha256).hexdigest()


def main():
    d = simtest.new_state("Genoa")
    try:
        simtest.write_kv_update(os.path.join(d, "params"), {
            "image_id": "00112233445566778899aabbccddeeff",
            "family_id": "ffeeddccbbaa99887766554433221100",
            "host_data": "42" * 32,
            "id_key_digest": "a5" * 48,
            "author_key_digest": "5a" * 48,
            "guest_svn": "9",
            "policy": "0x00000000000b0000",
        })
        params = simtest.read_kv(os.path.join(d, "params"))
        secrets = simtest.read_kv(os.path.join(d, "secrets"))
        committed = int(params["committed_tcb"], 16)
        older = committed - (1 << 56)  # microcode SVN one lower
        cases = [
            ("vcek", [], 0, 0, 0),
            ("vcek", ["measurement"], 0, 0, 0),
            ("vcek", ["policy", "image_id", "family_id", "measurement"], 1, 0, 0),
            ("vcek", ["guest_svn"], 0, 9, 0),
            ("vcek", ["guest_svn", "tcb_version"], 2, 3, committed),
            ("vcek", ["tcb_version"], 3, 0, older),
            ("vmrk", [], 0, 0, 0),
            ("vmrk", list(GFS), 3, 1, older),
        ]
        n = 0
        for author_en in ("0", "1"):
            simtest.write_kv_update(os.path.join(d, "params"), {"author_key_en": author_en})
            params = simtest.read_kv(os.path.join(d, "params"))
            for root, fields, vmpl, svn, tcb in cases:
                cmd = [simtest.SNPCTL, "key", "--backend=sim:" + d, "--root", root,
                       "--vmpl", str(vmpl), "--svn", str(svn), "--tcb", "%x" % tcb]
                if fields:
                    cmd += ["--fields", ",".join(fields)]
                got = subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                                     text=True).stdout.strip()
                want = expected(params, secrets, root, fields, vmpl, svn, tcb)
                if got != want:
                    simtest.fail("%s %s vmpl %d svn %d tcb %x author %s: got %s want %s" %
                                 (root, fields, vmpl, svn, tcb, author_en, got, want))
                n += 1
        print("ok: %d derived keys equal the independent HMAC-SHA256 KDF" % n)
    finally:
        simtest.cleanup(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
