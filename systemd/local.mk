# SPDX-License-Identifier: Apache-2.0
# systemd/: units (from .in templates, so paths follow --prefix), sysusers,
# tmpfiles, the udev rule and the commented default configuration.

systemd_units = %reldir%/snpd.service %reldir%/snpd.socket
systemdsystemunit_DATA = $(systemd_units)
sysusers_DATA = %reldir%/sysusers.d/snpd.conf
tmpfiles_DATA = %reldir%/tmpfiles.d/snpd.conf
udevrules_DATA = %reldir%/60-snpd.rules
snpdconfdir = $(sysconfdir)/snpd
dist_snpdconf_DATA = %reldir%/snpd.conf

EXTRA_DIST += \
	%reldir%/snpd.service.in \
	%reldir%/snpd.socket.in \
	%reldir%/sysusers.d/snpd.conf \
	%reldir%/tmpfiles.d/snpd.conf \
	%reldir%/60-snpd.rules
CLEANFILES += $(systemd_units)

systemd_subst = sed \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@pkglibexecdir[@]|$(pkglibexecdir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@runstatedir[@]|$(runstatedir)|g'

%reldir%/%.service: %reldir%/%.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(systemd_subst) $< >$@.tmp && mv $@.tmp $@

%reldir%/%.socket: %reldir%/%.socket.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(systemd_subst) $< >$@.tmp && mv $@.tmp $@
