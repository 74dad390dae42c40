# SPDX-License-Identifier: Apache-2.0
"""KdsOffline=yes with the CRL from the host's certificate table (the
simulator's host_crl_* params), once the host's CRL is not current: snpd
keeps asking the host for a fresh table (a reference report) with a
backoff of 10 s doubling, without a SIGHUP. Shows:
 (d) the host's fresh table loses its CRL (host_crl_next_update=0), then
     the host gives no certificates at all (host_certs=none): snpd still
     asks again, last_error says why ("has no CRL", no table) and that
     the table is read again, next_retry and the log when (10 s, then 20 s);
     once the host has a current CRL again the set is complete;
 (e) the device fails the reference report asked for the CRL (the
     simulator's certs_small fault with certs_pages=2: a host that
     contradicts itself, an error of the host): the log says so, not "the
     view's refresh for the host's change", and when it is asked again; it
     is, and the host's newer CRL is served;
 (e2) the host's fresh table asked for the CRL does not fit the guest
     (certs_pages=6, 24 KiB; host-certs-large.py for the rest): no failed
     refresh, the log says what the host asked for and that the fresh
     table did not come, with the host-CRL backoff; the host's table is
     asked for again, taken once it fits, and its newer CRL served;
 (f) the device dies on that report (a tampered response: VMPCK
     disabled): snpd says it does not ask again, and does not (no timer
     re-armed against the dead broker); status promises no retry
     (next_retry null, last_error says the device is dead);
 (g) a SIGHUP starts the backoff again from 10 s (the log and next_retry,
     not 40 s after 10 and 20);
 (h) a SIGHUP adds CertsDir= while the set is partial and its retry
     armed: once the old retry time has passed, the view's certificates
     are still the directory's (sources certs-dir), the host's table is
     not asked for again and next_retry is null.
Before the fix: (d) said "not in the cache and KdsOffline=yes" with no
retry, (e) logged the view's refresh, (f) asked every 10 s forever and
then showed a next_retry that never came, (g) said 40 s, (h) served the
host's set in place of the directory's, again at every retry.

Only (d) needs a complete set at the start (a CRL that goes stale later):
its window starts after its simulator's keys are made (seconds under
load). (e), (f) and (g) start with an expired host CRL, so no start is too
slow for them, nor (h). They run at once (independent daemons), (f), the
longest, first."""

import os
import re
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import snpd_harness as h  # noqa: E402

h.need_fuse()
h.need_cryptography()

LIMIT = 60  # seconds before a wait is called a failure (never a pass condition)
ASKING = "asking the host for its certificate table again"
WINDOW = 8  # (d): the host CRL's nextUpdate, seconds after its simulator is made
AGAIN = "; the host's table is read again later"  # SNPD_COLL_HOST_AGAIN
# the log of a set that is not complete, with when it is looked up again
# (the timer armed for it: the set's error says only that it is)
RETRY_LOG = re.compile(r"Collateral partial: (.*); looked up again in (\d+) s$")


res = h.ThreadResults()  # the scenarios run in threads


status = h.daemon_status


def coll(s):
    return (s or {}).get("collateral", {})


def wait(d, pred, what):
    """h.wait_daemon_status(), LIMIT s."""
    return h.wait_daemon_status(res, d, pred, what, LIMIT)


def simulator(tmp, name):
    sim = os.path.join(tmp, name + "-sim")
    h.sim_init(sim)
    return sim


def daemon(tmp, name, this_update, next_update, env=None):
    """The daemon of scenario @name on its simulator (simulator()), not
    started: the caller starts it in its try, stop_clean() in its finally
    (a failed start leaves no snpd nor mount behind)."""
    sim = os.path.join(tmp, name + "-sim")
    h.sim_set_params(sim, host_crl_this_update=this_update, host_crl_next_update=next_update)
    os.makedirs(os.path.join(tmp, name))
    return sim, h.Daemon(tmp=os.path.join(tmp, name), sim_dir=sim, env=env)


