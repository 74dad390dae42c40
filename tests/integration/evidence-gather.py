# SPDX-License-Identifier: Apache-2.0
"""Gathering (issue 19 item 6, docs/evidence.md 6.1): when a batch
returns, the batch that waited meanwhile stays open for BatchWindowMSec=
so that the clients just answered, asking again at once, join it rather
than form a batch of their own (two alternating batches make every
client wait two device requests); it goes as soon as all of them have
joined. The simulated device takes 1.5 s per message (SNP_SIM_DEVICE_US),
the window is 1 s. Client A's first nonce is on the device alone while
B's waits; A asks again as soon as it is answered:
- it joins B's batch (tree size 2, one report), which goes at once
  (status: held 1, gathered 1);
- with BatchWindowMSec=0, B's batch goes when the device is back and A's
  second nonce is alone (three reports, nothing held or gathered);
- a full batch (BatchMax=2, two waiting) is not held (held 0);
- A's third nonce comes only once B's second, begun after A's second's
  answer, has gone to the device alone at the end of its window (the test
  holds the device meanwhile, so that A's third is sure to wait while B's
  second is on it): A came back later than the window after that return.
  As the clients of that return did not all come back within the window,
  A's third, waiting when B's second returns, is not held for B's third
  (two reports of one). B's third, waiting when A's returns, is held (B
  came back at once) until the window is over: held 2, gathered 1;
- a lone client asking again at once: its next nonce goes without
  waiting for the window (gathered counts it).
Every answer is bound to its own nonce. What is checked is tree sizes,
reports and the batcher's counters. The device is held by the test (the
simulator's lock; the device time counts from when snpd has it) until
the first batch's waiting clients have all joined, and the order of B's
second and A's third is set by the test too: what is left to timing is
that a client asking again at once does so within the window (1 s)."""

import json
import os
import threading

import snpd_harness as h
import snptest as t

res = t.Results()
h.need_fuse()


def evidence(d, nonce):
    c = h.UnixHTTPConnection(d.api, timeout=120)
    c.request("GET", "/v1/evidence?nonce=" + nonce)
    r = c.getresponse()
    out = (r.status, json.loads(r.read()))
    c.close()
    return out


def run(window, bmax=256, waiting=1, b_count=1, staged=False):
    """A's nonces (two; three if @staged) and the waiting clients' (B...,
    b_count each, one after another at once): ({nonce: (tree size,
    report)} of the bound answers, the batcher's counters at the end).
    The device is held until A's first nonce is on it and every waiting
    client's first nonce waits. @staged (one waiting client, b_count 3):
    once B's first is answered, the device is held again, B's second
    goes to it alone at the end of its window, and only then A's third
    is sent and joins; the device is released when it waits."""
    answers = {}
    a = [os.urandom(32).hex() for _ in range(3 if staged else 2)]
    bs = [[os.urandom(32).hex() for _ in range(b_count)] for _ in range(waiting)]
    b_back, b_go, a_go = threading.Event(), threading.Event(), threading.Event()

    def client(d, nonces, before):
        """@before: {i: what to do before nonce i is sent}"""
        for i, n in enumerate(nonces):
            if i in before:
                before[i]()
            answers[n] = evidence(d, n)

    a_before, b_before = {}, {}
    if staged:
        a_before[2] = lambda: a_go.wait(300)
        b_before[1] = lambda: (b_back.set(), b_go.wait(300))
    env = {"SNP_SIM_DEVICE_US": "1500000"}
    with h.Daemon(config="[Daemon]\nBatchWindowMSec=%d\nBatchMax=%d\n" % (window, bmax),
                  env=env) as d:
        d.start()
        dev = h.DeviceHeld(d)
        ta = threading.Thread(target=client, args=(d, a, a_before))
        tbs = [threading.Thread(target=client, args=(d, n, b_before)) for n in bs]
        try:
            ta.start()
            ok = h.wait_evidence_or_fail(res, d, "A's first nonce is on the (held) device",
                                         lambda e: e["in_flight"] == 1)
            for tb in tbs:
                tb.start()
            ok = ok and h.wait_evidence_or_fail(
                res, d, "%d nonce(s) wait while it is" % waiting,
                lambda e: e["pending"] == waiting and e["in_flight"] == 1)
            dev.release()
            if staged and ok:
                # B's first answered: its batch is back, nothing else is sent
                ok = b_back.wait(300)
                res.check(ok, "B's first nonce answered")
                dev = h.DeviceHeld(d)
                b_go.set()
                ok = ok and h.wait_evidence_or_fail(
                    res, d, "B's second is on the held device alone",
                    lambda e: e["batches"] == 3 and e["in_flight"] == 1 and e["pending"] == 0)
                a_go.set()
                ok = ok and h.wait_evidence_or_fail(
                    res, d, "A's third waits while it is",
                    lambda e: e["pending"] == 1 and e["in_flight"] == 1)
        finally:
            dev.release()
            b_go.set()
            a_go.set()
            ta.join()
            for tb in tbs:
                tb.join()
        stats = h.evidence_status(d)
        res.check(d.stop() == 0, "window %d ms, BatchMax=%d: clean exit" % (window, bmax))
    got = {}
    for n, (status, doc) in answers.items():
        bd = doc.get("binding", {}) if status == 200 else {}
        if bd.get("nonce") == n:
            got[n] = (bd.get("tree_size"), doc.get("report"))
    return ok and len(got) == len(answers) == len(a) + sum(map(len, bs)), a, bs, got, stats


