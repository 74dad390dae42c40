# SPDX-License-Identifier: Apache-2.0
"""The device never waits for snpd to answer a batch (issue 19 item 6):
when a batch's report comes back, the batch that gathered meanwhile goes
to the device first and only then are the finished batch's members
answered (answering 500 members takes the loop tens of ms, which the
device sat idle before). The simulated device takes 1.5 s per message
(SNP_SIM_DEVICE_US); one client's nonce is on the device alone (a batch
of one) while five more wait (the test holds the device until they do:
its time counts from when snpd has it); snpd's debug log must show the
batch of five sent before the batch of one is answered. Every answer is
bound to its own nonce, in the tree size of its batch. No timing is
asserted: the order of two log lines is.
The two waits (the first nonce on the device, the five pending) each take
their first look before the requests that should make them hold are sent
and must see them not hold then (snpd_harness.wait_evidence_across): the
state often shows at the first look after the requests, so otherwise a
wait that does not poll would go unnoticed."""

import json
import os
import threading

import snpd_harness as h
import snptest as t

res = t.Results()
h.need_fuse()


def evidence(d, nonce, out):
    c = h.UnixHTTPConnection(d.api, timeout=120)
    c.request("GET", "/v1/evidence?nonce=" + nonce)
    r = c.getresponse()
    out[nonce] = (r.status, json.loads(r.read()))
    c.close()


def tree_sizes(answers):
    return {n: a[1].get("binding", {}).get("tree_size") for n, a in answers.items()
            if a[0] == 200 and a[1].get("binding", {}).get("nonce") == n}


with h.Daemon(config="[Daemon]\nLogLevel=debug\n",
              env={"SNP_SIM_DEVICE_US": "1500000"}) as d:
    d.start()
    answers = {}
    first = os.urandom(32).hex()
    rest = [os.urandom(32).hex() for _ in range(5)]
    # the device held until the five wait: its time counts from when the
    # first batch has it (sim/platform.c), not from when the test saw it sent
    dev = h.DeviceHeld(d)
    threads = [threading.Thread(target=evidence, args=(d, first, answers))]

    def send_rest():
        for n in rest:
            threads.append(threading.Thread(target=evidence, args=(d, n, answers)))
            threads[-1].start()

    try:
        ok = h.wait_evidence_across(res, d, "the first nonce is on the held device",
                                    lambda e: e["in_flight"] == 1, threads[0].start)
        ok = ok and h.wait_evidence_across(
            res, d, "five wait while it is",
            lambda e: e["pending"] == 5 and e["in_flight"] == 1, send_rest)
    finally:
        dev.release()
        for th in threads:
            th.join()
    sizes = tree_sizes(answers)
    res.check(sizes.get(first) == 1 and all(sizes.get(n) == 5 for n in rest),
              "each answer bound to its own nonce; tree sizes %r" % sorted(sizes.values()))
    log = d.read_log().splitlines()

    def line(text):
        return next((i for i, s in enumerate(log) if text in s), None)

    sent5 = line("Evidence batch of 5 sent to the device")
    answered1 = line("Evidence batch of 1 answered")
    res.check(ok and sent5 is not None and answered1 is not None and sent5 < answered1,
              "the waiting batch went to the device before the finished one was answered "
              "(log lines %s and %s)" % (sent5, answered1))
    res.check(d.stop() == 0, "clean exit")
res.done()
