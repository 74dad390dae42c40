# SPDX-License-Identifier: Apache-2.0
# Style and licence checks on the sources themselves.
TESTS += %reldir%/clang-format.sh %reldir%/spdx.sh
EXTRA_DIST += %reldir%/clang-format.sh %reldir%/spdx.sh
