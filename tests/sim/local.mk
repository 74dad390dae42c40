# SPDX-License-Identifier: Apache-2.0
# Tests of the simulated platform and the guest-request driver.
