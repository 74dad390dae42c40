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
	%reldir%/kds-collateral.py \
	%reldir%/kds-crl-given.py

# The daemon and its FUSE view on the simulator (root and /dev/fuse).
snpd_fs_tests = \
	%reldir%/fs-basic.py \
	%reldir%/fs-concurrent.py \
	%reldir%/fs-mmap.py \
	%reldir%/fs-append.py \
	%reldir%/fs-nonce-names.py \
	%reldir%/fs-nonce-index.py \
	%reldir%/fs-nonce-lru.py \
	%reldir%/fs-nonce-stall.py \
	%reldir%/fs-keys.py \
	%reldir%/fs-key-reload.py \
	%reldir%/fs-reload-lookups.py \
	%reldir%/fs-attr-cache.py \
	%reldir%/fs-readdir.py \
	%reldir%/fs-stat.py \
	%reldir%/fs-times.py \
	%reldir%/fs-parallel-lookup.py \
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
	%reldir%/http-cut.py \
	%reldir%/http-conformance.py \
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
	%reldir%/kds-collateral.py \
	%reldir%/kds-crl-given.py

# snpctl: KDS over HTTPS, the cache bound, the KDS emulator's answers; VLEK.
TESTS += %reldir%/kds-https-cache.py %reldir%/kds-vlek.py
EXTRA_DIST += %reldir%/kds-https-cache.py %reldir%/kds-vlek.py
# snpctl: a cert_chain or CRL is cached only under the trusted root.
TESTS += %reldir%/kds-crl-trust.py
EXTRA_DIST += %reldir%/kds-crl-trust.py
# The runtime event log (issue 19): FUSE log/, /v1/log, LogWriters=,
# limits, persistence across restarts, a broken stored log refused.
TESTS += %reldir%/event-log.py
EXTRA_DIST += %reldir%/event-log.py
# The stored event log at start: only what an interrupted append leaves is
# cut off; a damaged last event (a changed length) is broken, with the
# offset. Two snpd creating the log at once: one has it, nothing is lost.
TESTS += %reldir%/event-log-store.py
EXTRA_DIST += %reldir%/event-log-store.py
# Appends that fail: a failed hash or write leaves the log intact (500
# event-not-stored); a failed take-back breaks it, quoting the error.
TESTS += %reldir%/event-log-write.py
EXTRA_DIST += %reldir%/event-log-write.py
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
# The event log's read paths share one rendering: GET /v1/log and
# log/events agree after appends, restarts and a full log; bounded readers.
TESTS += %reldir%/event-log-read.py
EXTRA_DIST += %reldir%/event-log-read.py
# snpd's collateral and its trusted root over time: a TrustArk= file that
# appears after the start; a job made stale by a reload is never served.
TESTS += %reldir%/kds-daemon-reload.py
EXTRA_DIST += %reldir%/kds-daemon-reload.py
# What the host's table, KDS and the cache hand snpd is checked first: a
# leaf that did not sign the report, a CRL issuer that is not text, FIFOs.
TESTS += %reldir%/kds-daemon-untrusted.py
EXTRA_DIST += %reldir%/kds-daemon-untrusted.py
# snpd raises its open-file soft limit (issue 19: 1,000 clients of one uid).
TESTS += %reldir%/fd-limit.py
EXTRA_DIST += %reldir%/fd-limit.py
# BatchWindowMSec= on time: the batcher's timer is not coalesced (250 ms).
TESTS += %reldir%/evidence-window.py
EXTRA_DIST += %reldir%/evidence-window.py
# The batch that gathered goes to the device before the finished one is
# answered (the order of two debug log lines, no timing).
TESTS += %reldir%/evidence-pipeline.py
EXTRA_DIST += %reldir%/evidence-pipeline.py
# Gathering: a client answered from the returned batch and asking again at
# once joins the batch that waited; clients too slow for the window hold
# nothing next time (tree sizes, reports and counters; a client's pause of
# 1.5 s against a 1 s window).
TESTS += %reldir%/evidence-gather.py
EXTRA_DIST += %reldir%/evidence-gather.py
# A batch's evidence shares the log's rendering: many members over a log
# of 3,000 events, each verified, no event rendered again for the batch.
TESTS += %reldir%/evidence-shared.py
EXTRA_DIST += %reldir%/evidence-shared.py
# The hang-up watch of suspended HTTP requests: one per keep-alive
# connection for its lifetime; a hang-up still cancels at once.
TESTS += %reldir%/http-hangup.py
EXTRA_DIST += %reldir%/http-hangup.py
# GET /v1/evidence and FUSE evidence/<nonce> agree byte for byte, for a
# small document (one buffer) and a large one (the iovec of shared pieces).
TESTS += %reldir%/evidence-http-body.py
EXTRA_DIST += %reldir%/evidence-http-body.py
# Members that hang up while their evidence batch waits leave its tree;
# the others' proofs still verify (daemon/batch.c snpd_batcher_cancel()).
TESTS += %reldir%/evidence-cancel.py
EXTRA_DIST += %reldir%/evidence-cancel.py
TESTS += %reldir%/fs-evidence-cache.py
EXTRA_DIST += %reldir%/fs-evidence-cache.py
TESTS += %reldir%/evidence-queue-full.py
EXTRA_DIST += %reldir%/evidence-queue-full.py
# The host changes REPORTED_TCB while snpd runs: evidence (HTTP, FUSE) and
# /v1/report?certs=1 are refused as collateral-stale, never served with the
# old VCEK; the view is refreshed by itself and verifies again; a host
# flapping the TCB gets refreshes spaced by a backoff.
TESTS += %reldir%/evidence-tcb-change.py
EXTRA_DIST += %reldir%/evidence-tcb-change.py
# A refresh of the view whose own reference report fails on the device
# (the host refuses the certificate area once, asking for less than it
# was given): after a TCB change, on SIGHUP, and for the host's fresh CRL. The view stays consistent and
# serves, the failure is logged once as what it was, the next try works.
TESTS += %reldir%/view-refresh-fail.py
EXTRA_DIST += %reldir%/view-refresh-fail.py
# A host whose certificate table is larger than a guest takes (16 KiB): at
# start, for good or until it fits, and meeting a refresh or a reload;
# snpd serves without it (certificates from KDS) and asks again.
TESTS += %reldir%/host-certs-large.py
EXTRA_DIST += %reldir%/host-certs-large.py
# KdsOffline=yes: a failed fresh-table report keeps a sooner CRL nextUpdate
# timer (a cached CRL found by the retry's re-check); one reference report
# carrying a SIGHUP's reload and the CRL's refresh (folded while another is
# held) handles both on failure and on success; CertsDir= in host_table.
TESTS += %reldir%/coll-refresh-keep.py
EXTRA_DIST += %reldir%/coll-refresh-keep.py
# CertsDir=: its VCEK is served only when it signs the reference report;
# after a TCB change the directory did not follow, or another chip's VCEK,
# evidence is refused as collateral-unavailable with the reason in status
# and the log; the right VCEK and SIGHUP serve it again.
TESTS += %reldir%/certs-dir-check.py
EXTRA_DIST += %reldir%/certs-dir-check.py
# A version-2 report's product never comes from the host's table: a
# self-made VCEK there saying another product changes neither the TCB
# layout of /snp/tcb and platform.json nor the product KDS is asked for;
# the collateral completes from the trusted chain, and then says it.
TESTS += %reldir%/host-product.py
EXTRA_DIST += %reldir%/host-product.py
# A failed batch fails the FUSE open or read that waited for it and leaves
# nothing on the descriptor: a retry (open, or read) joins a new batch.
TESTS += %reldir%/fs-evidence-failed.py
EXTRA_DIST += %reldir%/fs-evidence-failed.py
# configfs-tsm: another writer of the report entry (its generation) is a
# report conflict for the client, not a full queue nor a device failure.
TESTS += %reldir%/tsm-conflict.py
EXTRA_DIST += %reldir%/tsm-conflict.py

