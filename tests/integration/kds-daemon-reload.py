# SPDX-License-Identifier: Apache-2.0
"""snpd's collateral worker and its trusted root over time, against the KDS
emulator (tests/helpers/kds-emulator.py, 127.0.0.1 only) and a simulated
chip whose host hands out no certificate table. Shows:
 - TrustArk= naming a file that does not exist yet (the simulator makes its
   ark.pem at its first start): status says so (last_error names the file,
   next_retry is set), and once the file appears after READY=1 the
   collateral completes by itself, without SIGHUP (a missing file is read
   again after 2 s, doubling to 60 s);
 - a job still running when a reload changes TrustArk=: its result,
   checked against the old root, is never served. The job is held up
   deterministically until after the reload: TrustArk= names a file on
   tests/helpers/held-file (a slow disk) that does not exist at the start;
   it is then made, and the next read of it (2 s later, without a reload)
   is held opening it until after the reload (snpd reads no FIFO, and one
   in the cache is a miss); then the old job completes and the new one
   runs against the new root, which the emulator's chain does not reach:
   no "Collateral complete", /snp/certs never lists vcek.pem, and what is
   served in the end is the new root alone."""

import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SNP_TOP_SRCDIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "helpers"))
import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

h.need_fuse()
h.need_cryptography()
import kdsemu  # noqa: E402

LIMIT = 90  # seconds before a wait is called a failure (never a pass condition)

res = t.Results()


def sources(d):
    try:
        return open(d.path("certs", "source")).read()
    except OSError:
        return ""


def wait_coll(d, pred, what, seen=None):
    """h.wait_status() of /v1/status's collateral, LIMIT s. With @seen,
    every status and certs/source observed is appended."""
    def get(d):
        c = h.api_status(d, "collateral")
        if seen is not None:
            seen.append((c.get("state"), sources(d)))
        return c
    return h.wait_status(res, d, pred, what, LIMIT, get=get)


def report_ok(d):
    st, data = h.api_get(d, "/v1/report?nonce=0102")
    return st == 200


def daemon(tmp, sim, name, emu, cache, trust_ark):
    os.makedirs(os.path.join(tmp, name), exist_ok=True)
    return h.Daemon(tmp=os.path.join(tmp, name), sim_dir=sim,
                    config="[Daemon]\nKdsUrl=%s\nTrustArk=%s\n" % (emu.url, trust_ark),
                    args=["--cache-dir", cache])


def copy_atomic(src, dst):
    shutil.copy(src, dst + ".tmp")
    os.rename(dst + ".tmp", dst)


def scenario_late_anchor(tmp, sim, emu):
    late = os.path.join(tmp, "late")
    os.makedirs(late)
    ark = os.path.join(late, "ark.pem")
    d = daemon(tmp, sim, "d-late", emu, os.path.join(tmp, "cache-late"), ark)
    try:
        d.start()
        c = h.api_status(d, "collateral")
        err = c.get("last_error") or ""
        res.check(c.get("state") == "none" and "TrustArk" in err and ark in err and
                  "No such file" in err and c.get("next_retry"),
                  "TrustArk= missing at start: state none, says so, retry set (%r, %r, "
                  "next_retry %r)" % (c.get("state"), err, c.get("next_retry")))
        res.check(report_ok(d), "TrustArk= missing: reports served")
        copy_atomic(os.path.join(sim, "ark.pem"), ark)
        t0 = time.monotonic()
        c = wait_coll(d, lambda c: c.get("state") == "complete", "TrustArk= appeared: complete")
        took = time.monotonic() - t0
        src = sources(d)
        res.check(c is not None and "vcek.pem kds" in src.splitlines() and
                  "ark.pem trust-ark" in src.splitlines(),
                  "the file appeared after READY=1: complete without a reload after %.1f s "
                  "(not a timed check): %r" % (took, src))
        log = d.read_log()
        res.check("Reloading the configuration" not in log,
                  "no SIGHUP was sent (no reload in the log)")
    finally:
        h.stop_clean(d, res)


def scenario_reload_running_job(tmp, sim, emu):
    trusted = os.path.join(tmp, "trusted-ark.pem")
    other = os.path.join(tmp, "other")
    h.sim_init(other)
    other_ark = os.path.join(tmp, "other-ark.pem")
    shutil.copy(os.path.join(other, "ark.pem"), other_ark)
    cache = os.path.join(tmp, "cache-reload")

    # fill the cache (chain, VCEK, CRL) against the simulated chip's root
    d = daemon(tmp, sim, "d-fill", emu, cache, trusted)
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("state") == "complete", "fill the cache")
        res.check(c is not None, "the cache is filled")
    finally:
        h.stop_clean(d, res)
    crls = os.listdir(os.path.join(cache, "crl"))
    res.check(len(crls) == 1, "one CRL cached: %s" % crls)
    ark_data = open(trusted, "rb").read()
    os.unlink(trusted)  # TrustArk= missing at the start: read again 2 s later
    hf = h.HeldFile(tmp, trusted)
    hf.hold()

    d = daemon(tmp, sim, "d-reload", emu, cache, hf.path)
    try:
        d.start()
        # job 1's next read of TrustArk= finds the file and is held opening it
        with open(trusted + ".tmp", "wb") as f:
            f.write(ark_data)
        os.rename(trusted + ".tmp", trusted)
        held = hf.wait_held(LIMIT)
        c = h.api_status(d, "collateral")
        res.check(held and c.get("state") != "complete" and
                  "vcek.pem" not in sources(d),
                  "job 1 (old root) held up opening TrustArk= (held-file): nothing served "
                  "yet (%r)" % c.get("state"))
        d.write_config(d.config_text().replace(hf.path, other_ark))
        d.reload()
        mark = len(d.read_log())
        hf.release()
        seen = []
        c = wait_coll(d, lambda c: c.get("state") != "complete" and c.get("checking") is False
                      and "trusted root" in (c.get("last_error") or ""),
                      "job 2 (new root) done", seen)
        log = d.read_log()[mark:]
        res.check("Collateral complete" not in log,
                  "job 1's set (complete, checked against the old root) never reached the "
                  "view: %r" % [ln for ln in log.splitlines() if "Collateral" in ln])
        bad = [s for s in seen if s[0] == "complete" or "vcek.pem" in s[1]]
        res.check(not bad, "status and /snp/certs/source never showed job 1's set (%d polls, "
                  "%d showing it)" % (len(seen), len(bad)))
        ark = open(d.path("certs", "ark.pem"), "rb").read() if c else b""
        src = sources(d)
        res.check(c is not None and ark == open(other_ark, "rb").read() and
                  "vcek.pem" not in src and "ark.pem trust-ark" in src.splitlines(),
                  "served in the end: the new root only (%r), last_error %r" % (
                      src, c and c.get("last_error")))
        res.check(report_ok(d), "reports served")
    finally:
        hf.release()  # a held open would hold snpd's stop
        try:
            h.stop_clean(d, res)
        finally:
            hf.stop()  # HelperFailed unless held-file ended cleanly


def main():
    tmp = __import__("tempfile").mkdtemp(prefix="snpd-kds-reload-")
    os.chmod(tmp, 0o755)
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim, "--host-certs", "none")
    shutil.copy(os.path.join(sim, "ark.pem"), os.path.join(tmp, "trusted-ark.pem"))
    emu = kdsemu.Emulator(sim)
    try:
        which = sys.argv[1:] or ["late", "reload"]
        if "late" in which:
            scenario_late_anchor(tmp, sim, emu)
        if "reload" in which:
            scenario_reload_running_job(tmp, sim, emu)
    finally:
        emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    res.done()


main()
