# SPDX-License-Identifier: Apache-2.0
"""snpctl caches a cert_chain or CRL only under the root it trusts
(--trust-ark, else AMD's ARK compiled in), never under the ARK of a chain
that came from the cache or KDS itself. Against the KDS emulator
(tests/helpers/kds-emulator.py, mode forgedroot: a cert_chain under a forged
ARK with the right names, and a CRL signed by that forged ARK):
 - a hostile mirror: 'collateral fetch' (with or without --trust-ark) caches
   neither the forged chain nor its CRL, and says why; a later verify of the
   genuine simulated chain (--certs, --trust-ark) is not denied;
 - a chain cached under another root is not used: KDS is asked for the
   trusted one, which replaces it;
 - a cache writer planting the forged chain and CRL: verify ignores them
   (not denied), and a fetch of the genuine CRL replaces the planted one;
 - the genuine simulated chain with --trust-ark still caches its chain and
   CRL, and the CRL check passes.
Before this fix, the forged CRL was cached (accepted because the forged
chain's ARK, itself from the cache, signed it) and verify failed 'crl'."""
import json
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

check = simtest.check


def crl_of(out):
    """The check named "crl" of `snpctl verify --json` output @out and the
    sources: the check is None unless it is the one check of that name (not
    trusting kdsemu.crl_check to have picked it by name)."""
    cc, src = kdsemu.crl_check(out)
    try:
        names = [c.get("name") for c in json.loads(out).get("checks", [])]
    except (ValueError, AttributeError):
        return None, {}
    if cc is None or cc.get("name") != "crl" or names.count("crl") != 1:
        return None, src
    return cc, src


def skipped(cc, src):
    """@cc is the "crl" check skipped for want of a CRL, none used."""
    return cc is not None and cc["name"] == "crl" and cc["result"] == "skipped" and \
        cc["detail"] == "no CRL available" and src.get("crl") is None


def passed(cc):
    """@cc is the "crl" check passed on a current CRL signed by the ARK."""
    return cc is not None and cc["name"] == "crl" and cc["result"] == "passed" and \
        "not revoked (CRL signed by the ARK, current until" in cc["detail"]


def files(d):
    return sorted(f for f in os.listdir(d) if not f.startswith(".")) \
        if os.path.isdir(d) else []


