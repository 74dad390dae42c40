# SPDX-License-Identifier: Apache-2.0
"""`snpctl sim init --host-certs=full|none|stale`: what the simulated host
hands out with an extended report. With `stale` the table holds the real
ASK and ARK and a VCEK of the same chip (same hwID, issued by the ASK) for
an older TCB, with that TCB's key, as a host not updated after a firmware
change:
 - `snpctl verify` with only that table (offline, empty cache) fails
   tcb_match (exit 1) saying the certificate is for another TCB, and
   report_sig, since the VCEK of another TCB is another key (as on
   hardware);
 - with the KDS emulator it replaces the stale VCEK by the report's own
   (one request), then from the cache with no request, and verifies;
 - `none`: no table; `full`: the chip's own VCEK, no replacement."""
import json
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import simtest  # noqa: E402

try:
    from cryptography.hazmat.primitives import serialization
except ImportError:
    simtest.skip("python3-cryptography missing")
import kdsemu  # noqa: E402

check = simtest.check
run = kdsemu.snpctl
load = kdsemu.load_pem
ext = kdsemu.amd_ext


def pub(cert):
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def spls(cert):
    return {n: ext(cert, "3.%d" % n) for n in (1, 2, 3, 8, 9)}


def cert_table(certs_dir, path):
    """The GHCB certificate table of the PEM files the backend wrote, to
    @path (no CRL entry)."""
    with open(path, "wb") as f:
        f.write(kdsemu.cert_table(certs_dir, None))


def verify(d, tmp, certs, cache, *extra):
    rc, out, err = run("verify", os.path.join(tmp, "r.bin"), *certs, "--trust-ark",
                       os.path.join(d, "ark.pem"), "--cache-dir", cache, "--json", *extra)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = {}
    checks = {c["name"]: c for c in doc.get("checks", [])}
    return rc, doc, checks, err