# Opens of nonce/ and evidence/ names are checked by snpd against the
# configuration of now, whatever mode the kernel caches (also speaking
# the FUSE protocol on a socket handed over as the connection).
TESTS += %reldir%/fs-nonce-access.py
EXTRA_DIST += %reldir%/fs-nonce-access.py
# A FORGET counts only against the name given its node id, never against
# one looked up after an eviction (the protocol spoken on a socket, too).
TESTS += %reldir%/fs-forget.py
EXTRA_DIST += %reldir%/fs-forget.py
# The simulator after its params were edited (a firmware update): a new
# process hands out the VCEK/VLEK of the new TCB; the directory's follow.
TESTS += %reldir%/sim-tcb-update.py
EXTRA_DIST += %reldir%/sim-tcb-update.py
# KdsOffline=yes with the host's CRL: at its nextUpdate a fresh table from
# the host (a new reference report), not the old one replayed.
TESTS += %reldir%/kds-crl-host.py
EXTRA_DIST += %reldir%/kds-crl-host.py
# TrustArk= only as a regular file (a link to one followed), never waited
# on: a FIFO at start, at a reload and appearing later.
TESTS += %reldir%/trust-ark-fifo.py
EXTRA_DIST += %reldir%/trust-ark-fifo.py
# KdsOffline=yes with the host's CRL: the host asked again when its table
# loses the CRL, when the device fails the report, never when it is dead;
# a reload starts the backoff again.
TESTS += %reldir%/kds-crl-host-retry.py
EXTRA_DIST += %reldir%/kds-crl-host-retry.py
