# SPDX-License-Identifier: Apache-2.0
"""An AMD KDS emulator for tests (never the real KDS).

Serves the simulated chip of a sim state directory (vcek.pem, ask.pem,
ark.pem; CRLs signed with ark-key.pem, RSASSA-PSS SHA-384 salt 48) at
KDS's paths (snp-abi.md §7.3):

  /vcek/v1/{Product}/{hwid}?[fmcSPL=..&]blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
  /vcek/v1/{Product}/cert_chain     /vlek/v1/{Product}/cert_chain
  /vcek/v1/{Product}/crl            /vlek/v1/{Product}/crl

SPLs in either spelling ("3" or "03"); Turin takes the 8-byte hwid only
(a full 64-byte chip id is a 404, as on KDS); an unknown chip or TCB is a
404 (with any_tcb=1, a VCEK of this chip is issued by the ASK for whatever
TCB is asked, with the key of that TCB: as the simulated firmware, and
AMD's, every TCB has its own VCEK key, derived here from the chip's
vcek_seed in the state directory's "secrets" as sim/crypto.c does). HTTP on 127.0.0.1, port chosen by the kernel and printed on
stdout (and written to --port-file) once listening. With --tls-dir DIR it
also serves HTTPS: a test CA and a server certificate for 127.0.0.1 (or,
with --tls-name NAME, for NAME only: the wrong name) are made at start and
written to DIR (ca.pem, server.pem, server-key.pem); the HTTPS port is the
second line on stdout.

Control (HTTP only, not counted): GET /_emu/count -> {"total": N, "paths":
{...}}; GET /_emu/set?mode=normal|429|500|hang|truncate|wrong|badchain
(an ASK not signed by the ARK)|badcrl (a CRL signed by the ASK)|badissuer (a CRL
whose issuer CN holds control bytes and bytes that are not UTF-8)|badsig (a VCEK with
the right extensions signed by another key)|forgedroot (a cert_chain under a forged
ARK of the right names that signed the genuine ASK key, and a CRL signed by it) [&retry_after=S][&revoke=0|1][&any_tcb=0|1]. Every other request is
counted, whatever the answer.
"""
import argparse
import datetime
import ipaddress
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ObjectIdentifier

AMD = "1.3.6.1.4.1.3704.1."
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


def ext_raw(cert, oid):
    try:
        return cert.extensions.get_extension_for_oid(ObjectIdentifier(AMD + oid)).value.value
    except x509.ExtensionNotFound:
        return None


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_elems(der):
    """The children of a DER SEQUENCE: list of (tag, whole element bytes)."""
    def hdr(buf, i):
        tag = buf[i]
        n = buf[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7f
            n = int.from_bytes(buf[i:i + k], "big")
            i += k
        return tag, i, n
    _, i, n = hdr(der, 0)
    end = i + n
    out = []
    while i < end:
        tag, j, m = hdr(der, i)
        out.append((tag, der[i:j + m]))
        i = j + m
    return out


def seq(body):
    return b"\x30" + der_len(len(body)) + body


def pss_sign(der, key, algid):
    """Re-sign a certificate or CRL (built with PKCS#1 v1.5 by an old
    python3-cryptography) with RSASSA-PSS SHA-384 salt 48 as AMD does:
    the algorithm inside the TBS and outside become @algid."""
    tbs = der_elems(der)[0][1]
    kids, done = [], False
    for tag, e in der_elems(tbs):
        if tag == 0x30 and not done:
            e, done = algid, True
        kids.append(e)
    tbs = seq(b"".join(kids))
    sig = key.sign(tbs, PSS, hashes.SHA384())
    return seq(tbs + algid + b"\x03" + der_len(len(sig) + 1) + b"\x00" + sig)


# the order of P-384 (FIPS 186-5 / SEC 2 secp384r1)
P384_N = int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
             "581a0db248b0a77aecec196accc52973", 16)


def leaf_key(seed, tcb, vlek=False):
    """The simulated chip's VCEK (VLEK) private key of the TCB @tcb (the
    8-byte value of the report): sim_leaf_key_derive() of sim/crypto.c,
    HKDF-SHA384(seed, salt "SIMULATED-VCEK-P384", info tcb LE64) to 64
    bytes, d = 1 + (OKM mod (n - 1))."""
    okm = HKDF(algorithm=hashes.SHA384(), length=64,
               salt=b"SIMULATED-VLEK-P384" if vlek else b"SIMULATED-VCEK-P384",
               info=tcb.to_bytes(8, "little")).derive(seed)
    return ec.derive_private_key(1 + int.from_bytes(okm, "big") % (P384_N - 1),
                                 ec.SECP384R1())