def scenario(product, d, tmp):
    certs = os.path.join(tmp, "certs")
    rc, _, err = run("report", "--backend=sim:" + d, "--nonce", "00ff", "-o",
                     os.path.join(tmp, "r.bin"), "--certs-dir", certs)
    check(rc == 0, "%s stale: extended report with the host's table: rc %d %s" %
          (product, rc, err.strip()))
    if rc != 0:
        return
    own, got = load(os.path.join(d, "vcek.pem")), load(os.path.join(certs, "vcek.pem"))
    same_ca = all(load(os.path.join(d, n)) == load(os.path.join(certs, n))
                  for n in ("ask.pem", "ark.pem"))
    check(same_ca and got.issuer == own.issuer and ext(got, "4") == ext(own, "4") and
          pub(got) != pub(own) and spls(got) != spls(own),
          "%s stale: the table holds the real ASK/ARK and a VCEK of this chip (same hwID, "
          "issued by the ASK) with other SPLs and so another key: %r, own %r" % (
              product, spls(got), spls(own)))

    table = os.path.join(tmp, "table.bin")
    cert_table(certs, table)
    for how in (["--certs", certs], ["--cert-table", table]):
        cache = tempfile.mkdtemp(dir=tmp)
        rc, doc, checks, err = verify(d, tmp, how, cache, "--offline")
        tm = checks.get("tcb_match", {})
        rs = checks.get("report_sig", {})
        check(rc == 1 and tm.get("result") == "failed" and "another TCB" in tm.get("detail", "")
              and rs.get("result") == "failed" and
              doc.get("sources", {}).get("stale_leaf") and "Stale certificates" in err,
              "%s stale, %s only, offline: rc %d (1), tcb_match %r, report_sig %r, "
              "stale_leaf %r" % (product, how[0], rc, tm, rs,
                                 doc.get("sources", {}).get("stale_leaf")))

    emu = kdsemu.Emulator(d)
    try:
        cache = os.path.join(tmp, "cache")
        rc, doc, checks, err = verify(d, tmp, ["--certs", certs], cache, "--kds-url", emu.url)
        n = emu.count()
        src = doc.get("sources", {})
        check(rc == 0 and checks.get("tcb_match", {}).get("result") == "passed" and
              src.get("leaf") == "kds" and src.get("stale_leaf") and n == 2,
              # the VCEK, and the cert_chain that checks its signature before it is cached
              "%s stale + KDS emulator: rc %d (0), leaf from %r (kds), %d requests (2), "
              "tcb_match %r %s" % (product, rc, src.get("leaf"), n,
                                   checks.get("tcb_match"), err.strip()))
        rc, doc, checks, err = verify(d, tmp, ["--cert-table", table], cache, "--kds-url",
                                      emu.url)
        check(rc == 0 and doc.get("sources", {}).get("leaf") == "cache" and emu.count() == n,
              "%s stale, again: rc %d, the report's VCEK from %r (cache), %d new requests" %
              (product, rc, doc.get("sources", {}).get("leaf"), emu.count() - n))
    finally:
        emu.stop()

    # full: the chip's own VCEK, nothing replaced
    simtest.write_kv_update(os.path.join(d, "params"), {"host_certs": "full"})
    shutil.rmtree(certs)
    rc, _, err = run("report", "--backend=sim:" + d, "--nonce", "00ff", "-o",
                     os.path.join(tmp, "r.bin"), "--certs-dir", certs)
    rc2, doc, checks, err2 = verify(d, tmp, ["--certs", certs], tempfile.mkdtemp(dir=tmp),
                                    "--offline")
    check(rc == 0 and rc2 == 0 and load(os.path.join(certs, "vcek.pem")) == own and
          not doc.get("sources", {}).get("stale_leaf") and doc["sources"]["leaf"] == "given",
          "%s full: the chip's own VCEK, verified as given: rc %d/%d %s" %
          (product, rc, rc2, err2.strip()))
    # none: an extended request gets no table
    simtest.write_kv_update(os.path.join(d, "params"), {"host_certs": "none"})
    rc, _, err = run("report", "--backend=sim:" + d, "--nonce", "00ff", "-o",
                     os.path.join(tmp, "r2.bin"), "--certs-dir", os.path.join(tmp, "c2"))
    check(rc == 4 and "no certificates" in err,
          "%s none: the host hands out no certificates: rc %d (4) %s" %
          (product, rc, err.strip()))


def main():
    tmp = tempfile.mkdtemp(prefix="snp-host-certs.")
    dirs = []
    try:
        # the option of `snpctl sim init` itself (one RSA identity)
        d = os.path.join(tmp, "genoa")
        rc, _, err = run("sim", "init", "--dir", d, "--product", "Genoa",
                         "--host-certs=stale")
        params = simtest.read_kv(os.path.join(d, "params")) if rc == 0 else {}
        check(rc == 0 and params.get("host_certs") == "stale",
              "sim init --host-certs=stale: rc %d, params host_certs=%r %s" %
              (rc, params.get("host_certs"), err.strip()))
        rc2, _, err2 = run("sim", "init", "--dir", os.path.join(tmp, "bad"),
                           "--host-certs=sometimes")
        check(rc2 != 0 and "host" in err2,
              "sim init --host-certs=sometimes is refused: rc %d %s" % (rc2, err2.strip()))
        if rc == 0:
            t = os.path.join(tmp, "g")
            os.mkdir(t)
            scenario("Genoa", d, t)
        # Turin (8-byte hwID, fmc SPL) from the template state
        d = simtest.new_state("Turin")
        dirs.append(d)
        simtest.write_kv_update(os.path.join(d, "params"), {"host_certs": "stale"})
        t = os.path.join(tmp, "t")
        os.mkdir(t)
        scenario("Turin", d, t)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for d in dirs:
            simtest.cleanup(d)
    simtest.done()


if __name__ == "__main__":
    main()
