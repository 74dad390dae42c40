# SPDX-License-Identifier: Apache-2.0
"""The KDS client over HTTPS, its cache bound, and the KDS emulator's own
answers (tests/helpers/kds-emulator.py); never the real KDS.
 - HTTPS with the emulator's test CA given by --kds-ca works; without it
   (the system's CAs) the fetch fails with a clear TLS error and nothing is
   cached; a server certificate for another name fails even with its CA;
 - --kds-ca on a pipe (`<(cat ca.pem)`) or a FIFO works, read once for all
   the requests (snpd's KdsCAFile= is only a regular file); more than
   4 MiB there is refused without reading it to its end;
 - --cache-max: VCEKs of ten TCBs into an 8 KiB bound: the directory stays
   within it, the oldest go first, the newest stay, a cache hit keeps an
   entry (least recently used), the chain and CRL are not evicted;
 - a cert_chain whose ASK its ARK did not sign, or a CRL the ARK did not
   sign, is refused and not cached; a
   temporary file left by a dead writer is removed after an hour;
 - the emulator: both SPL spellings, Turin's 8-byte hwID (the 64-byte form
   is a 404), an unknown chip 404, 429 with Retry-After, a VCEK for another
   TCB (any_tcb) issued by the ASK."""
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SNP_TOP_SRCDIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "helpers"))
import simtest  # noqa: E402

if not os.access(simtest.SNPCTL, os.X_OK):
    simtest.skip("snpctl not built")
try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
except ImportError:
    simtest.skip("python3-cryptography missing")
import kdsemu  # noqa: E402

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
check = simtest.check


load_pem = kdsemu.load_pem
ext = kdsemu.amd_ext


def spl(cert, n):
    raw = ext(cert, "3.%d" % n)
    return int.from_bytes(raw[2:2 + raw[1]], "big") if raw else 0


def hwid(cert):
    raw = ext(cert, "4")
    return (raw[2:] if raw[0] == 4 and len(raw) in (10, 66) else raw).hex()


def vcek_path(product, hw, bl, tee, snp, uc, fmc=None, pad=False):
    f = "%02d" if pad else "%d"
    q = ("fmcSPL=" + f + "&") % fmc if fmc is not None else ""
    q += ("blSPL=" + f + "&teeSPL=" + f + "&snpSPL=" + f + "&ucodeSPL=" + f) % (bl, tee, snp, uc)
    return "/vcek/v1/%s/%s?%s" % (product, hw, q)


