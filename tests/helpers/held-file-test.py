# SPDX-License-Identifier: Apache-2.0
"""tests/helpers/held-file through snpd_harness.HeldFile: each held open
has its own marker (HOLD.waiting.PID.N), so that two readers held at the
same time are told apart (before, one HOLD.waiting was shared: the first
to go removed it while the other still waited); releasing lets both read
the source, and their markers go. HeldFile.stop() fails the test
(HelperFailed) when held-file did not end cleanly. And
snpd_harness.start_fuse_helper(), which HeldFile and TsmTree share, says
why a helper did not come up."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "integration"))

import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

LIMIT = 60  # bound of a poll, never a pass condition
h.need_mount()
if not os.access(h.HeldFile.BIN, os.X_OK):
    print("FAIL: %s not built" % h.HeldFile.BIN)
    sys.exit(1)

res = t.Results()
tmp = tempfile.mkdtemp(prefix="held-file-test-")
READ = "import sys\nwith open(sys.argv[1]) as f:\n    sys.stdout.write(f.read())\n"
try:
    src = os.path.join(tmp, "source")
    with open(src, "w") as f:
        f.write("the source\n")
    hf = h.HeldFile(tmp, src)
    readers = []
    try:
        hf.hold()
        for _ in range(2):
            readers.append(subprocess.Popen([sys.executable, "-c", READ, hf.path],
                                            stdout=subprocess.PIPE, text=True))
        both = hf.wait_held(LIMIT, count=2)
        held = hf.waiting()
        pids = sorted(r.pid for r in readers)
        res.check(both and sorted(w[0] for w in held) == pids and
                  len(set(w[1] for w in held)) == 2,
                  "two readers held at once: two markers, one per opener (pids %s, "
                  "numbers %s; readers %s)" % ([w[0] for w in held], [w[1] for w in held],
                                               pids))
        res.check(hf.wait_held(1, pid=readers[1].pid),
                  "wait_held(pid=) finds the second reader")
        res.check(all(r.poll() is None for r in readers), "both readers still wait in open")
        hf.release()
        outs = [r.communicate(timeout=LIMIT)[0] for r in readers]
        res.check(outs == ["the source\n"] * 2 and all(r.returncode == 0 for r in readers),
                  "released: both read the source (%r)" % outs)
        res.check(h.wait_until(lambda: not hf.waiting(), tries=200) and not
                  [n for n in os.listdir(hf.dir) if ".waiting" in n],
                  "their markers are gone: %s" % sorted(os.listdir(hf.dir)))
        with open(hf.path) as f:
            res.check(f.read() == "the source\n" and not hf.waiting(),
                      "not held: an open goes straight through, no marker")
    finally:
        # let held readers go first: one killed while its open waits on the
        # helper may not go until the helper answers
        hf.release()
        for r in readers:
            if r.poll() is None:
                r.kill()
                r.wait()
        hf.stop()

    # stop() checks how held-file ended: one that did not exit 0 fails the test
    hf = h.HeldFile(tmp, src)
    hf.proc.kill()
    hf.proc.wait()
    try:
        hf.stop()
        res.check(False, "held-file killed: stop() said nothing")
    except h.HelperFailed as e:
        res.check("held-file did not end cleanly (killed by signal 9" in str(e),
                  "held-file killed: stop() raises HelperFailed: %s" % str(e).splitlines()[0])

    # a helper that cannot come up: the error says which, how and why
    mnt = os.path.join(tmp, "missing", "mnt")
    try:
        h.start_fuse_helper("held-file", [h.HeldFile.BIN, src, os.path.join(tmp, "h"), mnt],
                            mnt, lambda: os.path.ismount(mnt), os.path.join(tmp, "bad.log"))
        res.check(False, "a helper that cannot mount: no error")
    except RuntimeError as e:
        res.check("held-file did not come up" in str(e) and "exit status" in str(e) and
                  "cannot mount" in str(e),
                  "a helper that cannot mount: %s" % e)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
res.done()
