# SPDX-License-Identifier: Apache-2.0
"""The HTTP API against RFC 9110/9112 where a conformance review found it
wrong (notes: review of the HTTP API), on the unix socket and on loopback
TCP, with raw sockets so that the test controls every byte:

- whitespace between a header name and the colon (any header) is refused
  with 400 before a body is read, and the connection is closed after it:
  the declared body is never read as a next request (RFC 9112 5.1);
- every answer, errors and the ones written on the socket included, says
  Cache-Control: no-store (/v1/log: no-cache, it has an ETag), and those
  chosen by Accept say Vary: Accept (RFC 9111 5.2.2.5, RFC 9110 12.5.5);
- a request refused before its body was read (413, a cut() answer) is
  closed lingering (RFC 9112 9.6): python http.client, which sends the
  whole body before it reads, gets the 413 instead of EPIPE/ECONNRESET,
  and a client that sends on and on is still cut off (4 MiB);
- Accept is matched with its weights, over all its lines: q=0 is not acceptable, the higher
  weight wins, a tie keeps the default (RFC 9110 12.4.2, 12.5.1);
- a 304 carries no Content-Length but the 200's (RFC 9110 8.6), and the
  connection goes on after it;
- the answers snpd writes on the socket (414, 400 for too many
  parameters, 503 too-many-connections) have a Date (RFC 9110 6.6.1) and
  the title the same type has elsewhere (RFC 9457 3.1.3);
- a request target in absolute-form is served (RFC 9112 3.2.2);
- an unrecognized method is 501, a known one not served here 405 with
  Allow (RFC 9110 9.1, 15.5.6, 15.6.2).

No timed assert: sockets have a 10 s timeout while RequestTimeoutSec is
60, so an answer snpd would not give fails the check instead."""

import email.utils
import http.client
import json
import socket

import snpd_harness as h
import snptest as t

res = t.Results()
PROBLEM = "urn:snpd:problem:"
TIMEOUT = 10.0


def connect(addr):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
    else:
        s = socket.create_connection(addr)
    s.settimeout(TIMEOUT)
    return s


def read_to_eof(s):
    """Everything until the server closes; b"<timeout>" appended when it
    does not within TIMEOUT, b"<reset>" when it resets."""
    got = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                return got
            got += c
    except socket.timeout:
        return got + b"<timeout>"
    except ConnectionResetError:
        return got + b"<reset>"


def exchange(addr, raw):
    s = connect(addr)
    try:
        s.sendall(raw)
        return read_to_eof(s)
    finally:
        s.close()


def responses(got):
    """The responses in @got: a list of (status, headers, body)."""
    out = []
    while got.startswith(b"HTTP/1.") and b"\r\n\r\n" in got:
        head, got = got.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        hd = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hd.setdefault(k.strip().lower(), []).append(v.strip())
        status = int(lines[0].split()[1])
        # a 304 never has a body, whatever its Content-Length says
        n = int(hd.get("content-length", ["0"])[0]) if status != 304 else 0
        out.append((status, hd, got[:n]))
        got = got[n:]
    return out


def one(addr, method, path, extra=b"", body=b""):
    """One request with Connection: close: (status, headers, body) of the
    first answer, (0, {}, raw) when there is none."""
    raw = (method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"Connection: close\r\n" + extra)
    if body:
        raw += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    got = exchange(addr, raw + b"\r\n" + body)
    rs = responses(got)
    return rs[0] if rs else (0, {}, got)


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("x", timeout=TIMEOUT * 3)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT * 3)
        self.sock.connect(self.path)


def client(name, addr):
    if name == "unix":
        return UnixConn(addr)
    return http.client.HTTPConnection(addr[0], addr[1], timeout=TIMEOUT * 3)


def valid_date(s):
    """An IMF-fixdate (RFC 9110 5.6.7)."""
    try:
        return (s.endswith(" GMT") and len(s) == 29 and
                email.utils.parsedate_to_datetime(s) is not None)
    except (TypeError, ValueError):
        return False


def problem_type(hd, body):
    if hd.get("content-type") != ["application/problem+json"]:
        return None
    try:
        ty = json.loads(body).get("type", "")
    except ValueError:
        return None
    return ty[len(PROBLEM):] if ty.startswith(PROBLEM) else None


port = h.free_port()
CONFIG = """[HTTP]
Listen=127.0.0.1:%d
RequestTimeoutSec=60

[Daemon]
RateLimit=0
QueueSize=512
LogWriters=root

[Key:app]
Fields=measurement
ApiUsers=root
""" % port

