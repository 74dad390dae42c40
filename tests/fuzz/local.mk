# SPDX-License-Identifier: Apache-2.0
# libFuzzer targets for the parsers of reports, certificate tables, evidence
# and what a client or a file gives snpd (event log, snpd.conf, names). The main
# build may use gcc, so fuzz.sh compiles them with $(CLANG) at test time
# (skipped when clang or its libFuzzer runtime is missing) and runs each for
# SNP_FUZZ_SECONDS (default 10) on seeds made from the genuine test data.

TESTS += %reldir%/fuzz.sh
EXTRA_DIST += \
	%reldir%/fuzz.sh \
	%reldir%/make-seeds.py \
	%reldir%/make-seeds-daemon.py \
	%reldir%/fuzz-report.c \
	%reldir%/fuzz-cert-table.c \
	%reldir%/fuzz-ghcb.c \
	%reldir%/fuzz-evidence.c \
	%reldir%/fuzz-eventlog.c \
	%reldir%/fuzz-config.c \
	%reldir%/fuzz-names.c
