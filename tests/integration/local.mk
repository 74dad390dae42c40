# SPDX-License-Identifier: Apache-2.0
# Integration tests of snpctl against the genuine AMD vectors in
# ../shared/testdata/real (read in place, never copied) and an independent
# Python oracle (/usr/bin/python3 with python3-cryptography).

TESTS += \
	%reldir%/real-vectors.py \
	%reldir%/decode-oracle.py \
	%reldir%/bitflip.py \
	%reldir%/malformed.py \
	%reldir%/verify-options.py

dist_noinst_DATA += %reldir%/snptest.py
EXTRA_DIST += \
	%reldir%/real-vectors.py \
	%reldir%/decode-oracle.py \
	%reldir%/bitflip.py \
	%reldir%/malformed.py \
	%reldir%/verify-options.py
