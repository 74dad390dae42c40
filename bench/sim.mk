# SPDX-License-Identifier: Apache-2.0
# Benchmarks of the simulated platform and the guest-request driver.
