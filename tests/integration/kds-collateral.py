# SPDX-License-Identifier: Apache-2.0
"""snpctl's KDS client, cache and CRL check against the KDS emulator
(tests/helpers/kds-emulator.py) serving a simulated chip; never the real
KDS. Shows:
 - verify --offline with an empty cache fails and names 'snpctl collateral fetch';
 - after 'collateral fetch' a verify makes zero KDS requests (cache only);
 - a 429 window gives exactly one request per backoff period, across runs;
 - a 404 is remembered; a wrong or truncated VCEK is refused, not cached;
 - a corrupt cache entry is removed and fetched again;
 - the ASK serial on the simulated ARK's CRL makes verify fail 'crl' (exit 1).
The simulated ARK is not AMD's: verify needs --trust-ark, as always."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SNP_TOP_SRCDIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "helpers"))
import simtest  # noqa: E402
import snptest as t  # noqa: E402

if not t.SNPCTL or not os.access(t.SNPCTL, os.X_OK):
    simtest.skip("snpctl not built")
try:
    import cryptography  # noqa: F401
except ImportError:
    simtest.skip("python3-cryptography missing")
import kdsemu  # noqa: E402

res = t.Results()


def scenario(product, tmp):
    d = simtest.new_state(product)
    emu = kdsemu.Emulator(d)
    try:
        rpt = os.path.join(tmp, product + ".bin")
        subprocess.run([t.SNPCTL, "report", "--backend=sim:" + d, "--nonce", "00ff", "-o", rpt],
                       check=True, stdout=subprocess.DEVNULL)
        ark = os.path.join(d, "ark.pem")
        kds = ["--kds-url", emu.url]

        def verify(cache, *extra):
            return kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cache-dir", cache, "--json",
                                 *(kds + list(extra)))

        # offline, empty cache: a clear error naming the remedy, no request
        c0 = os.path.join(tmp, product + "-c0")
        rc, out, err = verify(c0, "--offline")
        res.check(rc == 3 and "snpctl collateral fetch" in err and emu.count() == 0,
                  "%s: --offline, empty cache: rc %d (3), names 'snpctl collateral fetch': "
                  "%r, %d requests" % (product, rc, err.strip(), emu.count()))

        # fetch, then verify from the cache only
        c1 = os.path.join(tmp, product + "-c1")
        rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c1, "--trust-ark",
                                     ark, *kds)
        n1 = emu.count()
        res.check(rc == 0 and n1 == 3, "%s: collateral fetch: rc %d, %d requests (VCEK, "
                  "cert_chain, CRL) %s" % (product, rc, n1, err.strip()))
        for sub in ("vcek", "chain", "crl"):
            sd = os.path.join(c1, sub)
            ok = os.path.isdir(sd) and (os.stat(sd).st_mode & 0o777) == 0o755
            files = os.listdir(sd) if os.path.isdir(sd) else []
            ok = ok and len(files) == 1 and \
                (os.stat(os.path.join(sd, files[0])).st_mode & 0o777) == 0o644
            res.check(ok, "%s: cache %s/: one entry 0644 in a 0755 directory" % (product, sub))
        for extra in ([], ["--offline"]):
            rc, out, err = verify(c1, *extra)
            cc, src = kdsemu.crl_check(out)
            res.check(rc == 0 and src.get("leaf") == "cache" and
                      cc is not None and cc["result"] == "passed" and emu.count() == n1,
                      "%s: verify %s from the cache: rc %d, sources %r, crl %r, %d new KDS "
                      "requests (0) %s" % (product, " ".join(extra), rc, src,
                                           cc, emu.count() - n1, err.strip()))

        # export / import for an air-gapped machine, then verify offline there
        exp = os.path.join(tmp, product + "-export")
        c3 = os.path.join(tmp, product + "-c3")
        rc1, _, e1 = kdsemu.snpctl("collateral", "export", exp, "--cache-dir", c1)
        rc2, _, e2 = kdsemu.snpctl("collateral", "import", exp, "--cache-dir", c3, "--offline",
                                   "--trust-ark", ark)
        n = emu.count()
        rc, out, err = verify(c3, "--offline")
        doc = json.loads(out) if out.startswith("{") else {}
        res.check(rc1 == 0 and rc2 == 0 and rc == 0 and emu.count() == n and
                  doc.get("sources", {}).get("crl") == "cache",
                  "%s: export, import, verify --offline: rc %d/%d/%d, sources %r %s %s %s" %
                  (product, rc1, rc2, rc, doc.get("sources"), e1.strip(), e2.strip(),
                   err.strip()))

        # a corrupt (truncated) cache entry is detected, removed, fetched again
        vd = os.path.join(c1, "vcek")
        vf = os.path.join(vd, os.listdir(vd)[0])
        with open(vf, "r+b") as f:
            f.truncate(100)
        rc, out, err = verify(c1)
        with open(vf, "rb") as f:
            size = len(f.read())
        res.check(rc == 0 and emu.count() == n1 + 1 and size > 100,
                  "%s: truncated cache entry refetched: rc %d, %d request(s), now %d bytes" %
                  (product, rc, emu.count() - n1, size))

        # a user who cannot write /var/cache/snpd gets ~/.cache/snpd (second uid)
        if os.geteuid() == 0 and shutil.which("setpriv") and product == "Milan":
            home = os.path.join(tmp, "home")
            os.makedirs(home)
            os.chmod(tmp, 0o755)
            os.chown(home, 65534, 65534)
            pub = os.path.join(tmp, "pub")
            os.makedirs(pub)
            shutil.copy(rpt, os.path.join(pub, "r.bin"))
            shutil.copy(ark, os.path.join(pub, "ark.pem"))
            os.chmod(pub, 0o755)
            for f in ("r.bin", "ark.pem"):
                os.chmod(os.path.join(pub, f), 0o644)
            # a copy the other uid can run: the build tree may sit in a 0700
            # directory (a clone made with mktemp -d)
            snpctl = os.path.join(pub, "snpctl")
            shutil.copy(t.SNPCTL, snpctl)
            os.chmod(snpctl, 0o755)
            as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
                       "HOME=" + home, "XDG_CACHE_HOME=", snpctl]
            p = subprocess.run(as_user + ["collateral", "fetch", os.path.join(pub, "r.bin"),
                                          "--trust-ark", os.path.join(pub, "ark.pem")] +
                               kds, capture_output=True, text=True)
            uc = os.path.join(home, ".cache", "snpd", "vcek")
            res.check(p.returncode == 0 and os.path.isdir(uc) and len(os.listdir(uc)) == 1,
                      "%s: uid 65534 caches in ~/.cache/snpd (rc %d, %s)" %
                      (product, p.returncode, p.stderr.strip()))
            n = emu.count()
            p = subprocess.run(as_user + ["verify", os.path.join(pub, "r.bin"), "--trust-ark",
                                          os.path.join(pub, "ark.pem"), "--offline"],
                               capture_output=True, text=True)
            res.check(p.returncode == 0 and emu.count() == n and ".cache/snpd" in p.stdout,
                      "%s: uid 65534 verifies --offline from ~/.cache/snpd (rc %d) %s" %
                      (product, p.returncode, p.stderr.strip()))

        # a revoked ASK: the simulated ARK's CRL lists its serial
        emu.set(revoke=1)
        c2 = os.path.join(tmp, product + "-c2")
        n = emu.count()
        rc, out, err = verify(c2)
        cc, _ = kdsemu.crl_check(out)
        res.check(rc == 1 and cc is not None and cc["result"] == "failed" and
                  "REVOKED" in cc["detail"],
                  "%s: revoked ASK: rc %d (1), crl %r" % (product, rc, cc))
        res.check(emu.count() - n == 3, "%s: verify with an empty cache fetched VCEK, chain, "
                  "CRL: %d requests" % (product, emu.count() - n))
        rc, out, err = verify(c2, "--crl=off")
        res.check(rc == 0, "%s: revoked ASK with --crl=off: rc %d (0)" % (product, rc))

        # an evidence document without a CRL: the cached CRL (revoking the
        # ASK) is checked instead of the check being skipped
        import base64
        ev = os.path.join(tmp, product + "-evidence.json")
        with open(rpt, "rb") as f:
            rbytes = f.read()
        pems = {}
        for name in ("vcek", "ask", "ark"):
            with open(os.path.join(d, name + ".pem")) as f:
                pems[name] = f.read()
        with open(ev, "w") as f:
            json.dump({"version": 1, "type": "snpd-evidence", "product": product,
                       "report": base64.b64encode(rbytes).decode(), "endorsement_key": "vcek",
                       "certificates": pems, "crl": None}, f)
        n = emu.count()
        rc, out, err = kdsemu.snpctl("verify", ev, "--trust-ark", ark, "--cache-dir", c2, "--json")
        cc, _ = kdsemu.crl_check(out)
        res.check(rc == 1 and cc is not None and "REVOKED" in cc["detail"] and emu.count() == n,
                  "%s: evidence without a CRL takes the cached one, which revokes the ASK: "
                  "rc %d (1), %r %s" % (product, rc, cc, err.strip()))

        # the host's certificate table with a CRL entry: used first
        if product == "Milan":
            crl = emu.ctl("/vcek/v1/%s/crl" % product)
            tbl = os.path.join(tmp, "table.bin")
            with open(tbl, "wb") as f:
                f.write(kdsemu.cert_table(d, crl))
            n = emu.count()
            rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cert-table", tbl,
                                         "--cache-dir", os.path.join(tmp, "c-tbl"), "--json", *kds)
            cc, src = kdsemu.crl_check(out)
            res.check(rc == 1 and cc is not None and "REVOKED" in cc["detail"] and
                      src.get("crl") == "certificate table" and emu.count() == n,
                      "%s: the certificate table's CRL revokes the ASK: rc %d, %r, sources %r"
                      % (product, rc, cc, src))
        emu.set(revoke=0)
    finally:
        emu.stop()
        simtest.cleanup(d)
    return rpt, d


def failures(tmp):
    """429/500 backoff, 404 memory, wrong and truncated VCEKs (Milan)."""
    d = simtest.new_state("Milan")
    emu = kdsemu.Emulator(d)
    try:
        rpt = os.path.join(tmp, "f.bin")
        subprocess.run([t.SNPCTL, "report", "--backend=sim:" + d, "--nonce", "01", "-o", rpt],
                       check=True, stdout=subprocess.DEVNULL)
        ark = os.path.join(d, "ark.pem")
        kds = ["--kds-url", emu.url]

        for mode, ra in (("429", "900"), ("429", ""), ("500", "")):
            c = os.path.join(tmp, "b-%s-%s" % (mode, ra or "none"))
            emu.set(mode=mode, retry_after=ra)
            n = emu.count()
            rcs = []
            for _ in range(3):
                rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cache-dir", c,
                                             *kds)
                rcs.append(rc)
            rc, out, err2 = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c,
                                          "--trust-ark", ark, *kds)
            got = emu.count() - n
            with open(os.path.join(c, "backoff")) as f:
                until = int(f.read().strip().split("=")[1])
            import time
            left = until - int(time.time())
            want_left = int(ra) if ra else 600
            res.check(got == 1 and rcs[0] != 0 and "back off" in err2 and
                      want_left - 120 <= left <= want_left,
                      "HTTP %s (Retry-After %r): 4 runs made %d request(s) (1), rcs %r, "
                      "backoff %d s left (~%d) %s" % (mode, ra, got, rcs, left, want_left,
                                                     err2.strip()))
        emu.set(mode="normal", retry_after="")

        # 404: remembered, not asked again
        c = os.path.join(tmp, "refused")
        n = emu.count()
        for _ in range(2):
            rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--product", "genoa",
                                         "--cache-dir", c, *kds)
        res.check(rc != 0 and emu.count() - n == 1 and "404" in err,
                  "404 for an unknown chip remembered: %d request(s) for 2 runs (%s)" %
                  (emu.count() - n, err.strip()))

        # wrong or truncated VCEK: refused, not cached
        for mode in ("wrong", "truncate"):
            c = os.path.join(tmp, "bad-" + mode)
            emu.set(mode=mode)
            rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c,
                                         "--trust-ark", ark, *kds)
            vd = os.path.join(c, "vcek")
            cached = os.listdir(vd) if os.path.isdir(vd) else []
            res.check(rc != 0 and not cached and "bad VCEK" in err,
                      "%s VCEK from KDS refused and not cached: rc %d, cached %r, %s" %
                      (mode, rc, cached, err.strip()))
            rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cache-dir", c, *kds)
            res.check(rc != 0, "%s VCEK: verify fails (rc %d)" % (mode, rc))
        # a KDS that never answers: the request times out, nothing is cached
        emu.set(mode="hang")
        c = os.path.join(tmp, "hang")
        rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c, "--kds-timeout",
                                     "2", *kds)
        res.check(rc != 0 and "Timeout" in err and not os.path.isdir(os.path.join(c, "vcek")),
                  "hanging KDS: rc %d, %s" % (rc, err.strip()))
        emu.set(mode="normal")
        c = os.path.join(tmp, "bad-wrong")
        rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cache-dir", c, *kds)
        res.check(rc == 0, "after the bad answers, the right VCEK verifies (rc %d) %s" %
                  (rc, err.strip()))
    finally:
        emu.stop()
        simtest.cleanup(d)


tmp = tempfile.mkdtemp(prefix="snp-kds.")
try:
    for product in ("Milan", "Turin"):
        scenario(product, tmp)
    failures(tmp)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
res.done()
