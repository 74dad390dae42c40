# SPDX-License-Identifier: Apache-2.0
"""Batched, bound evidence (issue 19 items 3-5, docs/evidence.md).

64 clients ask for evidence at once (GET /v1/evidence, and the FUSE view's
evidence/<nonce> when it has one): each document proves its own client's
nonce (snpctl verify --nonce and the independent Python verifier both
accept it, and both refuse it for another client's nonce), and the device
signed far fewer reports than there were clients (status evidence and
broker counters). Then, on documents the daemon produced, each forgery is
refused with its reason by snpctl AND the Python verifier: another
client's nonce, a proof node swapped or altered, a node presented as a
leaf, a truncated or reordered log, a log head that does not match, an
event appended after the report. Event policy: --require-event /
--forbid-event."""

import base64
import copy
import json
import os
import signal
import subprocess
import sys
import threading

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

res = t.Results()
CLIENTS = 64
# a window, so that the clients' requests meet in few batches however
# slowly the busy machine starts the threads; correctness never depends on it
CONFIG = ("[Daemon]\nLogWriters=0\nBatchWindowMSec=500\nBatchMax=256\nQueueSize=128\n"
          "[HTTP]\nMaxConnectionsPerClient=256\n")


def http(d, method, path, body=None):
    st, _, data = h.api_request(d, method, path, body, {"Content-Type": "application/json"},
                                timeout=120)
    return st, data


def report_data(doc):
    return base64.b64decode(doc["report"])[0x50:0x90]


def py_verify(doc, nonce):
    """The independent verifier: None if accepted, else the reason. @doc
    is a document, or its bytes as a str (read as a verifier reads them)."""
    try:
        if isinstance(doc, str):
            doc = ev.loads(doc)
        ev.check_document(doc)
        ev.verify(report_data(doc), nonce, doc.get("binding"))
        return None
    except ev.Refused as e:
        return str(e)
    except (KeyError, TypeError, ValueError) as e:
        return "malformed: %r" % e


def write_doc(path, doc):
    """@doc as JSON, or as it is: a str (the bytes of a document), bytes (a raw report)."""
    with open(path, "wb") as f:
        if isinstance(doc, bytes):
            f.write(doc)
        else:
            f.write((doc if isinstance(doc, str) else json.dumps(doc)).encode())


def nonce_args(nonce):
    return [] if nonce is None else ["--nonce", nonce.hex()]


