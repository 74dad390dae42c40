# SPDX-License-Identifier: Apache-2.0
include tests/unit/local.mk
include tests/integration/local.mk
include tests/fuzz/local.mk
include tests/lint/local.mk
include tests/sim/local.mk
include tests/e2e/local.mk
include tests/helpers/local.mk
