# SPDX-License-Identifier: Apache-2.0

# ---- uapi layout test (tests/unit/test-uapi.c) ----------------------------
# Our snp_ioc_* structs and ioctl numbers against <linux/sev-guest.h>.
# Plain C, no cmocka: it runs wherever the kernel headers are installed.
check_PROGRAMS += %reldir%/test-uapi
TESTS += %reldir%/test-uapi
%canon_reldir%_test_uapi_SOURCES = %reldir%/test-uapi.c
# ---- end of the uapi layout test -------------------------------------------

# ---- cmocka unit tests of lib/ ----------------------------------------------
if HAVE_CMOCKA
snp_unit_cflags = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
snp_unit_ldadd = lib/libsnp.la $(CMOCKA_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)

check_PROGRAMS += %reldir%/test-report %reldir%/test-cert-table
TESTS += %reldir%/test-report %reldir%/test-cert-table
%canon_reldir%_test_report_SOURCES = %reldir%/test-report.c
%canon_reldir%_test_report_CFLAGS = $(snp_unit_cflags)
%canon_reldir%_test_report_LDADD = $(snp_unit_ldadd)
%canon_reldir%_test_cert_table_SOURCES = %reldir%/test-cert-table.c
%canon_reldir%_test_cert_table_CFLAGS = $(snp_unit_cflags)
%canon_reldir%_test_cert_table_LDADD = $(snp_unit_ldadd)

# lib/policy.c: policy files for snpctl verify --policy
check_PROGRAMS += %reldir%/test-policy
TESTS += %reldir%/test-policy
%canon_reldir%_test_policy_SOURCES = %reldir%/test-policy.c
%canon_reldir%_test_policy_CFLAGS = $(snp_unit_cflags)
%canon_reldir%_test_policy_LDADD = $(snp_unit_ldadd)
check_PROGRAMS += %reldir%/test-binding
TESTS += %reldir%/test-binding
%canon_reldir%_test_binding_SOURCES = %reldir%/test-binding.c
%canon_reldir%_test_binding_CFLAGS = $(snp_unit_cflags)
%canon_reldir%_test_binding_LDADD = $(snp_unit_ldadd)
# lib/kds.c: cache entries that are not regular files, a backoff far ahead,
# a CRL issuer that is not printable
check_PROGRAMS += %reldir%/test-kds-cache
TESTS += %reldir%/test-kds-cache
%canon_reldir%_test_kds_cache_SOURCES = %reldir%/test-kds-cache.c
%canon_reldir%_test_kds_cache_CFLAGS = $(snp_unit_cflags)
%canon_reldir%_test_kds_cache_LDADD = $(snp_unit_ldadd)
# lib/merkle.c: the incremental tree against a naive RFC 9162 one
check_PROGRAMS += %reldir%/test-merkle
TESTS += %reldir%/test-merkle
%canon_reldir%_test_merkle_SOURCES = %reldir%/test-merkle.c
%canon_reldir%_test_merkle_CFLAGS = $(snp_unit_cflags)
%canon_reldir%_test_merkle_LDADD = $(snp_unit_ldadd)
# lib/verify.c snp_verify_signer(): genuine AMD data ($SNP_TESTDATA) and the
# simulated chip (sim/) for what genuine data cannot show
check_PROGRAMS += %reldir%/test-verify-signer
TESTS += %reldir%/test-verify-signer
%canon_reldir%_test_verify_signer_SOURCES = %reldir%/test-verify-signer.c
%canon_reldir%_test_verify_signer_CFLAGS = $(snp_unit_cflags)
%canon_reldir%_test_verify_signer_LDADD = sim/libsnpsim.la $(snp_unit_ldadd)
# backend/backend-sevguest.c over a fake driver (ioctl() wrapped at link
# time): a positive ioctl result (a refused exit) is never a success
check_PROGRAMS += %reldir%/test-backend-sevguest
TESTS += %reldir%/test-backend-sevguest
%canon_reldir%_test_backend_sevguest_SOURCES = %reldir%/test-backend-sevguest.c
%canon_reldir%_test_backend_sevguest_CFLAGS = $(snp_unit_cflags)
%canon_reldir%_test_backend_sevguest_LDFLAGS = -Wl,--wrap=ioctl
%canon_reldir%_test_backend_sevguest_LDADD = $(SNP_BACKEND_LIBS) $(CMOCKA_LIBS) $(CRYPTO_LIBS) \
	$(JANSSON_LIBS)