def snpctl_verify(d, doc, nonce, *extra):
    path = os.path.join(d.tmp, "evidence-%d.json" % threading.get_ident())
    write_doc(path, doc)
    p = subprocess.run([h.SNPCTL, "verify", path, "--trust-ark", os.path.join(d.sim, "ark.pem"),
                        "--offline"] + nonce_args(nonce) + list(extra),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def snpctl_json(d, doc, nonce, *extra):
    """snpctl verify --json: (rc, the JSON document on stdout or None, stderr)."""
    path = os.path.join(d.tmp, "evidence-json-%d.json" % threading.get_ident())
    write_doc(path, doc)
    p = subprocess.run([h.SNPCTL, "verify", path, "--trust-ark", os.path.join(d.sim, "ark.pem"),
                        "--offline", "--json"] + nonce_args(nonce) + list(extra),
                       capture_output=True, text=True, timeout=60)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        j = None
    return p.returncode, j, p.stderr


def both_refuse(d, doc, nonce, what, *extra, py=True, reason=""):
    """Refused by snpctl (exit code 1, "binding: FAIL: " and @reason; the
    same with --json) and, unless @py is False, by the Python verifier."""
    pyr = py_verify(doc, nonce) if py else "not asked"
    rc, out = snpctl_verify(d, doc, nonce, *extra)
    line = next((x for x in out.splitlines() if x.startswith("binding: FAIL")), out[-200:])
    res.check(pyr is not None and rc == 1 and line.startswith("binding: FAIL: " + reason) and
              "VERIFIED" not in out,
              "%s: refused by python (%s) and snpctl (rc %d: %s)" % (what, pyr, rc, line))
    # --json: one document saying the refusal and its reason (the text's)
    rc, j, _ = snpctl_json(d, doc, nonce, *extra)
    b = (j or {}).get("binding") or {}
    res.check(rc == 1 and j is not None and j.get("result") == "verification failed" and
              j.get("exit_code") == 1 and b.get("ok") is False and
              b.get("nonce") == (nonce.hex() if nonce is not None else None) and
              b.get("reason") and "binding: FAIL: " + b["reason"] == line,
              "%s: --json says refused with the reason: rc %d, %r" % (what, rc, b))


def fuse_evidence(d, nonce):
    with open(d.path("evidence", nonce.hex()), "rb") as f:
        return f.read()


with h.Daemon(config=CONFIG) as d:
    d.start()
    have_fuse = os.path.isdir(d.path("evidence"))
    # two events before the batch
    recs = [ev.encode_record(0x000C, bytes([i + 1]) * 48, 7, b"loaded thing %d" % i)
            for i in range(2)]
    for i, r in enumerate(recs):
        st, _ = http(d, "POST", "/v1/log/events",
                     {"alg": "sha384", "digest": (bytes([i + 1]) * 48).hex(), "type": 7,
                      "description": "loaded thing %d" % i})
        res.check(st == 201, "event %d appended: %d" % (i, st))
    before = h.fuse_status(d)
    nonces = [os.urandom(16 + i % 17) for i in range(CLIENTS)]
    out = [None] * CLIENTS
    go = threading.Barrier(CLIENTS)

    def client(i):
        go.wait()
        try:
            if have_fuse and i % 2:
                out[i] = ("fuse", 200, fuse_evidence(d, nonces[i]))
            else:
                st, data = http(d, "GET", "/v1/evidence?nonce=" + nonces[i].hex())
                out[i] = ("http", st, data)
        except Exception as e:  # reported below
            out[i] = ("error", 0, repr(e).encode())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    docs = []
    for i, (via, st, data) in enumerate(out):
        if st != 200:
            res.check(False, "client %d (%s): %d %s" % (i, via, st, data[:300]))
            continue
        docs.append((i, via, ev.loads(data)))
    res.check(len(docs) == CLIENTS, "%d/%d clients got evidence (%s)" %
              (len(docs), CLIENTS, "FUSE and HTTP" if have_fuse else "HTTP"))
    # the bytes are one compact JSON serialization of the whole document,
    # the same over HTTP and FUSE, although snpd serializes a batch's common
    # parts once (the head, the log) and only each member's nonce and proof
    exact = 0
    for i, via, doc in docs:
        data = out[i][2]
        want = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        ok = data == want.encode() and data.count(b'"binding"') == 1 and \
            list(doc)[-1] == "binding"
        if not ok:
            print("client %d (%s): the document's bytes differ from the serializer's" %
                  (i, via))
        exact += ok
    res.check(exact == len(docs), "%d/%d documents byte for byte one JSON serialization, "
              "binding last" % (exact, len(docs)))
    after = h.fuse_status(d)
    batches = after["evidence"]["batches"] - before["evidence"]["batches"]
    device = after["broker"]["completed"] - before["broker"]["completed"]
    res.check(1 <= device <= CLIENTS // 4 and batches == device,
              "%d clients answered by %d device reports (%d batches, largest %d)" %
              (CLIENTS, device, batches, after["evidence"]["largest"]))
    # each proves its own nonce, both verifiers agree, and no other's
    agree = own = 0
    for i, via, doc in docs:
        b = doc.get("binding", {})
        py = py_verify(doc, nonces[i])
        rc, outp = snpctl_verify(d, doc, nonces[i])
        own += b.get("nonce") == nonces[i].hex() and py is None and rc == 0
        other = nonces[(i + 1) % CLIENTS]
        py2 = py_verify(doc, other)
        rc2, _ = snpctl_verify(d, doc, other)
        agree += (py is None) == (rc == 0) and py2 is not None and rc2 == 1
        if i == docs[0][0]:
            res.check("event 1: type 7 sha384:" + "02" * 48 in outp and
                      "2 event(s)" in outp,
                      "snpctl lists the bound events: %s" %
                      [x for x in outp.splitlines() if x.startswith(("binding", "event"))])
    # --json lists the verified binding and events: as the daemon logged
    # them (GET /v1/log now, nothing appended since) and as the
    # independent verifier decodes them
    st, data = http(d, "GET", "/v1/log")
    logged = json.loads(data) if st == 200 else {}
    i0, _, doc0 = docs[0]
    rc, j, err = snpctl_json(d, doc0, nonces[i0])
    b = (j or {}).get("binding") or {}
    jl = b.get("log") or {}
    pyev = ev.verify(report_data(doc0), nonces[i0], doc0["binding"])
    res.check(rc == 0 and j is not None and j.get("result") == "verified" and
              b.get("ok") is True and b.get("scheme") == "snpd-binding-v1" and
              b.get("nonce") == nonces[i0].hex() and
              b.get("leaf_index") == doc0["binding"]["leaf_index"] and
              b.get("tree_size") == doc0["binding"]["tree_size"],
              "--json on accepted evidence: verified, binding ok, nonce, leaf %s of %s: "
              "rc %d %s" % (b.get("leaf_index"), b.get("tree_size"), rc, err.strip()[-300:]))
    res.check(logged.get("count") == 2 and jl.get("count") == logged.get("count") and
              jl.get("head") == logged.get("head") and
              jl.get("events") == logged.get("events"),
              "--json log (count, head, events) is the daemon's GET /v1/log: %r vs %r" %
              (jl, {k: logged.get(k) for k in ("count", "head")}))
    res.check([{k: e[k] for k in ("alg", "digest", "type", "description")}
               for e in jl.get("events", [])] == pyev and
              [e.get("seq") for e in jl.get("events", [])] == list(range(len(pyev))),
              "--json events are those the independent verifier decodes: %d" % len(pyev))
    pol = b.get("event_policy") or {}
    res.check(pol.get("result") == "none" and pol.get("required") == [] and
              pol.get("forbidden") == [], "--json event_policy without a policy: %r" % pol)
    rc, j, _ = snpctl_json(d, doc0, nonces[i0], "--require-event", "01" * 48,
                           "--forbid-event", "ab" * 32)
    pol = ((j or {}).get("binding") or {}).get("event_policy") or {}
    res.check(rc == 0 and pol.get("result") == "passed" and
              pol.get("required") == ["01" * 48] and pol.get("forbidden") == ["ab" * 32],
              "--json event_policy satisfied: rc %d %r" % (rc, pol))
    rc, j, _ = snpctl_json(d, doc0, nonces[i0], "--require-event", "03" * 48)
    pol = ((j or {}).get("binding") or {}).get("event_policy") or {}
    j = j or {}
    res.check(rc == 2 and j.get("result") == "policy check failed" and
              j.get("exit_code") == 2 and pol.get("result") == "failed" and
              "03" * 48 in (pol.get("reason") or "") and
              any(c["name"] == "report_sig" and c["result"] == "passed"
                  for c in j.get("checks", [])),
              "--json event_policy failed: rc %d (2), the reason, the report still "
              "checked: %r" % (rc, pol))

    res.check(own == len(docs), "%d/%d documents prove their own client's nonce (python and "
              "snpctl accept)" % (own, len(docs)))
    res.check(agree == len(docs), "%d/%d: another client's nonce is refused by both" %
              (agree, len(docs)))

    # a document from the largest batch, with a proof of 2 or more nodes
    i, _, doc = max(docs, key=lambda x: (x[2]["binding"]["tree_size"],
                                         x[2]["binding"]["leaf_index"] % 2 == 0))
    b = doc["binding"]
    n, m, proof = b["tree_size"], b["leaf_index"], [bytes.fromhex(p) for p in b["proof"]]
    res.check(n >= 4 and len(proof) >= 2 and m ^ 1 < n,
              "a batch of %d (leaf %d, proof of %d)" % (n, m, len(proof)))
    nonce = nonces[i]

    def forged(**kw):
        f = copy.deepcopy(doc)
        for k, v in kw.items():
            if k.startswith("log_"):
                f["binding"]["log"][k[4:]] = v
            else:
                f["binding"][k] = v
        return f

    both_refuse(d, doc, nonces[(i + 1) % CLIENTS], "another client's nonce")
    both_refuse(d, forged(nonce=nonces[(i + 1) % CLIENTS].hex()), nonces[(i + 1) % CLIENTS],
                "another client's nonce put in the proof")
    sw = list(b["proof"])
    sw[0], sw[1] = sw[1], sw[0]
    both_refuse(d, forged(proof=sw), nonce, "proof with two nodes swapped")
    other_doc = next(x[2] for x in docs if x[2]["binding"]["proof"][0] != b["proof"][0])
    both_refuse(d, forged(proof=[other_doc["binding"]["proof"][0]] + b["proof"][1:]), nonce,
                "proof with a node swapped for another proof's")
    # a node presented as a leaf: the node over my leaf and its sibling, with
    # the rest of the path, is the same root for a tree of half the size
    leaf = ev.leaf_hash(nonce)
    node = ev.node_hash(leaf, proof[0]) if m % 2 == 0 else ev.node_hash(proof[0], leaf)
    half = (n + 1) // 2
    res.check(ev.root_from_proof(node, m // 2, half, proof[1:]) ==
              ev.root_from_proof(leaf, m, n, proof),
              "the node over my leaf reaches the same root one level up")
    both_refuse(d, forged(nonce=node.hex(), leaf_index=m // 2, tree_size=half,
                          proof=b["proof"][1:]), node, "a node presented as a leaf")
    both_refuse(d, forged(leaf_index=m ^ 1), nonce, "a wrong leaf index")
    evs = b["log"]["events"]
    both_refuse(d, forged(log_events=evs[:-1]), nonce, "a truncated log (count kept)")
    both_refuse(d, forged(log_events=evs[:-1], log_count=len(evs) - 1,
                          log_head=evs[-2]["head"]), nonce,
                "a truncated log (count and head of the shorter log)")
    ro = [dict(evs[1], seq=0), dict(evs[0], seq=1)]
    for x in ro:
        del x["head"]
    both_refuse(d, forged(log_events=ro, log_head=ev.chain(
        [bytes.fromhex(x["record"]) for x in ro])[-1].hex()), nonce, "a reordered log")
    both_refuse(d, forged(log_head="00" * 48), nonce, "a log head that does not match")
    st, _ = http(d, "POST", "/v1/log/events",
                 {"alg": "sha256", "digest": "ab" * 32, "type": 9, "description": "late"})
    st2, data = http(d, "GET", "/v1/log")
    log = json.loads(data)
    res.check(st == 201 and log["count"] == len(evs) + 1, "an event appended after the report")
    both_refuse(d, forged(log_events=log["events"], log_count=log["count"],
                          log_head=log["head"]), nonce,
                "the log with an event appended after the report")

    # event policy on the genuine document
    rc, outp = snpctl_verify(d, doc, nonce, "--require-event", "01" * 48,
                             "--forbid-event", "ab" * 32)
    res.check(rc == 0 and "event policy: ok" in outp, "required event present, forbidden "
              "absent: rc %d" % rc)
    rc, outp = snpctl_verify(d, doc, nonce, "--require-event", "03" * 48)
    res.check(rc == 2 and "no event with required digest" in outp,
              "a required event missing: rc %d (2)" % rc)
    rc, outp = snpctl_verify(d, doc, nonce, "--forbid-event", "02" * 48)
    res.check(rc == 2 and "forbidden digest" in outp, "a forbidden event present: rc %d (2)" % rc)
    pf = os.path.join(d.tmp, "policy.json")
    with open(pf, "w") as f:
        json.dump({"require_events": ["02" * 48], "forbid_events": ["cd" * 32]}, f)
    rc, outp = snpctl_verify(d, doc, nonce, "--policy", pf)
    res.check(rc == 0 and "event policy: ok (1 required, 1 forbidden" in outp,
              "policy file require_events/forbid_events satisfied: rc %d" % rc)
    with open(pf, "w") as f:
        json.dump({"forbid_events": ["01" * 48]}, f)
    rc, outp = snpctl_verify(d, doc, nonce, "--policy", pf)
    res.check(rc == 2 and "forbidden digest" in outp,
              "policy file forbid_events hit: rc %d (2)" % rc)
    rc, outp = snpctl_verify(d, doc, nonce, "--policy", pf, "--forbid-event", "cd" * 32)
    res.check(rc == 0, "--forbid-event replaces the policy file's list: rc %d (0)" % rc)
    rc, outp = snpctl_verify(d, doc, None)
    res.check(rc == 3, "bound evidence without --nonce: usage error, rc %d (3)" % rc)

    # --nonce asks for bound evidence: a raw report of my nonce, put in a
    # copy of real evidence whose binding is deleted (so the event log is
    # gone), is refused, as is the raw report itself; an event policy too
    st, data = http(d, "GET", "/v1/report?nonce=" + nonce.hex())
    raw = base64.b64decode(json.loads(data)["report"]) if st == 200 else b""
    res.check(raw[0x50:0x90] == nonce + bytes(64 - len(nonce)),
              "a raw report whose REPORT_DATA is my nonce: %d" % st)
    down = copy.deepcopy(doc)
    down["report"] = base64.b64encode(raw).decode()
    del down["binding"]
    no_binding = "the document has no binding; snpd's evidence is always bound"
    both_refuse(d, down, nonce, "a raw report of my nonce in evidence without binding",
                reason=no_binding)
    both_refuse(d, down, nonce + b"\0", "the same, --nonce zero-padded", reason=no_binding)
    both_refuse(d, down, nonce, "the same with --require-event", "--require-event", "01" * 48,
                reason=no_binding)
    both_refuse(d, down, None, "the same with --forbid-event (no --nonce)", "--forbid-event",
                "ab" * 32, reason=no_binding)
    both_refuse(d, raw, nonce, "the raw report itself with --nonce", py=False,
                reason="not an evidence document")
    both_refuse(d, raw, None, "the raw report itself with --require-event", "--require-event",
                "01" * 48, py=False, reason="not an evidence document")
    # a raw report's REPORT_DATA is still checked, with --report-data
    certs = ["--certs", d.sim]
    rc, outp = snpctl_verify(d, raw, None, "--report-data", nonce.hex(), *certs)
    res.check(rc == 0 and "VERIFIED" in outp, "the raw report with --report-data NONCE: "
              "rc %d (0) %s" % (rc, outp.strip()[-200:]))
    rc, outp = snpctl_verify(d, raw, None, "--report-data", nonces[(i + 1) % CLIENTS].hex(),
                             *certs)
    res.check(rc == 2, "the raw report with another --report-data: rc %d (2)" % rc)
    rc, outp = snpctl_verify(d, down, None, "--report-data", nonce.hex())
    res.check(rc == 0, "the document without binding, as a raw report (--report-data, no "
              "--nonce): rc %d (0) %s" % (rc, outp.strip()[-200:]))

    # --report-data is the REPORT_DATA the report holds (in bound evidence,
    # the binding's hash); --nonce checks the binding: both may be given
    rc, outp = snpctl_verify(d, doc, nonce, "--report-data", report_data(doc).hex())
    res.check(rc == 0 and "binding: ok" in outp,
              "--nonce with --report-data REPORT_DATA: rc %d (0) %s" % (rc, outp.strip()[-200:]))
    rc, j, _ = snpctl_json(d, doc, nonce, "--report-data", nonce.hex())
    res.check(rc == 2 and j is not None and
              any(c["name"] == "report_data" and c["result"] == "failed"
                  for c in j.get("checks", [])),
              "--nonce with --report-data NONCE: REPORT_DATA is not the nonce, rc %d (2)" % rc)

    # a document that is not one is refused, not a usage error: a member
    # name twice (any depth), an integer out of range, bytes after it, a
    # malformed report; the Python verifier refuses the same documents
    text = json.dumps(doc)
    forged_first = json.dumps(forged(nonce=nonces[(i + 1) % CLIENTS].hex())["binding"])
    ev1 = b["log"]["events"][1]
    for what, bad in (
            ("binding twice (another's first)",
             text.replace('"binding": {', '"binding": %s, "binding": {' % forged_first, 1)),
            ("report twice", text.replace('"report": ', '"report": "%s", "report": ' %
                                          down["report"], 1)),
            ("an event's description twice", text.replace(
                '"description": %s' % json.dumps(ev1["description"]),
                '"description": "elsewhere", "description": %s' %
                json.dumps(ev1["description"]), 1)),
            ("leaf_index 2^64 + its value", text.replace(
                '"leaf_index": %d' % m, '"leaf_index": %d' % (2**64 + m), 1)),
            ("bytes after the document", text + "x")):
        assert bad != text, what
        both_refuse(d, bad, nonce, "a document with " + what, reason="not an evidence document")
    both_refuse(d, text + "x", None, "a document with bytes after it, no --nonce", py=False,
                reason="not an evidence document")
    # nesting (docs/evidence.md 6): deeper than 32 arrays and objects is
    # refused, in a member nobody reads too; 32 levels are accepted
    deep = "not an evidence document: nested deeper than 32 arrays and objects"
    for k in (32, 1500):
        both_refuse(d, text.replace("{", '{"x": %s, ' % ("[" * k + "]" * k), 1), nonce,
                    "a document %d levels deep" % (1 + k), reason=deep)
    at_limit = text.replace("{", '{"x": %s, ' % ("[" * 31 + "]" * 31), 1)
    rc, outp = snpctl_verify(d, at_limit, nonce)
    pyr = py_verify(at_limit, nonce)
    res.check(rc == 0 and "binding: ok" in outp and pyr is None,
              "a document 32 levels deep: accepted by python (%s) and snpctl (rc %d)" % (pyr, rc))
    # "type" and "version" say what the document is (docs/evidence.md 6):
    # missing or other ones are refused by both, for that reason
    for what, bad, why in (
            ("no type", {k: v for k, v in doc.items() if k != "type"}, "type"),
            ("type \"snpd-report\"", dict(doc, type="snpd-report"), "type"),
            ("type null", dict(doc, type=None), "type"),
            ("no version", {k: v for k, v in doc.items() if k != "version"}, "version"),
            ("version 2", dict(doc, version=2), "version"),
            ("version \"1\"", dict(doc, version="1"), "version")):
        want = '"%s": expected %s (an snpd evidence document)' % (
            why, '"snpd-evidence"' if why == "type" else "1")
        pyr = py_verify(dict(bad), nonce)
        res.check(pyr == want, "a document with %s: python says %r" % (what, pyr))
        both_refuse(d, bad, nonce, "a document with " + what,
                    reason="not an evidence document: " + want)
    rpt = bytearray(base64.b64decode(doc["report"]))
    rpt[0x4C] = 1  # reserved
    both_refuse(d, dict(doc, report=base64.b64encode(rpt).decode()), nonce,
                "evidence with a malformed report", py=False, reason="malformed report")

    # limits: a bad nonce is a clear 400 and the service keeps serving
    for q in ("", "?nonce=", "?nonce=0g", "?nonce=" + "00" * 65):
        st, _ = http(d, "GET", "/v1/evidence" + q)
        res.check(st == 400, "/v1/evidence%s: %d (400)" % (q[:20], st))
    one = os.urandom(32)
    st, data = http(d, "GET", "/v1/evidence?nonce=" + one.hex())
    j = json.loads(data) if st == 200 else {}
    res.check(st == 200 and j["binding"]["tree_size"] >= 1 and py_verify(j, one) is None,
              "alone: a batch of %s verifies" % j.get("binding", {}).get("tree_size"))

    # stopping with nonces waiting in a batch: each is answered (503
    # shutting-down), snpd exits cleanly. The device is held with a first
    # nonce on it, so that the four surely wait in the next batch when snpd
    # stops (without that, one could go alone at once, be answered, and the
    # stop find fewer waiting, or none); each wait looks first before the
    # requests that should make it hold are sent.
    waiting = []

    def waiter(out):
        try:
            st, data = http(d, "GET", "/v1/evidence?nonce=" + os.urandom(8).hex())
            out.append((st, h.problem_type(data) if st != 200 else None))
        except OSError as e:  # never answered: the connection closed
            out.append((repr(e), None))

    dev = h.DeviceHeld(d)
    on_device = []
    wt = [threading.Thread(target=waiter, args=(on_device,))]

    def send_four():
        for _ in range(4):
            wt.append(threading.Thread(target=waiter, args=(waiting,)))
            wt[-1].start()

    try:
        ok = h.wait_evidence_across(res, d, "stopping: a first nonce on the held device",
                                    lambda e: e["in_flight"] == 1, wt[0].start)
        ok = ok and h.wait_evidence_across(
            res, d, "stopping: four nonces wait while it is",
            lambda e: e["pending"] == 4 and e["in_flight"] == 1, send_four)
        if ok:
            # the loop answers the waiting batch; the worker waits for the device
            d.send_signal(signal.SIGTERM)
            d.wait_for("STOPPING=1")
    finally:
        dev.release()
    rc = d.stop()
    for th in wt:
        th.join()
    with open(d.log, errors="replace") as f:
        log = f.read()
    res.check(rc == 0 and "Sanitizer" not in log and "runtime error" not in log,
              "stopped with evidence waiting: exit %s, no sanitizer report" % rc)
    res.check(waiting == [(503, "shutting-down")] * 4,
              "the four waiting nonces are answered 503 shutting-down (%r; the one on the "
              "device: %r)" % (waiting, on_device))

# over RateLimit= the batch waits and grows, it never fails its members
with h.Daemon(config="[Daemon]\nRateLimit=1\nRateBurst=1\n") as d:
    d.start()
    st, _ = http(d, "GET", "/v1/evidence?nonce=" + os.urandom(16).hex())
    res.check(st == 200, "first evidence (takes the rate limit's only token): %d" % st)
    out = []
    go = threading.Barrier(8)

    def limited():
        go.wait()
        n = os.urandom(16)
        st, data = http(d, "GET", "/v1/evidence?nonce=" + n.hex())
        out.append(st == 200 and py_verify(json.loads(data), n) is None)

    threads = [threading.Thread(target=limited) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    e = h.evidence_status(d)
    res.check(out.count(True) == 8 and e["failed"] == 0,
              "over RateLimit=1: %d/8 answered and verified, %d failed, %d batches" %
              (out.count(True), e["failed"], e["batches"]))
    rc = d.stop()
    with open(d.log, errors="replace") as f:
        log = f.read()
    res.check(rc == 0 and "Sanitizer" not in log and "runtime error" not in log,
              "clean exit %s, no sanitizer report" % rc)

# a client's share: QueueSize= nonces waiting; more are refused, clearly.
# The test holds the device (the simulator's lock): the two stay the
# client's, waiting or on the device, until it lets go, whenever the
# third comes
with h.Daemon(config="[Daemon]\nQueueSize=2\nBatchWindowMSec=1000\n") as d:
    d.start()
    got = []
    dev = h.DeviceHeld(d)
    ts = [threading.Thread(target=lambda: got.append(
        http(d, "GET", "/v1/evidence?nonce=" + os.urandom(8).hex())[0])) for _ in range(2)]
    try:
        for th in ts:
            th.start()
        # until both are in the batch, waiting or sent (no timing assert)
        def joined():
            e = h.evidence_status(d)
            return e["pending"] + e["in_flight"]

        while joined() < 2 and all(th.is_alive() for th in ts):
            threading.Event().wait(0.01)
        st, data = http(d, "GET", "/v1/evidence?nonce=00")
    finally:
        dev.release()
        for th in ts:
            th.join()
    res.check(st == 503 and b"batch-full" in data,
              "a third nonce of one client over QueueSize=2: %d %s" % (st, data[:80]))
    res.check(sorted(got) == [200, 200], "the two waiting nonces answered: %s" % got)
    e = h.evidence_status(d)
    res.check(e["refused"] == 1, "status counts the refusal: %d" % e["refused"])

    # the share is the client's waiting nonces, not all it ever had: the
    # answered ones and one whose client hung up leave it free again. The
    # device is held from before the nonce that hangs up until the two after
    # it have joined: the hung-up nonce cannot be answered first (it is
    # cancelled, waiting or on the device), so only its cancel can free its
    # place in the share; every wait is for a counter to move from its value
    # before the request or the hang-up it observes.
    m0, c0, r0 = e["members"], e["cancelled"], e["refused"]
    got = []
    ts = [threading.Thread(target=lambda: got.append(
        http(d, "GET", "/v1/evidence?nonce=" + os.urandom(8).hex())[0])) for _ in range(2)]
    started = []
    dev = h.DeviceHeld(d)
    try:
        gone = h.UnixHTTPConnection(d.api, timeout=120)
        gone.request("GET", "/v1/evidence?nonce=" + os.urandom(8).hex())
        ok = h.wait_evidence_or_fail(res, d, "the nonce joins or is refused",
                                     lambda x: x["members"] > m0 or x["refused"] > r0)
        ok = res.check(ok and h.evidence_status(d)["refused"] == r0,
                       "a nonce joins after the client's two were answered")
        gone.close()  # hangs up while its nonce waits or is on the held device
        ok = ok and h.wait_evidence_or_fail(res, d, "the hung-up nonce is cancelled",
                                            lambda x: x["cancelled"] == c0 + 1)
        if ok:
            for th in ts:
                th.start()
                started.append(th)
            # both join, or one is refused: the share still counts the hung-up nonce
            h.wait_evidence_or_fail(res, d, "two more nonces of the client join or are refused",
                                    lambda x: x["members"] == m0 + 3 or x["refused"] > r0)
    finally:
        dev.release()
        for th in started:
            th.join()
    res.check(sorted(got) == [200, 200],
              "after answers and a hang-up, two nonces of the client again: %s" % got)
    e = h.evidence_status(d)
    res.check(e["refused"] == r0 == 1 and e["cancelled"] == c0 + 1,
              "nothing more refused (%d), the hung-up nonce cancelled (%d -> %d)" %
              (e["refused"], c0, e["cancelled"]))

sys.exit(res.done())