def newer_crl_served(d, s, newer):
    """Status @s is complete and @d serves the CRL of nextUpdate @newer."""
    return coll(s).get("state") == "complete" and h.served_crl_next_update(d) == newer


def err(s):
    return coll(s).get("last_error") or ""


def retries(d):
    """The log's partial sets with their retry: [(error, seconds)]."""
    out = []
    for ln in d.read_log().splitlines():
        m = RETRY_LOG.search(ln)
        if m:
            out.append((m.group(1), int(m.group(2))))
    return out


def scenario_lost(tmp):
    simulator(tmp, "lost")
    now = int(time.time())  # after sim_init: its keys take long under load
    sim, d = daemon(tmp, "lost", now - 3600, now + WINDOW)
    try:
        d.start()
        wait(d, lambda s: coll(s).get("state") == "complete", "(d) complete at the start")
        # the host's tables from now on carry no CRL
        h.sim_set_params(sim, host_crl_next_update=0)
        s = wait(d, lambda s: "has no CRL" in err(s),
                 "(d) after the CRL's nextUpdate, a fresh table without a CRL")
        res.check(s is not None and coll(s).get("state") == "partial" and
                  "KdsOffline=yes" in err(s) and err(s).endswith(AGAIN) and
                  coll(s).get("next_retry") is not None,
                  "(d) a table without a CRL: partial, says why and that it is asked again: "
                  "%r, next_retry %r" % (err(s), coll(s).get("next_retry")))
        # then no certificates at all: the next fresh table (in 10 s) has
        # none, and the backoff goes on (10 s, then 20 s)
        h.sim_set_params(sim, host_certs="none")
        s = wait(d, lambda s: "no certificate table" in err(s),
                 "(d) a fresh table without certificates")
        left = coll(s).get("next_retry_in_sec")
        logged = [sec for e, sec in retries(d) if "the host gave no certificate table" in e]
        # the log says the time armed when it was armed: the doubled backoff
        # (10 s before that time passed: never for a loop that is not stalled)
        res.check(s is not None and coll(s).get("state") == "partial" and
                  "the host gave no certificate table" in err(s) and err(s).endswith(AGAIN) and
                  isinstance(left, int) and left <= 20 and
                  logged and 10 < logged[0] <= 20,
                  "(d) a table without certificates: says so, still asked again, in 20 s: %r, "
                  "next_retry_in_sec %r, logged %r" % (err(s), left, logged))
        newer = h.sim_renew_host_crl(sim, host_certs="full")
        s = wait(d, lambda s: newer_crl_served(d, s, newer),
                 "(d) the host's current CRL again: complete")
        res.check(s is not None and s.get("reloads") == 0,
                  "(d) recovered without a SIGHUP")
    finally:
        h.stop_clean(d, res)


def scenario_report_fails(tmp):
    simulator(tmp, "fails")
    now = int(time.time())
    # expired from the start (read again, in 10 s); the start's reference
    # report is the first exit, the next one (the CRL's fresh table) fails
    # once: INVALID_LEN asking for no more than the guest's 4 pages, an
    # error of the host (EIO)
    sim, d = daemon(tmp, "fails", now - 3600, now - 10,
                    env={"SNP_SIM_FAULTS": "after=1,certs_small=1,certs_pages=2"})
    try:
        d.start()
        s = wait(d, lambda s: "fresh host certificate table" in d.read_log(),
                 "(e) the reference report for the CRL failed")
        log = d.read_log()
        res.check("failed" in log and "asked again in" in log and
                  "The view's refresh for the host's change failed" not in log,
                  "(e) the log says the report asked for the CRL failed and when it is "
                  "asked again:\n%s" % log[-1500:])
        newer = h.sim_renew_host_crl(sim)
        s = wait(d, lambda s: newer_crl_served(d, s, newer),
                 "(e) asked again after the failure: the host's newer CRL served")
        res.check(s is not None and s.get("reloads") == 0 and s.get("health") == "ok",
                  "(e) without a SIGHUP, the device alive (health %r)" % (s or {}).get("health"))
    finally:
        h.stop_clean(d, res)


