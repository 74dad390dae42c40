# SPDX-License-Identifier: Apache-2.0
# Integration tests of snpctl against the genuine AMD vectors in
# ../shared/testdata/real (read in place, never copied) and an independent
# Python oracle (/usr/bin/python3 with python3-cryptography).

TESTS += \
	%reldir%/real-vectors.py \
	%reldir%/decode-oracle.py \
	%reldir%/bitflip.py \
	%reldir%/malformed.py \
	%reldir%/verify-options.py \
	%reldir%/kds-url.py \
	%reldir%/kds-roots.py \
	%reldir%/kds-collateral.py

# The daemon and its FUSE view on the simulator (root and /dev/fuse).
snpd_fs_tests = \
	%reldir%/fs-basic.py \
	%reldir%/fs-concurrent.py \
	%reldir%/fs-mmap.py \
	%reldir%/fs-append.py \
	%reldir%/fs-nonce-names.py \
	%reldir%/fs-nonce-stall.py \
	%reldir%/fs-keys.py \
	%reldir%/fs-key-reload.py \
	%reldir%/fs-reload-lookups.py \
	%reldir%/fs-handle-limit.py \
	%reldir%/fs-exit-leak.py \
	%reldir%/fs-lifecycle.py \
	%reldir%/fs-dead-device.py \
	%reldir%/fs-stale-start.py \
	%reldir%/fs-systemd-split.py \
	%reldir%/key-audit.py \
	%reldir%/config-ranges.py \
	%reldir%/health.py \
	%reldir%/degraded-start.py \
	%reldir%/doctor.py \
	%reldir%/http-api.py \
	%reldir%/http-strict.py \
	%reldir%/http-activation.py \
	%reldir%/http-socket-dir.py \
	%reldir%/http-fairness.py \
	%reldir%/sim-crash-snpd.py
TESTS += $(snpd_fs_tests)
EXTRA_DIST += $(snpd_fs_tests)

dist_noinst_DATA += %reldir%/snptest.py %reldir%/snpd_harness.py
EXTRA_DIST += \
	%reldir%/real-vectors.py \
	%reldir%/decode-oracle.py \
	%reldir%/bitflip.py \
	%reldir%/malformed.py \
	%reldir%/verify-options.py \
	%reldir%/kds-url.py \
	%reldir%/kds-roots.py \
	%reldir%/kds-collateral.py

# snpctl: KDS over HTTPS, the cache bound, the KDS emulator's answers; VLEK.
TESTS += %reldir%/kds-https-cache.py %reldir%/kds-vlek.py
EXTRA_DIST += %reldir%/kds-https-cache.py %reldir%/kds-vlek.py
# The runtime event log (issue 19): FUSE log/, /v1/log, LogWriters=,
# limits, persistence across restarts, a broken stored log refused.
TESTS += %reldir%/event-log.py
EXTRA_DIST += %reldir%/event-log.py
# snpd completes its collateral (host table, cache, KDS emulator).
TESTS += %reldir%/kds-daemon.py
EXTRA_DIST += %reldir%/kds-daemon.py
# Batched, bound evidence (issue 19): 64 clients, few device reports, each
# proves its own nonce; forgeries refused by snpctl and the Python verifier.
TESTS += %reldir%/evidence-batch.py
EXTRA_DIST += %reldir%/evidence-batch.py
# snpd's collateral across a firmware update (TCB change), never unchecked;
# a badly signed VCEK from KDS; KdsCAFile=, CacheMaxSize=.
TESTS += %reldir%/kds-daemon-tcb.py
EXTRA_DIST += %reldir%/kds-daemon-tcb.py
# snpd raises its open-file soft limit (issue 19: 1,000 clients of one uid).
TESTS += %reldir%/fd-limit.py
EXTRA_DIST += %reldir%/fd-limit.py
# BatchWindowMSec= on time: the batcher's timer is not coalesced (250 ms).
TESTS += %reldir%/evidence-window.py
EXTRA_DIST += %reldir%/evidence-window.py
