# SPDX-License-Identifier: Apache-2.0
"""The HTTP API on the unix socket and loopback TCP: reports bound to the
nonce that verify with an independent oracle, every endpoint, keys only
on the unix socket and only for allowed peers, malformed input answered
with the right 4xx (and the daemon keeps serving), a slow client cut with
408, and a bounded concurrent load with zero errors."""

import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time

from cryptography import x509

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
def der_to_pem(der_b64):
    from cryptography.hazmat.primitives.serialization import Encoding
    return x509.load_der_x509_certificate(base64.b64decode(der_b64)).public_bytes(
        Encoding.PEM).decode()


port = h.free_port()
CONFIG = """[HTTP]
Listen=127.0.0.1:%d
RequestTimeoutSec=3

[Daemon]
RateLimit=0
QueueSize=512

[Key:app]
Fields=measurement
ApiUsers=root

[Key:other]
Fields=policy
""" % port

with h.Daemon(config=CONFIG, args=["--no-fs"]) as d:
    d.start()

    def unix():
        return h.UnixHTTPConnection(d.api)

    def tcp():
        import http.client
        return http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(conn, method, path, body=None, headers=None):
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    # platform certificates (PEM) for the oracle
    st, hd, data = call(unix(), "GET", "/v1/certificates", headers={"Accept": "application/json"})
    pems = json.loads(data)
    res.check(st == 200 and set(pems) >= {"ark", "ask", "vcek"}, "certificates as JSON")
    st, hd, data = call(unix(), "GET", "/v1/certificates")
    res.check(st == 200 and data.count(b"BEGIN CERTIFICATE") == 3 and
              hd["content-type"] == "application/x-pem-file", "certificates as a PEM bundle")

    for name, conn in (("unix", unix), ("tcp", tcp)):
        nonce = os.urandom(32)
        st, hd, data = call(conn(), "GET", "/v1/report?nonce=%s&certs=1" % nonce.hex())
        doc = json.loads(data)
        rep = base64.b64decode(doc["report"])
        res.check(st == 200 and len(rep) == 1184 and rep[0x50:0x70] == nonce,
                  "%s GET /v1/report?nonce: bound" % name)
        res.check(t.oracle_verify(rep, pems["ark"], pems["ask"], pems["vcek"]), "%s GET: the oracle verifies it" % name)
        res.check(doc["report_fields"]["report_data"] == rep[0x50:0x90].hex() and
                  doc["certificates_encoding"] == "der-base64" and
                  der_to_pem(doc["certificates"]["vcek"]) == pems["vcek"],
                  "%s GET: decoded fields and the host's certificates" % name)
        st, hd, rep = call(conn(), "GET", "/v1/report?nonce=" + nonce.hex(),
                           headers={"Accept": "application/octet-stream"})
        res.check(st == 200 and hd["content-type"] == "application/octet-stream" and
                  len(rep) == 1184 and rep[0x50:0x70] == nonce and t.oracle_verify(rep, pems["ark"], pems["ask"], pems["vcek"]),
                  "%s raw report with Accept: application/octet-stream" % name)
        for field, rd in (("report_data_hex", nonce.hex()),
                          ("report_data_base64", base64.b64encode(nonce).decode())):
            st, hd, data = call(conn(), "POST", "/v1/report",
                                json.dumps({field: rd, "vmpl": 0, "certs": False}),
                                {"Content-Type": "application/json"})
            rep = base64.b64decode(json.loads(data)["report"])
            res.check(st == 200 and rep[0x50:0x70] == nonce and t.oracle_verify(rep, pems["ark"], pems["ask"], pems["vcek"]),
                      "%s POST /v1/report (%s)" % (name, field))
        st, hd, data = call(conn(), "GET", "/v1/report?format=tsm&nonce=" + nonce.hex())
        doc = json.loads(data)
        out = base64.b64decode(doc["outblob"])
        aux = base64.b64decode(doc["auxblob"])
        res.check(st == 200 and doc["provider"] == "sev_guest" and out[0x50:0x70] == nonce and
                  aux[:16] != bytes(16) and t.oracle_verify(out, pems["ark"], pems["ask"], pems["vcek"]), "%s ?format=tsm" % name)

    st, hd, data = call(unix(), "GET", "/v1/platform")
    res.check(st == 200 and "measurement" in json.loads(data), "GET /v1/platform")
    st, hd, data = call(unix(), "GET", "/v1/status")
    doc = json.loads(data)
    res.check(st == 200 and doc["health"] == "ok" and "http" in doc, "GET /v1/status")
    b = doc["broker"]
    res.check(0 < b["picked_up"] <= b["completed"] and
              0 <= b["pickup_max_usec"] <= b["pickup_sum_usec"] and
              0 <= b["pickup_over_1ms"] <= b["picked_up"] and 0 <= b["polled"] <= b["picked_up"],
              "/v1/status broker: how long the device's answers waited for the loop "
              "(pickup %d us in all, %d at most; %d taken by a poll)"
              % (b["pickup_sum_usec"], b["pickup_max_usec"], b["polled"]))
    st, hd, data = call(tcp(), "GET", "/healthz")
    res.check(st == 200 and data == b"ok\n", "GET /healthz")
    st, hd, data = call(unix(), "HEAD", "/healthz")
    res.check(st == 200 and data == b"", "HEAD /healthz")

    # keys: unix socket only, allowed peers only
    st, hd, data = call(unix(), "POST", "/v1/keys/app")
    key = json.loads(data).get("key", "")
    res.check(st == 200 and len(key) == 64 and hd.get("cache-control") == "no-store",
              "POST /v1/keys/app as root on the unix socket")
    st, hd, data = call(unix(), "POST", "/v1/keys/app",
                        headers={"Accept": "application/octet-stream"})
    res.check(st == 200 and data.hex() == key, "the same key as raw bytes")
    st, hd, data = call(tcp(), "POST", "/v1/keys/app")
    res.check(st == 403 and json.loads(data)["type"] == "urn:snpd:problem:keys-over-tcp",
              "keys over TCP: 403")
    st, hd, data = call(unix(), "POST", "/v1/keys/other")
    res.check(st == 403 and json.loads(data)["type"] == "urn:snpd:problem:peer-not-allowed",
              "root not in the other profile's ApiUsers: 403")
    if shutil.which("setpriv") and shutil.which("curl"):
        p = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534",
                            "--clear-groups", "curl", "-s", "-i", "-X", "POST",
                            "--unix-socket", d.api, "http://snpd/v1/keys/app"],
                           capture_output=True, text=True)
        res.check(p.stdout.startswith("HTTP/1.1 403") and "peer-not-allowed" in p.stdout,
                  "uid 65534 (not in ApiUsers) refused: %r" % p.stdout[:40])
        p = subprocess.run(["curl", "-s", "--unix-socket", d.api,
                            "http://snpd/v1/report?nonce=00ff"], capture_output=True)
        res.check(p.returncode == 0 and b'"report"' in p.stdout, "curl over the unix socket")
        p = subprocess.run(["curl", "-s", "-H", "Accept: application/octet-stream",
                            "http://127.0.0.1:%d/v1/report?nonce=00ff" % port],
                           capture_output=True)
        res.check(p.returncode == 0 and len(p.stdout) == 1184 and p.stdout[0x50:0x52] == b"\0\xff"
                  and t.oracle_verify(p.stdout, pems["ark"], pems["ask"], pems["vcek"]),
                  "curl over TCP: a raw report bound to the nonce that the oracle verifies")
    log = d.read_log()
    res.check(key not in log, "the key is not in the log")

    # snpctl report talks to the daemon over the unix socket (libcurl)
    out = os.path.join(d.tmp, "via-daemon.bin")
    cdir = os.path.join(d.tmp, "via-daemon-certs")
    nonce = os.urandom(16).hex()
    rc, o, e = t.snpctl(["report", "--socket", d.api, "--nonce", nonce, "-o", out,
                         "--certs-dir", cdir])
    res.check(rc == 0 and sorted(os.listdir(cdir)) == ["ark.pem", "ask.pem", "vcek.pem"],
              "snpctl report --socket writes the report and certificates (%d %s)" % (rc, e))
    rc, o, e = t.snpctl(["verify", "--certs", cdir, "--trust-ark", os.path.join(cdir, "ark.pem"),
                         "--report-data", nonce, out])
    res.check(rc == 0, "that report verifies and is bound to the nonce")
    rc, o, e = t.snpctl(["report", "--socket", d.api, "--json", "--nonce", "01"])
    res.check(rc == 0 and json.loads(o)["report_fields"]["report_data"].startswith("01"),
              "snpctl report --json prints the response")
    rc, o, e = t.snpctl(["report", "--socket", os.path.join(d.tmp, "nope.sock"), "-o", out])
    res.check(rc == 4 and "Cannot reach snpd" in e, "no daemon: exit 4 with a message")
    rc, o, e = t.snpctl(["report", "--socket", d.api, "--nonce", "zz", "-o", out])
    res.check(rc == 3, "bad nonce: exit 3")

    # malformed input: the right 4xx, a stable problem type, still serving
    # an oversized body is refused before it is read: http-strict.py
    cases = [
        ("GET", "/v1/report?nonce=zz", None, 400, "invalid-parameter"),
        ("GET", "/v1/report?nonce=abc", None, 400, "invalid-parameter"),
        ("GET", "/v1/report?nonce=" + "ab" * 65, None, 400, "invalid-parameter"),
        ("GET", "/v1/report?vmpl=4", None, 400, "invalid-parameter"),
        ("GET", "/v1/report?nonce=aa&nonce=bb", None, 400, "invalid-parameter"),
        ("GET", "/v1/report?bogus=1", None, 400, "invalid-parameter"),
        ("POST", "/v1/report", b"{not json", 400, "invalid-json"),
        ("POST", "/v1/report", b'{"report_data_hex":"aa","report_data_hex":"bb"}', 400,
         "invalid-json"),
        ("POST", "/v1/report", b'[1,2]', 400, "invalid-parameter"),
        ("POST", "/v1/report", b'{"report_data_hex":"' + b"ab" * 65 + b'"}', 400,
         "invalid-parameter"),
        ("POST", "/v1/report", b'{"report_data_base64":"!!"}', 400, "invalid-parameter"),
        ("POST", "/v1/report", b'{"report_data":"aa"}', 400, "ambiguous-report-data"),
        ("POST", "/v1/report", b'{"vmpl":"0"}', 400, "invalid-parameter"),
        ("POST", "/v1/report", b'{"surprise":1}', 400, "invalid-parameter"),
        ("DELETE", "/v1/report", None, 405, "method-not-allowed"),
        ("PUT", "/healthz", None, 405, "method-not-allowed"),
        ("GET", "/v1/keys/app", None, 405, "method-not-allowed"),
        ("GET", "/v2/report", None, 404, "not-found"),
        ("GET", "/v1/report/../../etc/passwd", None, 404, "not-found"),
        ("POST", "/v1/keys/..%2f..%2fetc%2fpasswd", None, 404, "not-found"),
        ("POST", "/v1/keys/../app", None, 404, "not-found"),
        ("POST", "/v1/keys/nosuch", None, 404, "unknown-key-profile"),
        ("GET", "/", None, 404, "not-found"),
    ]
    for method, path, body, want, ptype in cases:
        st, hd, data = call(unix(), method, path, body)
        ok = st == want and hd.get("content-type") == "application/problem+json"
        try:
            ok = ok and json.loads(data)["type"] == "urn:snpd:problem:" + ptype
        except ValueError:
            ok = False
        res.check(ok, "%s %s -> %d %s" % (method, path[:50], st, data[:80]))
        if want == 405:
            res.check("allow" in hd, "405 carries Allow: %s" % hd.get("allow"))

    # a client that sends one byte a second is cut with 408
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    got = b""
    for ch in b"GET /v1/report HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 20:
        try:
            s.send(bytes([ch]))
        except OSError:
            break
        s.settimeout(1.0)
        try:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        except socket.timeout:
            pass
    s.close()
    res.check(got.startswith(b"HTTP/1.1 408") and time.monotonic() - t0 < 12,
              "one byte a second: 408 after the request timeout (%r)" % got[:20])
    st, hd, data = call(tcp(), "GET", "/healthz")
    res.check(st == 200, "still serving after the malformed input")

    # bounded concurrent load on loopback: zero errors
    errors = []
    done = [0]
    lock = threading.Lock()

    def worker(i):
        conn = tcp()
        for j in range(25):
            nonce = ("%04x%04x" % (i, j)) * 4
            try:
                st, hd, data = call(conn, "GET", "/v1/report?nonce=" + nonce,
                                    headers={"Accept": "application/octet-stream"})
                if st != 200 or data[0x50:0x60].hex() != nonce:
                    raise RuntimeError("status %d" % st)
                with lock:
                    done[0] += 1
            except Exception as e:  # counted below
                errors.append(repr(e))
                conn = tcp()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    res.check(not errors and done[0] == 800,
              "32 connections x 25 reports: %d ok, errors %r" % (done[0], errors[:3]))
    st, hd, data = call(unix(), "GET", "/metrics")
    text = data.decode()
    res.check(st == 200 and 'snpd_http_requests_total{endpoint="report",code="200"}' in text
              and "snpd_device_latency_seconds_bucket" in text and "snpd_queue_depth" in text
              and "snpd_rate_limited_total" in text and "snpd_busy_backoffs_total" in text,
              "GET /metrics in Prometheus text format")

