# SPDX-License-Identifier: Apache-2.0
# lib/: shared logic, one convenience library that programs and tests link.

noinst_LTLIBRARIES += %reldir%/libsnp.la
%canon_reldir%_libsnp_la_SOURCES = \
	%reldir%/util.c %reldir%/util.h \
	%reldir%/log.c %reldir%/log.h \
	%reldir%/report.c %reldir%/report.h \
	%reldir%/report-json.c \
	%reldir%/report-text.c \
	%reldir%/cert-table.c %reldir%/cert-table.h \
	%reldir%/x509-amd.c %reldir%/x509-amd.h \
	%reldir%/verify.c %reldir%/verify.h \
	%reldir%/policy.c %reldir%/policy.h \
	%reldir%/kds.c %reldir%/kds.h \
	%reldir%/amd-roots.c %reldir%/amd-roots.h \
	%reldir%/merkle.c %reldir%/merkle.h \
	%reldir%/evlog.c %reldir%/evlog.h \
	%reldir%/binding.c %reldir%/binding.h
%canon_reldir%_libsnp_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
%canon_reldir%_libsnp_la_LIBADD = $(CRYPTO_LIBS) $(JANSSON_LIBS) $(CURL_LIBS)

