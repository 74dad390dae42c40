// SPDX-License-Identifier: Apache-2.0
/*
 * snpd-mount: the privileged half of the FUSE view under systemd.
 *
 * snpd.service runs this as ExecStartPre=+ and ExecStopPost=+, that is as
 * root in the host's mount namespace, while snpd itself runs as an
 * unprivileged user in a namespace of its own, where a mount it made would
 * be seen by nobody else.
 *
 *   start  clears a dead mount at the mountpoint (a live one is refused),
 *          opens /dev/fuse, mounts the view there and hands the connection
 *          to the service manager's fd store (FDSTORE=1, FDNAME=fuse), from
 *          which snpd takes it (and removes it: a crash of snpd must close
 *          the last copy, so that the kernel fails every waiting request).
 *   stop   aborts the connection of every mount this helper made (source
 *          "snpd.service" in /proc/self/mountinfo) and detaches it; a
 *          hand-run snpd's is left alone. It does not read the
 *          configuration: a broken or changed one must not keep a mount.
 *
 * Every other argument is snpd's own (--config, --mountpoint, ...), so the
 * mountpoint and AllowOther= are read from the same configuration.
 *
 * "+" is not enough by itself with systemd 252: it drops User=, the
 * capability bounds and seccomp, but a unit with BindPaths=, PrivateTmp=,
 * *Directory= etc. still runs "+" commands in a mount namespace of their
 * own (a slave of the host's, with fewer restrictions). A mount made there
 * is seen by nobody and dies with the helper, aborting the connection. So
 * a helper started by systemd (INVOCATION_ID set) enters PID 1's mount
 * namespace first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon/config.h"
#include "fs/fs.h"
#include "lib/log.h"
#include "lib/util.h"

/* the source of the service's mount in /proc/self/mountinfo: what stop removes */
#define UNIT_FSNAME   "snpd.service"
#define FUSE_FSTYPE   "fuse.snpd"
#define BARRIER_USEC  (30 * 1000000ULL)
#define MOUNTINFO_MAX 8

/* /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/*
 * The topmost mount at @mp: its filesystem type and source. 1 when there
 * is one, 0 when @mp is no mountpoint, or a negative errno.
 */
static int top_mount(const char *mp, char *fstype, size_t ftlen, char *source, size_t srclen)
{
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *fields[6] = { 0 }, *sep, *save = NULL, *p = line, *t, *s;
		size_t n = 0;

		while (n < SNP_ELEMENTSOF(fields) && (fields[n] = strtok_r(p, " \n", &save)))
			p = NULL, n++;
		if (n < 5)
			continue;
		unescape(fields[4]);
		if (strcmp(fields[4], mp))
			continue;
		/* optional fields end at " - ", then type and source */
		sep = strstr(save ? save : "", " - ");
		if (!sep && save && strncmp(save, "- ", 2) == 0)
			sep = save - 1;
		if (!sep)
			continue;
		t = strtok_r(sep + 3, " \n", &save);
		s = t ? strtok_r(NULL, " \n", &save) : NULL;
		if (!t || !s)
			continue;
		unescape(s);
		snprintf(fstype, ftlen, "%s", t);
		snprintf(source, srclen, "%s", s);
		found = 1; /* later lines are mounted on top of earlier ones */
	}
	free(line);
	fclose(f);
	return found;
}

static int enter_pid1_mount_ns(void)
{
	struct stat self, init;
	int fd;

	if (!getenv("INVOCATION_ID"))
		return 0; /* not a unit's process: where it was started is right */
	fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(errno, "Cannot open PID 1's mount namespace: %m");
	if (fstat(fd, &init) < 0 || stat("/proc/self/ns/mnt", &self) < 0) {
		close(fd);
		return log_error_errno(errno, "Cannot compare mount namespaces: %m");
	}
	if (self.st_dev == init.st_dev && self.st_ino == init.st_ino) {
		close(fd);
		return 0;
	}
	if (setns(fd, CLONE_NEWNS) < 0) {
		close(fd);
		return log_error_errno(errno, "Cannot enter PID 1's mount namespace: %m");
	}
	close(fd);
	if (chdir("/") < 0)
		return log_error_errno(errno, "chdir(/): %m");
	log_debug("Entered PID 1's mount namespace");
	return 0;
}