def scenario_too_large(tmp):
    simulator(tmp, "large")
    now = int(time.time())  # after sim_init: its keys take long under load
    # the start's reference report is the first exit; the next one (the
    # CRL's fresh table, at its nextUpdate) is told the host's table needs
    # 6 pages, once
    sim, d = daemon(tmp, "large", now - 3600, now + WINDOW,
                    env={"SNP_SIM_FAULTS": "after=1,certs_small=1,certs_pages=6"})
    try:
        d.start()
        wait(d, lambda s: coll(s).get("state") == "complete", "(e2) complete at the start")
        wait(d, lambda s: "fresh host certificate table" in d.read_log(),
             "(e2) the reference report for the CRL got no table")
        log = d.read_log()
        lines = [ln for ln in log.splitlines() if "fresh host certificate table" in ln]
        res.check(len(lines) == 1 and "got none" in lines[0] and
                  "24576 bytes, more than the guest's 16384" in lines[0] and
                  "asked again in 10 s" in lines[0],
                  "(e2) the fresh table did not come, what the host asked for, and when it "
                  "is asked again (the host-CRL backoff): %r" % lines)
        res.check("The host's certificate table does not fit: " in log and
                  "The view's refresh for the host's change failed" not in log and
                  "Invalid argument" not in log,
                  "(e2) said as a table that does not fit, not a failed refresh, never "
                  "EINVAL:\n%s" % log[-1500:])
        newer = h.sim_renew_host_crl(sim)
        s = wait(d, lambda s: newer_crl_served(d, s, newer) and s.get("host_certs") is None,
                 "(e2) the host's table taken again: its newer CRL served")
        res.check(s is not None and s.get("reloads") == 0 and s.get("health") == "ok" and
                  "The host's certificate table is taken again" in d.read_log(),
                  "(e2) without a SIGHUP, the device alive, the table taken again (health "
                  "%r)" % (s or {}).get("health"))
    finally:
        h.stop_clean(d, res)


def scenario_dead(tmp, made):
    try:
        simulator(tmp, "dead")
    finally:
        made.set()
    now = int(time.time())
    # expired from the start (read again, in 10 s): the CRL's fresh table
    # is the second report, the one tampered with
    sim, d = daemon(tmp, "dead", now - 3600, now - 10,
                    env={"SNP_SIM_FAULTS": "after=1,tamper=1"})
    try:
        d.start()
        s = wait(d, lambda s: s.get("health") == "dead" and
                 coll(s).get("state") == "partial" and
                 "not asked again" in d.read_log(),
                 "(f) the device died on the CRL's reference report")
        died = [ln for ln in d.read_log().splitlines() if "not asked again" in ln]
        res.check(len(died) == 1 and
                  re.fullmatch(r"<3>The reference report asked for a fresh host certificate "
                               r"table \(the collateral's CRL, KdsOffline=yes\) (failed|got "
                               r"none): .+; the device is dead: not asked again",
                               died[0]) is not None,
                  "(f) said once, an error, in these words (%r)" % died)
        n = d.read_log().count(ASKING)
        # before the fix, a timer was armed again for the set's next look
        # (every 10 s then; the set asks for 20 s here: the
        # tampered report failed first, the next one found the device dead)
        time.sleep(22)
        n2 = d.read_log().count(ASKING)
        res.check(n2 == n, "(f) a dead device is not asked again (%d -> %d asks in 22 s)"
                  % (n, n2))
        res.check(h.served_crl_next_update(d) is None, "(f) no expired CRL served")
        s = status(d)
        res.check(coll(s).get("next_retry") is None and "device is dead" in err(s) and
                  AGAIN not in err(s) and
                  err(s).endswith("the host's table cannot be read again until the VM "
                                  "restarts"),
                  "(f) status promises no retry from a dead device: next_retry %r, %r"
                  % (coll(s).get("next_retry"), err(s)))
    finally:
        h.stop_clean(d, res)


