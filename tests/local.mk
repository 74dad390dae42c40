# SPDX-License-Identifier: Apache-2.0
include tests/sim/local.mk
