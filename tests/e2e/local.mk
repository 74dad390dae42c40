# SPDX-License-Identifier: Apache-2.0
# End-to-end: snpd installed into a debootstrapped Debian 12 root and run
# under a real systemd booted with systemd-nspawn (root, network for the
# first debootstrap; the root is cached in /var/cache/snpd-e2e).
TESTS += %reldir%/nspawn.sh
EXTRA_DIST += %reldir%/nspawn.sh

# The Debian packages installed with apt-get into the same cached root,
# booted: install, reinstall, remove, purge (tests/e2e/debs.sh builds them)
TESTS += %reldir%/nspawn-deb.sh
EXTRA_DIST += %reldir%/nspawn-deb.sh %reldir%/debs.sh