def scenario_reload(tmp):
    simulator(tmp, "reload")
    now = int(time.time())
    sim, d = daemon(tmp, "reload", now - 3600, now - 10)  # expired from the start
    try:
        d.start()
        s = wait(d, lambda s: any(10 < sec <= 20 for e, sec in retries(d)),
                 "(g) the backoff at 20 s (10 s, then a fresh table)")
        n = len(retries(d))
        d.proc.send_signal(signal.SIGHUP)
        s = wait(d, lambda s: s.get("reloads") == 1 and err(s).endswith(AGAIN) and
                 len(retries(d)) > n,
                 "(g) the set of the reload's fresh table")
        after = [sec for e, sec in retries(d)[n:]]
        left = coll(s).get("next_retry_in_sec")
        res.check(after and max(after) <= 10 and isinstance(left, int) and left <= 10,
                  "(g) a SIGHUP starts the backoff again: logged %r, next_retry_in_sec %r" % (
                      after, left))
    finally:
        h.stop_clean(d, res)


def scenario_certs_dir(tmp):
    sim = simulator(tmp, "dir")
    now = int(time.time())
    sim, d = daemon(tmp, "dir", now - 3600, now - 10)  # expired from the start
    cdir = h.sim_certs_dir(sim, os.path.join(tmp, "dir-certs"))
    try:
        d.start()
        s = wait(d, lambda s: err(s).endswith(AGAIN) and
                 isinstance(coll(s).get("next_retry_in_sec"), int) and
                 coll(s)["next_retry_in_sec"] <= 10,
                 "(h) partial, the host's table read again in 10 s")
        due = time.monotonic() + coll(s)["next_retry_in_sec"]
        d.write_config(d.config_text() + "\n[Daemon]\nCertsDir=%s\n" % cdir)
        d.proc.send_signal(signal.SIGHUP)
        s = wait(d, lambda s: s.get("reloads") == 1 and coll(s).get("state") == "certs-dir",
                 "(h) the reload's CertsDir=")
        n = d.read_log().count(ASKING)
        # the retry armed before the reload: wait past it (and the re-check
        # it would start)
        time.sleep(max(0, due + 4 - time.monotonic()))
        s = status(d)
        srcs = coll(s).get("sources") or {}
        res.check(coll(s).get("state") == "certs-dir" and srcs and
                  "host" not in srcs.values() and coll(s).get("next_retry") is None,
                  "(h) after the old retry time the view's certificates are still "
                  "CertsDir='s: %r" % coll(s))
        for n_ in ("ark.pem", "ask.pem", "vcek.pem"):
            with open(os.path.join(cdir, n_), "rb") as a:
                want = a.read()
            try:
                with open(d.path("certs", n_), "rb") as b:
                    got = b.read()
            except OSError as e:
                got = repr(e).encode()
            res.check(got == want, "(h) certs/%s is the directory's" % n_)
        res.check(d.read_log().count(ASKING) == n,
                  "(h) the host's table is not asked for again under CertsDir=")
    finally:
        h.stop_clean(d, res)


with tempfile.TemporaryDirectory(prefix="snpd-crl-retry-") as tmp:
    os.chmod(tmp, 0o755)
    # (f), the longest, has its simulator's keys made before the others'
    made = threading.Event()
    threads = [threading.Thread(target=res.run, args=(scenario_dead, tmp, made))]
    threads[0].start()
    made.wait(LIMIT)
    threads += [threading.Thread(target=res.run, args=(fn, tmp))
                for fn in (scenario_lost, scenario_report_fails, scenario_too_large,
                           scenario_reload, scenario_certs_dir)]
    for th in threads[1:]:
        th.start()
    for th in threads:
        th.join()
res.done()