endif

# daemon/collateral.c: the host table's leaf is the report's signer (VCEK or
# VLEK) with its own CA. Plain C, links the daemon's library.
check_PROGRAMS += %reldir%/test-collateral
TESTS += %reldir%/test-collateral
%canon_reldir%_test_collateral_SOURCES = %reldir%/test-collateral.c %reldir%/check.h
%canon_reldir%_test_collateral_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) \
	$(SYSTEMD_CFLAGS)
%canon_reldir%_test_collateral_LDADD = daemon/libsnpd.la

# daemon/broker.c: the worker's answer taken by snpd_broker_poll() inside a
# long dispatch, without the event loop. Plain C, a simulated device.
check_PROGRAMS += %reldir%/test-broker
TESTS += %reldir%/test-broker
%canon_reldir%_test_broker_SOURCES = %reldir%/test-broker.c %reldir%/check.h
%canon_reldir%_test_broker_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) \
	$(SYSTEMD_CFLAGS)
%canon_reldir%_test_broker_LDADD = daemon/libsnpd.la

# daemon/view.c: the view's collateral goes out only with a report of its
# REPORTED_TCB, CHIP_ID and signing key. Plain C.
check_PROGRAMS += %reldir%/test-view-match
TESTS += %reldir%/test-view-match
%canon_reldir%_test_view_match_SOURCES = %reldir%/test-view-match.c %reldir%/check.h
%canon_reldir%_test_view_match_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) \
	$(SYSTEMD_CFLAGS)
%canon_reldir%_test_view_match_LDADD = daemon/libsnpd.la
# daemon/audit.c: a profile name escaped as \xNN (lib's snp_printable), the
# quote around it too: a record is one parseable line.
check_PROGRAMS += %reldir%/test-audit
TESTS += %reldir%/test-audit
%canon_reldir%_test_audit_SOURCES = %reldir%/test-audit.c %reldir%/check.h
%canon_reldir%_test_audit_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) \
	$(SYSTEMD_CFLAGS)
%canon_reldir%_test_audit_LDADD = daemon/libsnpd.la
# lib/util.c snp_appendf(): "; "-separated messages, cut, never overrun.
check_PROGRAMS += %reldir%/test-appendf
TESTS += %reldir%/test-appendf
%canon_reldir%_test_appendf_SOURCES = %reldir%/test-appendf.c %reldir%/check.h
%canon_reldir%_test_appendf_LDADD = lib/libsnp.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
# lib/util.c snp_parse_u64() and friends: decimal stays decimal ("0123" is
# not octal), hex only after an explicit 0x where asked for.
check_PROGRAMS += %reldir%/test-parse-num
TESTS += %reldir%/test-parse-num
%canon_reldir%_test_parse_num_SOURCES = %reldir%/test-parse-num.c %reldir%/check.h
%canon_reldir%_test_parse_num_LDADD = lib/libsnp.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
# daemon/client.c: remote TCP peers are one client per IPv4 address and per
# IPv6 /64; no address is ever a uid or one of snpd's own identities.
check_PROGRAMS += %reldir%/test-client
TESTS += %reldir%/test-client
%canon_reldir%_test_client_SOURCES = %reldir%/test-client.c %reldir%/check.h
%canon_reldir%_test_client_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) \
	$(SYSTEMD_CFLAGS)
%canon_reldir%_test_client_LDADD = daemon/libsnpd.la