# rate limiting answers 429 with Retry-After: RateBurst=2 at once, then
# one a second. The test does not time itself: it asks until refused (a
# 429 comes within 10 requests unless each takes about a second), and what
# was let through before must fit the bucket: 2 + 1 per whole second since
# the first request
with h.Daemon(config="[Daemon]\nRateLimit=1\nRateBurst=2\n", args=["--no-fs"]) as d:
    d.start()
    codes = []
    t0 = time.monotonic()
    for i in range(10):
        conn = h.UnixHTTPConnection(d.api)
        conn.request("GET", "/v1/report")
        r = conn.getresponse()
        r.read()
        codes.append((r.status, r.getheader("Retry-After")))
        if r.status != 200:
            break
    elapsed = time.monotonic() - t0
    passed = [c for c, _ in codes[:-1]]
    res.check(codes[-1][0] == 429 and codes[-1][1] and int(codes[-1][1]) >= 1 and
              passed[:2] == [200, 200] and all(c == 200 for c in passed) and
              len(passed) <= 2 + int(elapsed),
              "rate limit: 429 with Retry-After after %d requests in %.1f s (at most %d "
              "allowed): %r" % (len(passed), elapsed, 2 + int(elapsed), codes))

# the connection limit: extra connections are closed, the held ones still
# work, and once they go the service takes new ones again
port2 = h.free_port()
with h.Daemon(config="[HTTP]\nListen=127.0.0.1:%d\nMaxConnections=4\n" % port2,
              args=["--no-fs"]) as d:
    d.start()
    held = [socket.create_connection(("127.0.0.1", port2)) for _ in range(4)]
    time.sleep(0.2)
    extra = socket.create_connection(("127.0.0.1", port2))
    extra.settimeout(5)
    try:
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = extra.recv(1000)
    except OSError:
        answer = b""
    extra.close()
    res.check(answer.startswith(b"HTTP/1.1 503") and b"too-many-connections" in answer,
              "a 5th connection over MaxConnections=4 gets 503 too-many-connections")
    held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    held[0].settimeout(5)
    res.check(held[0].recv(100).startswith(b"HTTP/1.1 200"), "a held connection is served")
    for c in held:
        c.close()
    import http.client
    ok = False
    for _ in range(50):
        # the daemon may not have seen the closes yet: 503 until it has
        try:
            c = http.client.HTTPConnection("127.0.0.1", port2, timeout=5)
            c.request("GET", "/healthz")
            ok = c.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        if ok:
            break
        time.sleep(0.1)
    res.check(ok, "after they close, new connections are served again")

# TCP on a non-loopback address is refused unless explicitly allowed
with h.Daemon(config="[HTTP]\nListen=0.0.0.0:%d\n" % h.free_port(), args=["--no-fs"]) as d:
    rc = d.start(expect_fail=True)
    res.check(rc != 0 and "ListenNonLoopback" in d.read_log(),
              "Listen=0.0.0.0 refused without ListenNonLoopback=yes")

res.done()
