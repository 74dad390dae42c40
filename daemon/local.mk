# SPDX-License-Identifier: Apache-2.0
# daemon/: snpd itself (main, configuration, broker, view, status).

noinst_LTLIBRARIES += %reldir%/libsnpd.la
%canon_reldir%_libsnpd_la_SOURCES = \
	%reldir%/snpd.h \
	%reldir%/config.c %reldir%/config.h \
	%reldir%/broker.c %reldir%/broker.h \
	%reldir%/client.c %reldir%/client.h \
	%reldir%/view.c \
	%reldir%/collateral.c %reldir%/collateral.h \
	%reldir%/status.c \
	%reldir%/audit.c %reldir%/audit.h \
	%reldir%/eventlog.c %reldir%/eventlog.h \
	%reldir%/batch.c %reldir%/batch.h \
	fs/fs.c fs/fs.h fs/fuse-parallel.c fs/fuse-parallel.h \
	http/http.c http/http.h
%canon_reldir%_libsnpd_la_CPPFLAGS = $(AM_CPPFLAGS) -DSYSCONFDIR='"$(sysconfdir)"'
%canon_reldir%_libsnpd_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) \
	$(FUSE3_CFLAGS) $(SYSTEMD_CFLAGS) $(MHD_CFLAGS) $(CURL_CFLAGS)
%canon_reldir%_libsnpd_la_LIBADD = $(SNP_BACKEND_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) \
	$(FUSE3_LIBS) $(SYSTEMD_LIBS) $(MHD_LIBS) $(CURL_LIBS) -lpthread

sbin_PROGRAMS = %reldir%/snpd
%canon_reldir%_snpd_SOURCES = %reldir%/snpd.c
%canon_reldir%_snpd_CPPFLAGS = $(AM_CPPFLAGS) -DSYSCONFDIR='"$(sysconfdir)"'
%canon_reldir%_snpd_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) \
	$(FUSE3_CFLAGS) $(SYSTEMD_CFLAGS) $(CURL_CFLAGS)
%canon_reldir%_snpd_LDADD = %reldir%/libsnpd.la

# the privileged mount step of snpd.service (ExecStartPre=+, ExecStopPost=+)
pkglibexec_PROGRAMS = %reldir%/snpd-mount
%canon_reldir%_snpd_mount_SOURCES = %reldir%/mount-helper.c
%canon_reldir%_snpd_mount_CPPFLAGS = $(AM_CPPFLAGS) -DSYSCONFDIR='"$(sysconfdir)"'
%canon_reldir%_snpd_mount_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) \
	$(FUSE3_CFLAGS) $(SYSTEMD_CFLAGS)
%canon_reldir%_snpd_mount_LDADD = %reldir%/libsnpd.la
