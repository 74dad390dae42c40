# SPDX-License-Identifier: Apache-2.0
# Style and licence checks on the sources themselves.
TESTS += %reldir%/clang-format.sh %reldir%/spdx.sh
EXTRA_DIST += %reldir%/clang-format.sh %reldir%/spdx.sh

# the systemd units: verify, exposure threshold, no mount namespace
TESTS += %reldir%/systemd-units.sh
EXTRA_DIST += %reldir%/systemd-units.sh

# the man pages: every option and key documented, no formatter warnings
TESTS += %reldir%/man-options.sh
EXTRA_DIST += %reldir%/man-options.sh

# the layering: kernel/ <- lib/ <- sim/ <- backend/ <- daemon/ fs/ http/ cli/
TESTS += %reldir%/layers.sh
EXTRA_DIST += %reldir%/layers.sh

# kernel/ as kernel code: Kbuild against the distribution's headers, W=1,
# sparse, warnings as errors (skips without linux-headers-amd64/sparse)
TESTS += %reldir%/kbuild.sh
EXTRA_DIST += %reldir%/kbuild.sh

# kernel/ declares no function pointers and no .c file tests __KERNEL__
TESTS += %reldir%/kernel-seams.sh
EXTRA_DIST += %reldir%/kernel-seams.sh
# the Debian packages pass lintian (builds them with tests/e2e/debs.sh;
# skips without lintian, in the sanitizer build and in make distcheck)
TESTS += %reldir%/lintian.sh
EXTRA_DIST += %reldir%/lintian.sh

# one title per problem type (RFC 9457 3.1.3) in every problem answer
TESTS += %reldir%/problem-titles.sh
EXTRA_DIST += %reldir%/problem-titles.sh