def main():
    d = simtest.new_state("Milan")
    tmp = tempfile.mkdtemp(prefix="snp-kds-crl-trust.")
    emu = kdsemu.Emulator(d)
    try:
        rpt = os.path.join(tmp, "r.bin")
        subprocess.run([simtest.SNPCTL, "report", "--backend=sim:" + d, "--nonce", "00ff",
                        "-o", rpt], check=True, stdout=subprocess.DEVNULL)
        ark = os.path.join(d, "ark.pem")
        certs = os.path.join(tmp, "certs")  # the genuine simulated chain
        os.mkdir(certs)
        for f in ("vcek.pem", "ask.pem", "ark.pem"):
            shutil.copy(os.path.join(d, f), certs)

        # a hostile mirror serving a forged chain and a CRL its ARK signed
        emu.set(mode="forgedroot")
        _, forged_chain = emu.get("/vcek/v1/Milan/cert_chain")
        _, forged_crl = emu.get("/vcek/v1/Milan/crl")
        for trust in ([], ["--trust-ark", ark]):
            c = os.path.join(tmp, "mirror%d" % len(trust))
            rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c, "--kds-url",
                                         emu.url, *trust)
            check(not files(os.path.join(c, "chain")) and
                  not files(os.path.join(c, "crl")) and rc != 0 and
                  "not the trusted root" in err,
                  "hostile mirror, collateral fetch %s: forged chain and CRL not cached "
                  "(chain/ %s, crl/ %s), rc %d, says why: %s" %
                  (" ".join(trust[:1]) or "(AMD's root)", files(os.path.join(c, "chain")),
                   files(os.path.join(c, "crl")), rc, err.strip()))
            # the cache, not the mirror: the CRL comes from the cache only
            rc, out, err = kdsemu.snpctl("verify", rpt, "--certs", certs, "--trust-ark", ark,
                                         "--cache-dir", c, "--json")
            cc, src = crl_of(out)
            check(rc == 0 and skipped(cc, src),
                  "after the hostile mirror, verify (genuine chain, --trust-ark) is not "
                  "denied, the 'crl' check skipped without a CRL: rc %d (0), crl %r, "
                  "sources.crl %r %s" % (rc, cc, src.get("crl"), err.strip()))

        # a cache writer planting the forged chain and CRL
        c = os.path.join(tmp, "planted")
        for sub, name, data in (("chain", "Milan-vcek.pem", forged_chain),
                                ("crl", "Milan-vcek.crl", forged_crl)):
            os.makedirs(os.path.join(c, sub), exist_ok=True)
            with open(os.path.join(c, sub, name), "wb") as f:
                f.write(data)
        emu.set(mode="normal")
        n = emu.count()
        rc, out, err = kdsemu.snpctl("verify", rpt, "--certs", certs, "--trust-ark", ark,
                                     "--cache-dir", c, "--json")
        cc, src = crl_of(out)
        check(rc == 0 and skipped(cc, src) and emu.count() == n,
              "planted forged chain and CRL in the cache: verify not denied (the planted CRL "
              "not used, 'crl' skipped), no request: rc %d (0), crl %r, sources.crl %r %s" %
              (rc, cc, src.get("crl"), err.strip()))
        rc, out, err = kdsemu.snpctl("verify", rpt, "--certs", certs, "--trust-ark", ark,
                                     "--cache-dir", c, "--crl", "require", "--kds-url", emu.url,
                                     "--json")
        cc, _ = crl_of(out)
        with open(os.path.join(c, "crl", "Milan-vcek.crl"), "rb") as f:
            now = f.read()
        check(rc == 0 and passed(cc) and now != forged_crl,
              "--crl require: the genuine CRL fetched, checked and cached in place of the "
              "planted one: rc %d, crl %r, replaced %s %s" %
              (rc, cc, now != forged_crl, err.strip()))

        # a chain in the cache under another root is not returned: KDS is asked
        # (it was returned as a cache hit and refused by the caller, forever)
        c = os.path.join(tmp, "planted-chain")
        os.makedirs(os.path.join(c, "chain"))
        with open(os.path.join(c, "chain", "Milan-vcek.pem"), "wb") as f:
            f.write(forged_chain)
        n = emu.count()
        rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cache-dir", c,
                                     "--kds-url", emu.url, "--json")
        with open(os.path.join(c, "chain", "Milan-vcek.pem"), "rb") as f:
            now = f.read()
        check(rc == 0 and emu.count() > n and now != forged_chain,
              "a cached chain under another root: KDS asked (%d requests), verify rc %d (0), "
              "the trusted chain cached in its place %s %s" %
              (emu.count() - n, rc, now != forged_chain, err.strip()))

        # the genuine simulated chain under --trust-ark: chain and CRL cached
        c = os.path.join(tmp, "genuine")
        rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cache-dir", c,
                                     "--kds-url", emu.url, "--json")
        cc, _ = crl_of(out)
        check(rc == 0 and passed(cc) and
              files(os.path.join(c, "chain")) == ["Milan-vcek.pem"] and
              files(os.path.join(c, "crl")) == ["Milan-vcek.crl"],
              "genuine chain, verify --trust-ark: rc %d, crl %r, chain/ %s, crl/ %s %s" %
              (rc, cc, files(os.path.join(c, "chain")), files(os.path.join(c, "crl")),
               err.strip()))
        n = emu.count()
        rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cache-dir", c,
                                     "--offline", "--json")
        cc, _ = crl_of(out)
        check(rc == 0 and passed(cc) and emu.count() == n,
              "then --offline from that cache: rc %d, crl %r %s" % (rc, cc, err.strip()))
        c = os.path.join(tmp, "genuine-fetch")
        rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--trust-ark", ark, "--cache-dir",
                                     c, "--kds-url", emu.url)
        check(rc == 0 and files(os.path.join(c, "chain")) == ["Milan-vcek.pem"] and
              files(os.path.join(c, "crl")) == ["Milan-vcek.crl"] and
              len(files(os.path.join(c, "vcek"))) == 1,
              "genuine chain, collateral fetch --trust-ark: rc %d, VCEK, chain and CRL "
              "cached %s" % (rc, err.strip()))
    finally:
        emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        simtest.cleanup(d)
    simtest.done()


main()
