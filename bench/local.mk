# SPDX-License-Identifier: Apache-2.0
include bench/report.mk
include bench/sim.mk
include bench/snpd.mk
include bench/boot.mk
