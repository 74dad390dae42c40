# SPDX-License-Identifier: Apache-2.0
# man/: snpd(8), snpctl(1), snpd.conf(5), plain roff, installed and distributed.
dist_man_MANS = %reldir%/snpd.8 %reldir%/snpctl.1 %reldir%/snpd.conf.5
# the JSON Schema of snpctl verify --policy files, installed beside the data
dist_pkgdata_DATA = %reldir%/snp-policy.schema.json