def files(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def du(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in files(d))


def https(d, tmp):
    rpt = os.path.join(tmp, "r.bin")
    subprocess.run([simtest.SNPCTL, "report", "--backend=sim:" + d, "--nonce", "00ff", "-o",
                    rpt], check=True, stdout=subprocess.DEVNULL)
    tls = os.path.join(tmp, "tls")
    os.mkdir(tls)
    emu = kdsemu.Emulator(d, tls_dir=tls)
    tls2 = os.path.join(tmp, "tls-wrong")
    os.mkdir(tls2)
    wrong = kdsemu.Emulator(d, tls_dir=tls2, tls_name="kds.invalid")
    try:
        c = os.path.join(tmp, "https-ok")
        rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c, "--kds-url",
                                     emu.https_url, "--kds-ca", emu.ca, "--trust-ark",
                                     os.path.join(d, "ark.pem"))
        n = emu.count()
        check(rc == 0 and n == 3 and len(files(os.path.join(c, "vcek"))) == 1,
              "HTTPS with --kds-ca (the test CA): rc %d, %d requests (3), VCEK cached %s" %
              (rc, n, err.strip()))
        rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", os.path.join(d, "ark.pem"),
                                     "--cache-dir", os.path.join(tmp, "https-verify"), "--kds-url",
                                     emu.https_url, "--kds-ca", emu.ca)
        check(rc == 0 and "VCEK/VLEK kds" in out,
              "verify over HTTPS with --kds-ca: rc %d %s" % (rc, err.strip()))
        n = emu.count()

        for name, url, ca, what in (
                ("no --kds-ca (system CAs)", emu.https_url, None, "local issuer"),
                ("another CA than the server's", emu.https_url, wrong.ca, "local issuer"),
                ("a server certificate for another name", wrong.https_url, wrong.ca,
                 "127.0.0.1")):
            c = os.path.join(tmp, "https-fail-%d" % len(name))
            rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c, "--kds-url",
                                         url, *(["--kds-ca", ca] if ca else []))
            check(rc != 0 and "TLS with " + url + " failed" in err and what in err and
                  not files(os.path.join(c, "vcek")) and not files(os.path.join(c, "chain")) and
                  emu.count() == n and wrong.count() == 0,
                  "HTTPS, %s: rc %d, a TLS error naming %r, nothing cached, no request "
                  "served: %s" % (name, rc, what, err.strip()))
        rc, out, err = kdsemu.snpctl("collateral", "list", "--kds-ca",
                                     os.path.join(tmp, "nonexistent"))
        check(rc == 3 and "--kds-ca: cannot read" in err, "--kds-ca of a missing file: rc %d %s" %
              (rc, err.strip()))
        # never standard input: `verify --kds-ca - -` would read the CAs and leave the
        # report empty; refused as bad usage, before anything is read or asked
        n = emu.count()
        with open(rpt, "rb") as f:
            report = f.read()
        p = subprocess.run([simtest.SNPCTL, "verify", "--kds-url", emu.https_url,
                            "--cache-dir", os.path.join(tmp, "https-stdin"), "--kds-ca", "-",
                            "-"], input=report, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        err = p.stderr.decode(errors="replace")
        check(p.returncode == 3 and "--kds-ca: - (standard input) is not accepted" in err and
              emu.count() == n,
              "verify --kds-ca - - (report on stdin): rc %d (3), no request (%d): %s" %
              (p.returncode, emu.count() - n, err.strip()))
        rc, out, err = kdsemu.snpctl("collateral", "list", "--kds-ca", "-")
        check(rc == 3 and "--kds-ca: - (standard input) is not accepted" in err,
              "collateral list --kds-ca -: rc %d (3) %s" % (rc, err.strip()))
        kds_ca_pipes(d, tmp, rpt, emu)
    finally:
        emu.stop()
        wrong.stop()


def feed(fd, data):
    """Write @data to @fd (or a FIFO's path, opened there) in a thread, then
    close it; a reader that goes away early ends it (EPIPE: t.cut is then
    True). The thread, to join."""
    def run_():
        try:
            with open(fd, "wb") as f:
                f.write(data)
        except BrokenPipeError:
            t.cut = True
    t = threading.Thread(target=run_, daemon=True)
    t.cut = False
    t.start()
    return t


def communicate(proc, what):
    """@proc's output and error; one still running after 120 s (blocked on a
    pipe or FIFO for ever) is killed, and @what fails."""
    try:
        return proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        check(False, "%s: snpctl still running after 120 s, killed" % what)
        return out, err


def kds_ca_pipes(d, tmp, rpt, emu):
    """snpctl --kds-ca reads a pipe or FIFO, once, bounded: snpd's
    KdsCAFile= is only a regular file (never waited on), but a command a
    user runs takes `--kds-ca <(...)` as it takes --trust-ark <(...)."""
    ark = os.path.join(d, "ark.pem")
    n = emu.count()
    # a shell's process substitution, as a user types it: one pipe, three requests
    c = os.path.join(tmp, "https-procsub")
    p = subprocess.run(["bash", "-c", 'exec "$0" collateral fetch "$1" --cache-dir "$2" '
                        '--kds-url "$3" --kds-ca <(cat "$4") --trust-ark "$5"',
                        simtest.SNPCTL, rpt, c, emu.https_url, emu.ca, ark],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    check(p.returncode == 0 and emu.count() - n == 3 and
          len(files(os.path.join(c, "vcek"))) == 1,
          "collateral fetch --kds-ca <(cat ca.pem): rc %d, %d requests (3) with the CAs "
          "read once from the pipe, VCEK cached %s" %
          (p.returncode, emu.count() - n, p.stderr.strip()))

    # a named FIFO, its writer coming after snpctl opened it
    fifo = os.path.join(tmp, "ca.fifo")
    os.mkfifo(fifo)
    with open(emu.ca, "rb") as f:
        pem = f.read()
    proc = subprocess.Popen([simtest.SNPCTL, "verify", rpt, "--trust-ark", ark,
                             "--cache-dir", os.path.join(tmp, "https-fifo"), "--kds-url",
                             emu.https_url, "--kds-ca", fifo],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = feed(fifo, pem)  # its open waits for snpctl's
    out, err = communicate(proc, "verify --kds-ca FIFO over HTTPS")
    if t.is_alive():  # snpctl never opened it to read: let the writer go
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    t.join()
    check(proc.returncode == 0 and "VCEK/VLEK kds" in out,
          "verify --kds-ca FIFO over HTTPS: rc %d %s" % (proc.returncode, err.strip()))

    # bounded: a pipe with more than 4 MiB is refused, not read to its end
    n = emu.count()
    r, w = os.pipe()
    big = pem + b"A" * (4 * 1024 * 1024)
    proc = subprocess.Popen([simtest.SNPCTL, "collateral", "fetch", rpt, "--cache-dir",
                             os.path.join(tmp, "https-big"), "--kds-url", emu.https_url,
                             "--kds-ca", "/dev/fd/%d" % r, "--trust-ark", ark],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            pass_fds=(r,))
    os.close(r)
    t = feed(w, big + b"A" * (1024 * 1024))
    out, err = communicate(proc, "--kds-ca on a pipe of more than 4 MiB")
    t.join(timeout=60)
    check(proc.returncode == 3 and "--kds-ca: cannot read" in err and "larger than" in err and
          not t.is_alive() and t.cut and emu.count() == n,
          "--kds-ca on a pipe of more than 4 MiB: rc %d, refused before any request (%d), "
          "the writer cut off (%s) %s" %
          (proc.returncode, emu.count() - n, t.cut, err.strip()))


def cache_bound(d, tmp):
    own = load_pem(os.path.join(d, "vcek.pem"))
    hw = hwid(own)
    emu = kdsemu.Emulator(d)
    try:
        emu.set(any_tcb="1")
        c = os.path.join(tmp, "bounded")
        vd = os.path.join(c, "vcek")
        bound = 8192
        names = []
        ok_bound = True
        for i in range(10):
            st, body = emu.get(vcek_path("Milan", hw, 100 + i, 0, 20, 200))
            f = os.path.join(tmp, "vcek-%d.der" % i)
            with open(f, "wb") as fh:
                fh.write(body)
            rc, out, err = kdsemu.snpctl("collateral", "fetch", "--vcek", f, "--cache-dir", c,
                                         "--kds-url", emu.url, "--cache-max", "8K", "--trust-ark",
                                         os.path.join(d, "ark.pem"))
            if st != 200 or rc != 0:
                check(False, "fetch of TCB %d: HTTP %d, rc %d %s" % (i, st, rc, err.strip()))
                return
            names.append("Milan-%s-0-%d-0-20-200.der" % (hw, 100 + i))
            ok_bound = ok_bound and du(vd) <= bound and names[-1] in files(vd)
            if i == 6:
                # a cache hit on the oldest entry still there makes it recent
                kept = [n for n in names if n in files(vd)]
                rc, out, err = kdsemu.snpctl(
                    "collateral", "fetch", "--vcek",
                    os.path.join(tmp, "vcek-%d.der" % names.index(kept[0])), "--cache-dir", c,
                    "--kds-url", emu.url, "--offline", "--cache-max", "8K", "--trust-ark",
                    os.path.join(d, "ark.pem"))
                touched = kept[0]
                check(rc == 0 and "(cache)" in out, "cache hit on %s: rc %d %s" %
                      (touched[-20:], rc, err.strip()))
        left = files(vd)
        per = os.path.getsize(os.path.join(vd, left[0]))
        fit = bound // per
        expect = [touched] + names[-(fit - 1):]
        check(ok_bound and du(vd) <= bound and len(left) == fit,
              "--cache-max 8K: vcek/ holds %d of 10 entries of %d bytes, %d bytes (<= %d) "
              "after every fetch" % (len(left), per, du(vd), bound))
        check(sorted(left) == sorted(expect),
              "the newest %d kept and the entry read from the cache, the oldest evicted: "
              "kept %s of 100..109" % (fit - 1, ["blSPL=" + n.split("-")[-4] for n in left]))
        check(files(os.path.join(c, "chain")) == ["Milan-vcek.pem"] and
              files(os.path.join(c, "crl")) == ["Milan-vcek.crl"],
              "chain/ and crl/ untouched by VCEK churn: %s %s" %
              (files(os.path.join(c, "chain")), files(os.path.join(c, "crl"))))
        rc, out, err = kdsemu.snpctl("collateral", "list", "--cache-max", "1K")
        check(rc == 3 and "--cache-max" in err, "--cache-max 1K refused: rc %d %s" %
              (rc, err.strip()))
    finally:
        emu.stop()


def untrusted_answers(d, tmp):
    """A chain whose names are right but whose ASK the ARK did not sign is
    refused and not cached; a temporary left by a dead writer is removed."""
    rpt = os.path.join(tmp, "r.bin")
    emu = kdsemu.Emulator(d)
    try:
        emu.set(mode="badchain")
        c = os.path.join(tmp, "badchain")
        trust = ["--trust-ark", os.path.join(d, "ark.pem")]
        rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c, "--kds-url",
                                     emu.url, *trust)
        check(rc != 0 and "not signed by the ARK" in err and
              not files(os.path.join(c, "chain")),
              "a cert_chain with an ASK not signed by its ARK: rc %d, refused, not cached "
              "(chain/ %s): %s" % (rc, files(os.path.join(c, "chain")), err.strip()))
        emu.set(mode="badcrl")
        c2 = os.path.join(tmp, "badcrl")
        rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c2, "--kds-url",
                                     emu.url, *trust)
        check(rc != 0 and "CRL not signed by the trusted ARK" in err and
              files(os.path.join(c2, "chain")) == ["Milan-vcek.pem"] and
              not files(os.path.join(c2, "crl")),
              "a CRL not signed by the ARK: rc %d, refused, not cached (crl/ %s): %s" %
              (rc, files(os.path.join(c2, "crl")), err.strip()))
        emu.set(mode="normal")
        vd = os.path.join(c, "vcek")
        old, new = os.path.join(vd, ".x.der.AbCdEf"), os.path.join(vd, ".y.der.AbCdEf")
        # the VCEK of the bad-chain run was not cached either (its ASK unknown)
        os.makedirs(vd, exist_ok=True)
        for f in (old, new):
            with open(f, "wb") as fh:
                fh.write(b"partial")
        os.utime(old, (1, 1))
        for f in files(vd):
            if not f.startswith("."):
                os.unlink(os.path.join(vd, f))  # so that the VCEK is written again
        rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", c, "--kds-url",
                                     emu.url, *trust)
        check(rc == 0 and not os.path.exists(old) and os.path.exists(new) and
              files(os.path.join(c, "chain")) == ["Milan-vcek.pem"],
              "after a good fetch: a temporary older than an hour removed, a fresh one kept, "
              "the chain cached: rc %d %s" % (rc, err.strip()))
    finally:
        emu.stop()


