# SPDX-License-Identifier: Apache-2.0
# Test helpers: tsm-fuse serves a configfs-tsm report tree backed by the
# simulator; tsm-client drives the tsm backend's ops table directly.
# fuse-serve.c is the request loop of both FUSE helpers (tsm-fuse, held-file).

check_PROGRAMS += %reldir%/tsm-fuse %reldir%/tsm-client
%canon_reldir%_tsm_fuse_SOURCES = %reldir%/tsm-fuse.c %reldir%/fuse-serve.c %reldir%/fuse-serve.h
%canon_reldir%_tsm_fuse_CFLAGS = $(AM_CFLAGS) $(FUSE3_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_tsm_fuse_LDADD = sim/libsnpsim.la lib/libsnp.la $(FUSE3_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)
%canon_reldir%_tsm_client_SOURCES = %reldir%/tsm-client.c
%canon_reldir%_tsm_client_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_tsm_client_LDADD = $(SNP_BACKEND_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)

# held-file: one file whose open waits while a HOLD file exists (a slow
# disk), to hold snpd's collateral worker reading TrustArk= at a known point.
check_PROGRAMS += %reldir%/held-file
%canon_reldir%_held_file_SOURCES = %reldir%/held-file.c %reldir%/fuse-serve.c %reldir%/fuse-serve.h
%canon_reldir%_held_file_CFLAGS = $(AM_CFLAGS) $(FUSE3_CFLAGS)
%canon_reldir%_held_file_LDADD = $(FUSE3_LIBS)
# its per-open markers and the harness's start_fuse_helper(); root and
# /dev/fuse, else it skips (77)
TESTS += %reldir%/held-file-test.py
EXTRA_DIST += %reldir%/held-file-test.py

# LD_PRELOAD fault injection: EVP_DigestFinal_ex() fails while a file
# exists (tests/integration/event-log-write.py). A module built for the
# tests only: -rpath makes libtool build the shared object.
check_LTLIBRARIES += %reldir%/libfail-digest.la
%canon_reldir%_libfail_digest_la_SOURCES = %reldir%/fail-digest.c
%canon_reldir%_libfail_digest_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
%canon_reldir%_libfail_digest_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
%canon_reldir%_libfail_digest_la_LIBADD = -ldl

# Root and /dev/fuse, else it skips (77).
TESTS += %reldir%/tsm-test.py
EXTRA_DIST += %reldir%/tsm-test.py %reldir%/README.md %reldir%/kds-emulator.py %reldir%/kdsemu.py

# The evidence binding: C (binding-tool) against the independent Python
# verifier written from docs/evidence.md (evidence_verify.py).
check_PROGRAMS += %reldir%/binding-tool
%canon_reldir%_binding_tool_SOURCES = %reldir%/binding-tool.c
%canon_reldir%_binding_tool_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_binding_tool_LDADD = lib/libsnp.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
TESTS += %reldir%/binding-cross.py
EXTRA_DIST += %reldir%/binding-cross.py %reldir%/evidence_verify.py
EXTRA_DIST += %reldir%/evidence-load.py