/* super options of a FUSE mount (after the source in mountinfo): user_id=0? */
static bool superopts_root_owned(const char *opts)
{
	size_t n = strlen("user_id=0");

	for (const char *p = opts; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, "user_id=0", n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/*
 * The mountpoint of a mount this helper made (fuse.snpd from snpd.service)
 * into @mp: 1, 0 when there is none, or a negative errno.
 */
static int find_unit_mount(char *mp, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (!found && getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - "), *save = NULL, *p = line, *t, *s, *o;

		if (!sep)
			continue;
		*sep = '\0';
		t = strtok_r(sep + 3, " \n", &save);
		s = t ? strtok_r(NULL, " \n", &save) : NULL;
		o = s ? strtok_r(NULL, " \n", &save) : NULL;
		if (!t || !s || !o || strcmp(t, FUSE_FSTYPE))
			continue;
		unescape(s);
		/*
		 * Ours: the source name and a connection owned by root. Anyone
		 * can name a fusermount3 mount "snpd.service", but fusermount3
		 * writes the caller's own uid into user_id=.
		 */
		if (strcmp(s, UNIT_FSNAME) || !superopts_root_owned(o))
			continue;
		/* the fifth field is the mountpoint */
		save = NULL;
		for (int i = 0; i < 5 && (t = strtok_r(p, " ", &save)); i++)
			p = NULL;
		if (!t)
			continue;
		unescape(t);
		snprintf(mp, len, "%s", t);
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

static int do_stop(void)
{
	char mp[4096], fstype[64], source[256];
	int r;

	for (int i = 0; i < MOUNTINFO_MAX; i++) {
		r = find_unit_mount(mp, sizeof(mp));
		if (r == 0)
			return 0;
		if (r > 0)
			r = top_mount(mp, fstype, sizeof(fstype), source, sizeof(source));
		if (r < 0)
			return log_error_errno(r, "Cannot read /proc/self/mountinfo: %m");
		if (r == 0 || strcmp(fstype, FUSE_FSTYPE) || strcmp(source, UNIT_FSNAME)) {
			log_warning("The view at %s is covered by a %s mount of %s: leaving both",
				    mp, r ? fstype : "?", r ? source : "?");
			return 0;
		}
		/*
		 * MNT_FORCE makes FUSE abort the connection first: whoever still
		 * waits for a reply (the fd store may hold the last copy if snpd
		 * never took it) fails at once instead of hanging.
		 */
		if (umount2(mp, MNT_FORCE | MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
			return log_error_errno(errno, "Failed to unmount the FUSE view at %s: %m",
					       mp);
		log_info("FUSE view at %s unmounted", mp);
	}
	return log_error_errno(ELOOP, "Still a mount of %s after %d unmounts", UNIT_FSNAME,
			       MOUNTINFO_MAX);
}

static int do_start(const struct snpd_config *c)
{
	char opts[256];
	int fd, r;

	if (!getenv("NOTIFY_SOCKET"))
		return log_error_errno(EINVAL, "NOTIFY_SOCKET is not set: snpd-mount start runs "
					       "as ExecStartPre=+ of a unit with NotifyAccess=exec "
					       "(by hand, run snpd as root: it mounts by itself)");
	r = snpd_fs_clear_stale_mount(c->mountpoint);
	if (r < 0)
		return r;
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(errno, "Failed to open /dev/fuse: %m");
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions%s", fd,
		 c->allow_other ? ",allow_other" : "");
	if (mount(UNIT_FSNAME, c->mountpoint, FUSE_FSTYPE, MS_NOSUID | MS_NODEV, opts) < 0) {
		r = log_error_errno(errno, "Failed to mount the FUSE view at %s: %m",
				    c->mountpoint);
		close(fd);
		return r;
	}
	r = sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=fuse", &fd, 1);
	if (r > 0)
		/* the manager has it before this process is gone */
		r = sd_notify_barrier(0, BARRIER_USEC);
	close(fd);
	if (r <= 0) {
		log_error_errno(r ? r : EINVAL,
				"Cannot hand the FUSE connection to the service manager: %m "
				"(FileDescriptorStoreMax= must be 1 or more)");
		/* nobody serves the mount: take it down again */
		umount2(c->mountpoint, MNT_FORCE | MNT_DETACH);
		return r ? r : -EINVAL;
	}
	log_info("FUSE view mounted at %s; the connection is in the fd store", c->mountpoint);
	return 0;
}

int main(int argc, char **argv)
{
	struct snpd_cmdline cmd;
	struct snpd_config c;
	bool start;
	int r;

	snp_log_set_ident("snpd-mount");
	snp_log_set_prefix_mode(1);
	snp_log_set_max_level(LOG_INFO);
	if (argc < 2 || (strcmp(argv[1], "start") && strcmp(argv[1], "stop"))) {
		fprintf(stderr,
			"Usage: %s start|stop [SNPD-OPTIONS...]\n"
			"The privileged mount step of snpd.service (see snpd(8)).\n",
			argv[0]);
		return EXIT_FAILURE;
	}
	start = strcmp(argv[1], "start") == 0;
	/* snpd's options; argv[1] stands in for the program name */
	r = snpd_cmdline_parse(argc - 1, argv + 1, &cmd);
	if (r != 0)
		return r > 0 ? EXIT_SUCCESS : SNPD_EXIT_CONFIG;
	if (!start) {
		r = enter_pid1_mount_ns();
		if (r == 0)
			r = do_stop();
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	r = snpd_config_load(&cmd, &c);
	if (r < 0) {
		/*
		 * snpd reports the error itself and exits 78, which the unit
		 * does not restart on; failing here would restart in a loop.
		 */
		log_warning("Configuration error: not mounting the view; snpd will say why");
		return EXIT_SUCCESS;
	}
	snp_log_set_max_level(c.log_level);
	if (!c.fs_enabled)
		r = 0;
	else if ((r = enter_pid1_mount_ns()) == 0)
		r = do_start(&c);
	snpd_config_release(&c);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