def emulator_modes(d, product):
    own = load_pem(os.path.join(d, "vcek.pem"))
    ask = load_pem(os.path.join(d, "ask.pem"))
    ark = load_pem(os.path.join(d, "ark.pem"))
    hw = hwid(own)
    turin = product == "Turin"
    tcb = (spl(own, 1), spl(own, 2), spl(own, 3), spl(own, 8))
    fmc = spl(own, 9) if turin else None
    der = own.public_bytes(serialization.Encoding.DER)
    emu = kdsemu.Emulator(d)
    try:
        a = emu.get(vcek_path(product, hw, *tcb, fmc=fmc))
        b = emu.get(vcek_path(product, hw, *tcb, fmc=fmc, pad=True))
        check(a == (200, der) and b == (200, der),
              "%s: VCEK with SPLs unpadded and zero-padded: HTTP %d/%d, the chip's VCEK" %
              (product, a[0], b[0]))
        check(len(hw) == (16 if turin else 128),
              "%s: the hwID is %d bytes" % (product, len(hw) // 2))
        if turin:
            st, _ = emu.get(vcek_path(product, hw + "00" * 56, *tcb, fmc=fmc))
            check(st == 404, "Turin: the full 64-byte chip id is a 404: %d" % st)
            st, _ = emu.get(vcek_path(product, hw, *tcb))
            check(st == 404, "Turin: without fmcSPL a 404: %d" % st)
        other = "%02x" % (int(hw[:2], 16) ^ 0xff) + hw[2:]
        st, _ = emu.get(vcek_path(product, other, *tcb, fmc=fmc))
        st2, _ = emu.get(vcek_path("Bergamo", hw, *tcb, fmc=fmc))
        st3, _ = emu.get(vcek_path(product, hw, tcb[0] + 1, *tcb[1:], fmc=fmc))
        check(st == 404 and st2 == 404 and st3 == 404,
              "%s: unknown chip, unknown product, other TCB: HTTP %d/%d/%d (404)" %
              (product, st, st2, st3))
        emu.set(any_tcb="1")
        st, body = emu.get(vcek_path(product, hw, tcb[0] + 1, *tcb[1:], fmc=fmc))
        c = x509.load_der_x509_certificate(body) if st == 200 else None
        ok = c is not None and spl(c, 1) == tcb[0] + 1 and hwid(c) == hw
        if ok:
            ask.public_key().verify(c.signature, c.tbs_certificate_bytes, PSS, hashes.SHA384())
        check(ok, "%s: any_tcb: a VCEK for another TCB, same hwID, signed by the ASK "
              "(RSASSA-PSS): HTTP %d" % (product, st))
        emu.set(any_tcb="0")
        st, body = emu.get("/vcek/v1/%s/crl" % product)
        crl = x509.load_der_x509_crl(body)
        ark.public_key().verify(crl.signature, crl.tbs_certlist_bytes, PSS, hashes.SHA384())
        st2, chain = emu.get("/vcek/v1/%s/cert_chain" % product)
        check(st == 200 and crl.issuer == ark.subject and st2 == 200 and
              chain.count(b"BEGIN CERTIFICATE") == 2,
              "%s: CRL signed by the ARK (PSS), cert_chain of 2 PEM certificates" % product)
        emu.set(mode="429", retry_after="120")
        import urllib.request
        try:
            urllib.request.urlopen(emu.url + "/vcek/v1/%s/cert_chain" % product, timeout=30)
            h = None
        except urllib.error.HTTPError as e:
            h = (e.code, e.headers.get("Retry-After"))
        check(h == (429, "120"), "%s: 429 with Retry-After: %r" % (product, h))
    finally:
        emu.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="snp-kds-https.")
    dirs = []
    try:
        d = simtest.new_state("Milan")
        dirs.append(d)
        https(d, tmp)
        cache_bound(d, tmp)
        untrusted_answers(d, tmp)
        emulator_modes(d, "Milan")
        d = simtest.new_state("Turin")
        dirs.append(d)
        emulator_modes(d, "Turin")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for d in dirs:
            simtest.cleanup(d)
    simtest.done()


if __name__ == "__main__":
    main()