with h.Daemon(config=CONFIG, args=["--no-fs"]) as d:
    d.start()
    transports = (("unix", d.api), ("tcp", ("127.0.0.1", port)))

    # --- finding 1: whitespace between a field name and the colon --------
    inner = b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"
    for name, addr in transports:
        for field in (b"Content-Length : %d" % len(inner), b"Content-Length\t: %d" % len(inner),
                      b"Host : x", b"X-Other : 1", b"Transfer-Encoding : chunked"):
            host = b"" if field.startswith(b"Host") else b"Host: x\r\n"
            raw = (b"POST /v1/report HTTP/1.1\r\n" + host + field + b"\r\n\r\n" + inner)
            got = exchange(addr, raw)
            rs = responses(got)
            res.check(len(rs) == 1 and rs[0][0] == 400 and
                      problem_type(rs[0][1], rs[0][2]) == "invalid-header" and
                      rs[0][1].get("connection") == ["close"] and
                      not got.endswith((b"<timeout>", b"<reset>")),
                      "%s: %r: one 400 invalid-header, then the connection closes (got %r)" %
                      (name, field, got[:200]))
    # the same in a GET, and after a first request on a kept-alive connection
    for name, addr in transports:
        got = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nAccept : */*\r\n\r\n" + inner)
        rs = responses(got)
        res.check([r[0] for r in rs] == [200, 400] and not got.endswith(b"<timeout>"),
                  "%s: second request with 'Accept :' refused and nothing after it served "
                  "(got %r)" % (name, [r[0] for r in rs]))
        got = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        res.check(responses(got)[:1] and responses(got)[0][0] == 200,
                  "%s: still serving" % name)

    # --- finding 2: Cache-Control and Vary ---------------------------------
    nonce = "00ff" * 16
    for name, addr in transports:
        cases = [("GET", "/v1/report?nonce=" + nonce, b"", b"", 200, True),
                 ("GET", "/v1/report", b"Accept: application/octet-stream\r\n", b"", 200, True),
                 ("POST", "/v1/report", b"", b'{"report_data_hex":"00ff"}', 200, True),
                 ("GET", "/v1/report?nonce=zz", b"", b"", 400, False),
                 ("GET", "/v1/evidence?nonce=" + nonce, b"", b"", 200, False),
                 ("GET", "/v1/certificates", b"", b"", 200, True),
                 ("GET", "/v1/certificates", b"Accept: application/json\r\n", b"", 200, True),
                 ("GET", "/v1/platform", b"", b"", 200, False),
                 ("GET", "/v1/status", b"", b"", 200, False),
                 ("HEAD", "/v1/status", b"", b"", 200, False),
                 ("GET", "/healthz", b"", b"", 200, False),
                 ("GET", "/metrics", b"", b"", 200, False),
                 ("GET", "/nope", b"", b"", 404, False),
                 ("PUT", "/v1/status", b"", b"", 405, False),
                 ("GET", "/healthz", b"", b"x", 400, False),
                 ("POST", "/v1/report", b"Content-Length: 99999\r\n", b"", 413, False)]
        if name == "unix":
            cases.append(("POST", "/v1/keys/app", b"", b"", 200, True))
        for method, path, extra, body, want, vary in cases:
            st, hd, b = one(addr, method, path, extra, body)
            res.check(st == want and hd.get("cache-control") == ["no-store"] and
                      (hd.get("vary") == ["Accept"]) == vary,
                      "%s: %s %s %r: %d, Cache-Control: no-store%s (got %d %r %r)" %
                      (name, method, path[:24], extra[:30], want,
                       ", Vary: Accept" if vary else ", no Vary", st,
                       hd.get("cache-control"), hd.get("vary")))
        # /v1/log: revalidated with its ETag, so no-cache, on 200 and 304
        st, hd, b = one(addr, "GET", "/v1/log")
        etag = hd.get("etag", [""])[0].encode()
        res.check(st == 200 and hd.get("cache-control") == ["no-cache"] and etag,
                  "%s: GET /v1/log: Cache-Control: no-cache (got %d %r)" %
                  (name, st, hd.get("cache-control")))
        st, hd, b = one(addr, "GET", "/v1/log", b"If-None-Match: " + etag + b"\r\n")
        res.check(st == 304 and hd.get("cache-control") == ["no-cache"],
                  "%s: 304 from /v1/log: Cache-Control: no-cache (got %d %r)" %
                  (name, st, hd.get("cache-control")))
        # written on the socket (on_uri(): 17 parameters)
        st, hd, b = one(addr, "GET", "/v1/status?" + "&".join("a%d=1" % i for i in range(18)))
        res.check(st == 400 and hd.get("cache-control") == ["no-store"],
                  "%s: 400 written on the socket: Cache-Control: no-store (got %d %r)" %
                  (name, st, hd.get("cache-control")))

    # --- finding 3: lingering close ---------------------------------------
    def status_http():
        st, hd, b = one(d.api, "GET", "/v1/status")
        return json.loads(b)["http"] if st == 200 else {}

    for name, addr in transports:
        for method, path, size, want in (("POST", "/v1/report", 2000000, 413),
                                         ("POST", "/v1/log/events", 3000000, 413),
                                         ("POST", "/v1/report?" + "&".join(
                                             "a%d=1" % i for i in range(18)), 2000000, 400)):
            c = client(name, addr)
            try:
                c.request(method, path, body=b"a" * size,
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                got = (r.status, r.getheader("Content-Type"), r.read())
            except (OSError, http.client.HTTPException) as e:
                got = (repr(e),)
            c.close()
            res.check(got[0] == want and got[1] == "application/problem+json",
                      "%s: http.client %s %s with a %d-byte body reads the %d (got %r)" %
                      (name, method, path[:20], size, want, got[:2]))
        # past the byte bound the connection is closed: sending fails
        s = connect(addr)
        sent, err = 0, None
        try:
            s.sendall(b"POST /v1/report HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 100000000\r\n\r\n")
            while sent < 64 << 20:
                s.sendall(b"a" * 65536)
                sent += 65536
        except OSError as e:
            err = e
        s.close()
        # cut off: the peer closed (a timeout would be a connection held open)
        res.check(isinstance(err, (BrokenPipeError, ConnectionResetError)) and sent < 64 << 20,
                  "%s: a client sending on and on is cut off (after %d bytes: %r)" %
                  (name, sent, err))
    # a client that sends nothing more: the lingering socket is closed in time
    s = connect(d.api)
    s.sendall(b"POST /v1/report HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n")
    got = read_to_eof(s)
    res.check(responses(got)[:1] and responses(got)[0][0] == 413 and
              not got.endswith((b"<timeout>", b"<reset>")),
              "an oversized declared body, nothing sent: 413, then EOF (got %r)" % got[:40])
    res.check(h.wait_until(lambda: status_http().get("connections_lingering") == 0, 400),
              "no socket lingers on (%r)" % status_http().get("connections_lingering"))
    s.close()
    res.check(status_http().get("connections_lingered", 0) >= 6,
              "the refused connections lingered (%r)" % status_http().get("connections_lingered"))

    # --- finding 5: Accept with weights -------------------------------------
    OCTET, JSON, PEM = "application/octet-stream", "application/json", "application/x-pem-file"
    for accept, want in ((None, JSON), (OCTET, OCTET), ("*/*", JSON), ("application/*", JSON),
                         (OCTET + ";q=0, " + JSON, JSON), (JSON + ", " + OCTET + ";q=0.1", JSON),
                         (OCTET + ";q=0", JSON), (JSON + ";q=0.5, " + OCTET, OCTET),
                         ("APPLICATION/OCTET-STREAM", OCTET), (OCTET + " ; Q=1.000", OCTET),
                         ("*/*;q=0.1, " + OCTET, OCTET), (OCTET + ";q=2, " + JSON, JSON),
                         ("application/*;q=0.2, " + OCTET + ";q=0.1", JSON),
                         ("text/html", JSON), (OCTET + ", " + JSON, JSON)):
        extra = b"Accept: " + accept.encode() + b"\r\n" if accept is not None else b""
        st, hd, b = one(d.api, "GET", "/v1/report?nonce=00ff", extra)
        got = hd.get("content-type", [None])[0]
        res.check(st == 200 and got == want, "report, Accept %r: %s (got %d %s)" %
                  (accept, want, st, got))
    # several Accept lines are one list (RFC 9110 5.3), whichever line says what
    for lines, want in (((JSON + ";q=0.1", OCTET), OCTET), ((OCTET, JSON + ";q=0.1"), OCTET),
                        ((OCTET + ";q=0", JSON), JSON), ((JSON, OCTET + ";q=0.5"), JSON)):
        extra = b"".join(b"Accept: " + a.encode() + b"\r\n" for a in lines)
        st, hd, b = one(d.api, "GET", "/v1/report?nonce=00ff", extra)
        got = hd.get("content-type", [None])[0]
        res.check(st == 200 and got == want, "report, Accept lines %r: %s (got %d %s)" %
                  (lines, want, st, got))
    for accept, want in ((None, PEM), (JSON, JSON), (JSON + ";q=0, " + PEM, PEM),
                         (PEM + ";q=0.5, " + JSON + ";q=0.9", JSON), ("*/*", PEM)):
        extra = b"Accept: " + accept.encode() + b"\r\n" if accept is not None else b""
        st, hd, b = one(d.api, "GET", "/v1/certificates", extra)
        got = hd.get("content-type", [None])[0]
        res.check(st == 200 and got == want, "certificates, Accept %r: %s (got %d %s)" %
                  (accept, want, st, got))
    for accept, want in ((OCTET, OCTET), (OCTET + ";q=0, " + JSON, JSON)):
        st, hd, b = one(d.api, "POST", "/v1/keys/app", b"Accept: " + accept.encode() + b"\r\n")
        got = hd.get("content-type", [None])[0]
        res.check(st == 200 and got == want, "key, Accept %r: %s (got %d %s)" %
                  (accept, want, st, got))

    # --- finding 6: 304 and Content-Length -----------------------------------
    for name, addr in transports:
        st, hd, b = one(addr, "GET", "/v1/log")
        etag = hd.get("etag", [""])[0].encode()
        got = exchange(addr, b"GET /v1/log HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag +
                       b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        rs = responses(got)
        res.check(st == 200 and [r[0] for r in rs] == [304, 200] and
                  rs[0][1].get("content-length") == [str(len(b))] and
                  rs[1][2] == b"ok\n",
                  "%s: 304 with Content-Length %r (the 200's: %d), then the next answer "
                  "(got %r)" % (name, rs[0][1].get("content-length") if rs else None, len(b),
                                got[:300]))

    # --- finding 8: Date and titles of the answers written on the socket ---
    def title(b):
        try:
            return json.loads(b).get("title")
        except ValueError:
            return None

    for name, addr in transports:
        st, hd, b = one(addr, "GET", "/v1/report?nonce=zz")
        want = title(b)
        for path, status in (("/v1/status?" + "&".join("a%d=1" % i for i in range(18)), 400),
                             ("/v1/status?x=" + "a" * 5000, 414)):
            st, hd, b = one(addr, "GET", path)
            date = hd.get("date", [""])[0]
            res.check(st == status and valid_date(date) and
                      (status != 400 or (want == "Invalid parameter" and title(b) == want)),
                      "%s: %d written on the socket: Date %r, title %r (%r elsewhere)" %
                      (name, status, date, title(b), want))

    # --- finding 7: absolute-form ------------------------------------------
    for name, addr in transports:
        for target, status, ctype in (("http://x/v1/status", 200, "application/json"),
                                      ("HTTP://127.0.0.1:1/healthz", 200, "text/plain"),
                                      ("https://x/v1/report?nonce=00ff", 200, "application/json"),
                                      ("http://x", 404, "application/problem+json"),
                                      ("http://x/nope", 404, "application/problem+json")):
            st, hd, b = one(addr, "GET", target)
            res.check(st == status and hd.get("content-type") == [ctype],
                      "%s: GET %s: %d %s (got %d %r)" % (name, target, status, ctype, st,
                                                         hd.get("content-type")))
    st, hd, b = one(d.api, "POST", "http://x/v1/keys/app")
    res.check(st == 200 and b"key" in b, "POST http://x/v1/keys/app: the key (got %d)" % st)

    # --- finding 11: 501 for unknown methods ----------------------------------
    for name, addr in transports:
        for method, path, status in (("FOO", "/v1/status", 501), ("get", "/v1/status", 501),
                                     ("FOO", "/nope", 501), ("PUT", "/v1/status", 405),
                                     ("OPTIONS", "/v1/report", 405), ("PATCH", "/healthz", 405),
                                     ("DELETE", "/nope", 404)):
            st, hd, b = one(addr, method, path)
            want_type = {501: "method-not-implemented", 405: "method-not-allowed",
                         404: "not-found"}[status]
            res.check(st == status and problem_type(hd, b) == want_type and
                      ("allow" in hd) == (status == 405),
                      "%s: %s %s: %d %s (got %d %r)" % (name, method, path, status, want_type,
                                                        st, problem_type(hd, b)))

    res.check(d.stop() == 0, "snpd exits cleanly (no leak under ASan)")

# a 503 too-many-connections (written on the socket) has a Date too
with h.Daemon(config="[HTTP]\nMaxConnectionsPerClient=1\n", args=["--no-fs"]) as d:
    d.start()
    held = connect(d.api)
    held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    first = held.recv(65536)
    got = exchange(d.api, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    rs = responses(got)
    date = rs[0][1].get("date", [""])[0] if rs else ""
    res.check(first.startswith(b"HTTP/1.1 200") and rs and rs[0][0] == 503 and
              problem_type(rs[0][1], rs[0][2]) == "too-many-connections" and
              valid_date(date),
              "503 too-many-connections: Date %r (got %r)" % (date, got[:120]))
    held.close()
    res.check(d.stop() == 0, "snpd exits cleanly")

res.done()