def counters(e):
    return "held %s, gathered %s" % (e.get("held"), e.get("gathered"))


ok, (a1, a2), ((b,),), got, e = run(1000)
res.check(ok, "window 1 s: every answer bound to its own nonce (%d)" % len(got))
if ok:
    res.check(got[a1][0] == 1 and got[a2][0] == 2 and got[b][0] == 2 and
              got[a2][1] == got[b][1] and got[a1][1] != got[b][1] and
              e["held"] == 1 and e["gathered"] == 1,
              "window 1 s: A's second nonce joined B's held batch, which went when both were "
              "in (tree sizes %s, %s, %s; one report for both: %s; %s)" %
              (got[a1][0], got[a2][0], got[b][0], got[a2][1] == got[b][1], counters(e)))

ok, (a1, a2), ((b,),), got, e = run(0)
res.check(ok, "window 0: every answer bound to its own nonce (%d)" % len(got))
if ok:
    res.check(got[a1][0] == 1 and got[a2][0] == 1 and got[b][0] == 1 and
              len({got[a1][1], got[a2][1], got[b][1]}) == 3 and
              e["held"] == 0 and e["gathered"] == 0,
              "window 0: B's batch went when the device was back, A's second nonce alone "
              "(tree sizes %s, %s, %s; three reports; %s)" %
              (got[a1][0], got[a2][0], got[b][0], counters(e)))

# a full batch is not held: it goes when the device is back, A's next is alone
ok, (a1, a2), bs, got, e = run(1000, bmax=2, waiting=2)
res.check(ok, "window 1 s, BatchMax=2: every answer bound to its own nonce (%d)" % len(got))
if ok:
    bs = [x[0] for x in bs]
    res.check(got[a2][0] == 1 and all(got[n][0] == 2 for n in bs) and
              got[bs[0]][1] == got[bs[1]][1] and got[a2][1] != got[bs[0]][1] and
              e["held"] == 0,
              "window 1 s, BatchMax=2: the full batch was not held, A's second nonce alone "
              "(tree sizes %s, %s, %s; %s)" % (got[a2][0], got[bs[0]][0], got[bs[1]][0],
                                               counters(e)))

# A's third after B's second went alone: what came back too slowly holds nothing
ok, (a1, a2, a3), ((b1, b2, b3),), got, e = run(1000, b_count=3, staged=True)
res.check(ok, "A's third after B's second: every answer bound to its own nonce (%d)" % len(got))
if ok:
    res.check(got[a2][0] == 2 and got[a2][1] == got[b1][1] and got[b2][0] == 1,
              "A's third after B's second: A's second and B's first gathered, B's second "
              "alone (tree sizes %s, %s, %s)" % (got[a2][0], got[b1][0], got[b2][0]))
    res.check(got[a3][0] == 1 and got[b3][0] == 1 and got[a3][1] != got[b3][1] and
              e["held"] == 2 and e["gathered"] == 1,
              "A's third after B's second: A's third, waiting when B's second returned, was "
              "not held for B's third (tree sizes %s, %s; two reports; %s)" %
              (got[a3][0], got[b3][0], counters(e)))

# a lone client asking again at once is not made to wait for the window
with h.Daemon(config="[Daemon]\nBatchWindowMSec=1000\n",
              env={"SNP_SIM_DEVICE_US": "200000"}) as d:
    d.start()
    nonces = [os.urandom(32).hex() for _ in range(3)]
    sizes = []
    for n in nonces:
        st, doc = evidence(d, n)
        bd = doc.get("binding", {}) if st == 200 else {}
        sizes.append(bd.get("tree_size") if bd.get("nonce") == n else None)
    e = h.evidence_status(d)
    res.check(sizes == [1, 1, 1] and e["batches"] == 3 and e["gathered"] == 2 and
              e["held"] == 0,
              "a lone client: its second and third nonces went as soon as they came (tree "
              "sizes %r, %d batches, %s)" % (sizes, e["batches"], counters(e)))
    res.check(d.stop() == 0, "lone client: clean exit")
res.done()