def tcb_of(product, spl):
    """The 8-byte TCB of @spl ({"blSPL": n, ...}) in @product's layout."""
    g = lambda k: spl.get(k, 0)  # noqa: E731
    if product == "Turin":
        return g("fmcSPL") | g("blSPL") << 8 | g("teeSPL") << 16 | g("snpSPL") << 24 | \
            g("ucodeSPL") << 56
    return g("blSPL") | g("teeSPL") << 8 | g("snpSPL") << 48 | g("ucodeSPL") << 56


def der_int(b):
    assert b[0] == 2
    return int.from_bytes(b[2:2 + b[1]], "big")


class Chip:
    def __init__(self, state):
        def load(name):
            with open(os.path.join(state, name), "rb") as f:
                return f.read()
        self.vcek = x509.load_pem_x509_certificate(load("vcek.pem"))
        self.ask = x509.load_pem_x509_certificate(load("ask.pem"))
        self.ark = x509.load_pem_x509_certificate(load("ark.pem"))
        self.ark_key = serialization.load_pem_private_key(load("ark-key.pem"), None)
        self.ask_key = serialization.load_pem_private_key(load("ask-key.pem"), None)
        self.vcek_seed = None
        for ln in load("secrets").decode().splitlines():
            if ln.startswith("vcek_seed="):
                self.vcek_seed = bytes.fromhex(ln.split("=", 1)[1].strip())
        # the RSASSA-PSS AlgorithmIdentifier the simulated ARK signs with
        self.pss_algid = der_elems(self.ask.public_bytes(serialization.Encoding.DER))[1][1]
        pn = ext_raw(self.vcek, "2")
        self.product = pn[2:2 + pn[1]].decode().split("-")[0]
        hw = ext_raw(self.vcek, "4")
        if hw[0] == 4 and len(hw) in (2 + 8, 2 + 64):
            hw = hw[2:]
        self.hwid = hw.hex()
        self.spl = {}
        for n, name in ((1, "blSPL"), (2, "teeSPL"), (3, "snpSPL"), (8, "ucodeSPL"),
                        (9, "fmcSPL")):
            raw = ext_raw(self.vcek, "3.%d" % n)
            self.spl[name] = der_int(raw) if raw else 0
        self.issued = {}

    def wrong_vcek(self):
        """A VCEK of another chip (hwID flipped), signed by the ASK."""
        key = ec.generate_private_key(ec.SECP384R1())
        b = x509.CertificateBuilder().subject_name(self.vcek.subject).issuer_name(
            self.vcek.issuer).public_key(key.public_key()).serial_number(
            x509.random_serial_number()).not_valid_before(
            self.vcek.not_valid_before).not_valid_after(self.vcek.not_valid_after)
        for e in self.vcek.extensions:
            if e.oid.dotted_string == AMD + "4":
                raw = bytearray(e.value.value)
                raw[-1] ^= 0xff
                e = x509.Extension(e.oid, e.critical,
                                   x509.UnrecognizedExtension(e.oid, bytes(raw)))
            b = b.add_extension(e.value, e.critical)
        der = b.sign(self.ask_key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)
        return pss_sign(der, self.ask_key, self.pss_algid)

    def vcek_for(self, spl):
        """This chip's VCEK (same hwID, the key of that TCB) issued by the
        ASK for the SPLs @spl ({"blSPL": n, ...}): what KDS serves for
        another TCB."""
        key = tuple(sorted(spl.items()))
        if key in self.issued:
            return self.issued[key]
        oids = {AMD + "3.1": "blSPL", AMD + "3.2": "teeSPL", AMD + "3.3": "snpSPL",
                AMD + "3.8": "ucodeSPL", AMD + "3.9": "fmcSPL"}
        pub = leaf_key(self.vcek_seed, tcb_of(self.product, spl)).public_key()
        b = x509.CertificateBuilder().subject_name(self.vcek.subject).issuer_name(
            self.vcek.issuer).public_key(pub).serial_number(
            x509.random_serial_number()).not_valid_before(
            self.vcek.not_valid_before).not_valid_after(self.vcek.not_valid_after)
        for e in self.vcek.extensions:
            name = oids.get(e.oid.dotted_string)
            if name:
                v = spl.get(name, 0)
                body = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
                e = x509.Extension(e.oid, e.critical, x509.UnrecognizedExtension(
                    e.oid, b"\x02" + der_len(len(body)) + body))
            b = b.add_extension(e.value, e.critical)
        der = b.sign(self.ask_key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)
        self.issued[key] = pss_sign(der, self.ask_key, self.pss_algid)
        return self.issued[key]

    def badsig_vcek(self, spl):
        """This chip's VCEK for @spl, extensions all right, but signed by a
        key that is not the ASK's (names unchanged)."""
        from cryptography.hazmat.primitives.asymmetric import rsa
        if not hasattr(self, "other_key"):
            self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        good = x509.load_der_x509_certificate(self.vcek_for(spl))
        return pss_sign(good.public_bytes(serialization.Encoding.DER), self.other_key,
                        self.pss_algid)

    def forged_ask(self):
        """The ASK, names unchanged, signed by its own key instead of the
        ARK's: a chain whose names look right (PEM)."""
        der = pss_sign(self.ask.public_bytes(serialization.Encoding.DER), self.ask_key,
                       self.pss_algid)
        return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)

    def forged_root(self):
        """A chain a hostile mirror could serve: an ARK with the right
        names but another key (self-signed), and the genuine ASK re-signed
        by it, so that the chip's VCEK still checks against its ASK. Made
        once; (ark_key, cert_chain PEM)."""
        if not hasattr(self, "forged"):
            from cryptography.hazmat.primitives.asymmetric import rsa
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            b = x509.CertificateBuilder().subject_name(self.ark.subject).issuer_name(
                self.ark.issuer).public_key(key.public_key()).serial_number(
                self.ark.serial_number).not_valid_before(
                self.ark.not_valid_before).not_valid_after(self.ark.not_valid_after)
            for e in self.ark.extensions:
                b = b.add_extension(e.value, e.critical)
            ark = pss_sign(b.sign(key, hashes.SHA384()).public_bytes(
                serialization.Encoding.DER), key, self.pss_algid)
            ask = pss_sign(self.ask.public_bytes(serialization.Encoding.DER), key,
                           self.pss_algid)
            pem = b"".join(x509.load_der_x509_certificate(c).public_bytes(
                serialization.Encoding.PEM) for c in (ask, ark))
            self.forged = (key, pem)
        return self.forged

    # what mode badissuer puts in the CRL issuer's CN (a T61String: any bytes)
    BAD_CN = b"ARK-\x1b[31m\xff\xfe\xc3(\n\rMilan"

    def crl(self, revoke, signer=None, bad_issuer=False, valid=None):
        """The product's CRL (DER), signed by the ARK (or @signer), current
        for 7 days unless @valid gives (lastUpdate, nextUpdate)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        last, nxt = valid or (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=7))
        issuer = self.ark.subject
        if bad_issuer:
            from cryptography.x509.name import _ASN1Type
            issuer = x509.Name([x509.NameAttribute(
                x509.oid.NameOID.COMMON_NAME, "Z" * len(self.BAD_CN),
                _type=_ASN1Type.T61String)])
        b = x509.CertificateRevocationListBuilder().issuer_name(issuer) \
            .last_update(last).next_update(nxt)
        if revoke:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(self.ask.serial_number)
                .revocation_date(now - datetime.timedelta(hours=1)).build())
        key = signer or self.ark_key
        der = b.sign(key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)
        if bad_issuer:
            # the placeholder's bytes replaced, lengths unchanged
            der = der.replace(b"Z" * len(self.BAD_CN), self.BAD_CN, 1)
        return pss_sign(der, key, self.pss_algid)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.paths = {}
        self.mode = "normal"
        self.retry_after = None
        self.revoke = False
        self.any_tcb = False


def make_handler(chip, st, tls=False):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("kds-emulator: " + (fmt % args) + "\n")

        def send(self, code, body=b"", ctype="application/octet-stream", headers=()):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def control(self, u):
            q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            if u.path == "/_emu/count":
                with st.lock:
                    body = json.dumps({"total": st.total, "paths": st.paths}).encode()
                return self.send(200, body, "application/json")
            if u.path == "/_emu/set":
                with st.lock:
                    if "mode" in q:
                        st.mode = q["mode"][0]
                    if "retry_after" in q:
                        st.retry_after = q["retry_after"][0] or None
                    if "revoke" in q:
                        st.revoke = q["revoke"][0] == "1"
                    if "any_tcb" in q:
                        st.any_tcb = q["any_tcb"][0] == "1"
                return self.send(200, b"ok\n", "text/plain")
            return self.send(404)

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            if u.path.startswith("/_emu/") and not tls:
                return self.control(u)
            with st.lock:
                st.total += 1
                st.paths[self.path] = st.paths.get(self.path, 0) + 1
                mode, retry_after, revoke = st.mode, st.retry_after, st.revoke
                any_tcb = st.any_tcb
            if mode == "429":
                hdr = [("Retry-After", retry_after)] if retry_after else []
                return self.send(429, b"Too Many Requests\n", "text/plain", hdr)
            if mode == "500":
                return self.send(500, b"Internal Server Error\n", "text/plain")
            if mode == "hang":
                time.sleep(3600)
                return
            parts = u.path.split("/")
            # ['', 'vcek'|'vlek', 'v1', Product, what]
            if len(parts) != 5 or parts[1] not in ("vcek", "vlek") or parts[2] != "v1" \
                    or parts[3] != chip.product:
                return self.send(404, b"Not Found\n", "text/plain")
            kind, what = parts[1], parts[4]
            if what == "cert_chain":
                if kind == "vlek":
                    return self.send(404)
                ask = chip.ask.public_bytes(serialization.Encoding.PEM)
                if mode == "badchain":
                    ask = chip.forged_ask()
                body = ask + chip.ark.public_bytes(serialization.Encoding.PEM)
                if mode == "forgedroot":
                    with st.lock:
                        body = chip.forged_root()[1]
                return self.send(200, body, "application/x-pem-file")
            if what == "crl":
                signer = chip.ask_key if mode == "badcrl" else None
                if mode == "forgedroot":
                    with st.lock:
                        signer = chip.forged_root()[0]
                return self.send(200, chip.crl(revoke, signer, mode == "badissuer"),
                                 "application/pkix-crl")
            if kind != "vcek" or what.lower() != chip.hwid:
                return self.send(404, b"Not Found\n", "text/plain")
            q = urllib.parse.parse_qs(u.query)
            want = dict(chip.spl)
            if chip.product != "Turin":
                want.pop("fmcSPL")
            try:
                got = {k: int(v[0], 10) for k, v in q.items()}
            except ValueError:
                return self.send(400)
            for k in want:
                got.setdefault(k, 0)
            if got.keys() != want.keys() or any(v > 255 for v in got.values()):
                return self.send(404, b"Not Found\n", "text/plain")
            if got != want and not any_tcb:
                return self.send(404, b"Not Found\n", "text/plain")
            if got != want:
                with st.lock:
                    body = chip.vcek_for(got)
            else:
                body = chip.vcek.public_bytes(serialization.Encoding.DER)
            if mode == "truncate":
                body = body[:len(body) // 2]
            elif mode == "wrong":
                body = chip.wrong_vcek()
            elif mode == "badsig":
                with st.lock:
                    body = chip.badsig_vcek(got)
            return self.send(200, body, "application/pkix-cert")
    return H


def make_tls(d, name):
    """A test CA and a server certificate for 127.0.0.1 (or DNS name @name)
    signed by it, written to @d; the server's SSLContext."""
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def pem_write(fn, data, mode=0o644):
        fd = os.open(os.path.join(d, fn), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                     mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME,
                                            "snpd test KDS CA (not AMD) %08x" %
                                            (x509.random_serial_number() & 0xffffffff))])
    ca = x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name) \
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number()) \
        .not_valid_before(now - day).not_valid_after(now + 7 * day) \
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True) \
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                     False), True) \
        .sign(ca_key, hashes.SHA256())
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName(name)] if name else [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(
        x509.oid.NameOID.COMMON_NAME, name or "127.0.0.1")])).issuer_name(ca_name) \
        .public_key(key.public_key()).serial_number(x509.random_serial_number()) \
        .not_valid_before(now - day).not_valid_after(now + 7 * day) \
        .add_extension(x509.SubjectAlternativeName(san), False) \
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True) \
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       False) \
        .sign(ca_key, hashes.SHA256())
    pem_write("ca.pem", ca.public_bytes(serialization.Encoding.PEM))
    pem_write("server.pem", cert.public_bytes(serialization.Encoding.PEM))
    pem_write("server-key.pem", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server-key.pem"))
    return ctx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", required=True, help="simulator state directory")
    ap.add_argument("--port-file", help="also write the port here")
    ap.add_argument("--tls-dir", help="also serve HTTPS; the test CA is written here")
    ap.add_argument("--tls-name", help="the server certificate names only this DNS name")
    args = ap.parse_args()
    chip = Chip(args.state)
    st = State()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(chip, st))
    srv.daemon_threads = True
    tls = None
    if args.tls_dir:
        ctx = make_tls(args.tls_dir, args.tls_name)
        tls = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(chip, st, True))
        tls.daemon_threads = True
        # the handshake runs in the handler's thread, not in the accept loop
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True,
                                     do_handshake_on_connect=False)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, args.port_file)
    # the port on stdout: a test reads this line, then the server is listening
    print(srv.server_address[1], flush=True)
    if tls:
        print(tls.server_address[1], flush=True)
        threading.Thread(target=tls.serve_forever, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
