# SPDX-License-Identifier: Apache-2.0
"""Start and drive tests/helpers/kds-emulator.py from a Python test; the
snpctl helpers the KDS tests share (a run of snpctl, a GHCB certificate
table, the CRL check of `snpctl verify --json`, a certificate and AMD's
extensions in it)."""
import importlib.util
import json
import os
import ssl
import struct
import subprocess
import sys
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
EMU = os.path.join(HERE, "kds-emulator.py")


def emulator_module():
    """kds-emulator.py loaded as a module, for what it makes without
    serving it: its Chip (a simulated chip's VCEKs and CRLs, signed as
    the KDS signs them), pss_sign(), der_elems()."""
    spec = importlib.util.spec_from_file_location("kds_emulator", EMU)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Emulator:
    """The emulator serving the simulated chip of state directory @state.
    With @tls_dir it also serves HTTPS; its test CA is tls_dir/ca.pem."""

    def __init__(self, state, tls_dir=None, tls_name=None):
        cmd = [sys.executable, EMU, "--state", state]
        if tls_dir:
            cmd += ["--tls-dir", tls_dir]
        if tls_name:
            cmd += ["--tls-name", tls_name]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True)
        # the ports are printed once the sockets listen
        line = self.p.stdout.readline()
        if not line.strip():
            self.p.kill()
            raise RuntimeError("the KDS emulator did not start")
        self.url = "http://127.0.0.1:%d" % int(line)
        self.https_url = None
        self.ca = None
        if tls_dir:
            line = self.p.stdout.readline()
            if not line.strip():
                self.p.kill()
                raise RuntimeError("the KDS emulator did not start HTTPS")
            self.https_url = "https://127.0.0.1:%d" % int(line)
            self.ca = os.path.join(tls_dir, "ca.pem")

    def ctl(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return r.read()

    def count(self):
        return json.loads(self.ctl("/_emu/count"))["total"]

    def paths(self):
        return json.loads(self.ctl("/_emu/count"))["paths"]

    def get(self, path, https=False):
        """(status, body) of a counted request, as a client would see it."""
        url = (self.https_url if https else self.url) + path
        ctx = ssl.create_default_context(cafile=self.ca) if https else None
        try:
            with urllib.request.urlopen(url, timeout=30, context=ctx) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def set(self, **kw):
        self.ctl("/_emu/set?" + "&".join("%s=%s" % kv for kv in kw.items()))

    def stop(self):
        self.p.kill()
        self.p.wait()


# seconds: generous for a sanitizer build on a loaded machine
SNPCTL_TIMEOUT = 300


def snpctl(*args, raw_stderr=False):
    """Run snpctl (tests/sim's simtest.SNPCTL: $SNPCTL, else the build
    tree's) with @args: (exit status, stdout, stderr) as text. With
    @raw_stderr, stderr is the bytes snpctl wrote and stdout is decoded
    with undecodable bytes replaced. A run longer than SNPCTL_TIMEOUT
    raises subprocess.TimeoutExpired: the test fails instead of hanging."""
    import simtest  # tests/sim: on the path of every test that runs snpctl
    if not raw_stderr:
        p = subprocess.run([simtest.SNPCTL] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=SNPCTL_TIMEOUT)
        return p.returncode, p.stdout, p.stderr
    p = subprocess.run([simtest.SNPCTL] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=SNPCTL_TIMEOUT)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr


AMD_OID = "1.3.6.1.4.1.3704.1."  # AMD's certificate extensions (SPLs, hwID)


def load_pem(path):
    """The certificate in PEM file @path. Needs python3-cryptography."""
    from cryptography import x509
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def amd_ext(cert, oid):
    """The raw value of @cert's extension AMD_OID + @oid ("3.1": the
    bootloader SPL, "4": the hwID), None without one."""
    from cryptography import x509
    try:
        return cert.extensions.get_extension_for_oid(
            x509.ObjectIdentifier(AMD_OID + oid)).value.value
    except x509.ExtensionNotFound:
        return None


def cert_table(state, crl):
    """A GHCB certificate table: the ARK, ASK and VCEK (DER) of simulator
    state directory @state and the CRL @crl (bytes; None: no CRL entry).
    Needs python3-cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    blobs = []
    for guid, name in (("c0b406a4-a803-4952-9743-3fb6014cd0ae", "ark.pem"),
                       ("4ab7b379-bbac-4fe4-a02f-05aef327c782", "ask.pem"),
                       ("63da758d-e664-4564-adc5-f4b93be8accd", "vcek.pem")):
        with open(os.path.join(state, name), "rb") as f:
            c = x509.load_pem_x509_certificate(f.read())
        blobs.append((guid, c.public_bytes(serialization.Encoding.DER)))
    if crl is not None:
        blobs.append(("92f81bc3-5811-4d3d-97ff-d19f88dc67ea", crl))
    off = 24 * (len(blobs) + 1)
    head, data = b"", b""
    for guid, b in blobs:
        head += uuid.UUID(guid).bytes + struct.pack("<II", off + len(data), len(b))
        data += b
    return head + b"\0" * 24 + data


def crl_check(out):
    """The output @out of `snpctl verify --json`: (its "crl" check, None
    without one, and its "sources"); (None, {}) when @out is not JSON."""
    try:
        doc = json.loads(out)
    except ValueError:
        return None, {}
    c = [c for c in doc.get("checks", []) if c["name"] == "crl"]
    return (c[0] if c else None), doc.get("sources", {})
