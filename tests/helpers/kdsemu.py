# SPDX-License-Identifier: Apache-2.0
"""Start and drive tests/helpers/kds-emulator.py from a Python test."""
import json
import os
import ssl
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EMU = os.path.join(HERE, "kds-emulator.py")


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
