/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snpd configuration: /etc/snpd/snpd.conf (INI) plus snpd.conf.d
 * drop-ins (FILE.d/NAME.conf), every option also on the command line. One table drives
 * parsing, defaults, --dump-config, --help and reload.
 */
#ifndef SNPD_CONFIG_H
#define SNPD_CONFIG_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "kernel/compat.h"

#define SNPD_DEFAULT_CONFIG   SYSCONFDIR "/snpd/snpd.conf"
#define SNPD_EXIT_CONFIG      78 /* EX_CONFIG */
#define SNPD_KEY_PROFILES_MAX 32
#define SNPD_NAME_MAX	      64
#define SNPD_API_IDS_MAX      16

/* uids or gids from the configuration */
struct snpd_id_list {
	size_t n;
	u32 ids[SNPD_API_IDS_MAX];
};

struct snpd_key_profile {
	char name[SNPD_NAME_MAX];
	bool root_vmrk; /* Root=vmrk, else vcek */
	u64 fields;	/* GUEST_FIELD_SELECT */
	u32 svn;
	u64 tcb;
	u32 vmpl;
	uid_t uid;
	gid_t gid;
	mode_t mode;
	/* peers (SO_PEERCRED) that may fetch the key over the unix socket */
	struct snpd_id_list api_users;
	struct snpd_id_list api_groups;
};

struct snpd_config {
	/* [Daemon] */
	char *backend;
	int log_level;
	u32 queue_size;
	u32 rate_limit; /* requests per second per client, 0 = unlimited */
	u32 rate_burst;
	u32 vmpl;	 /* VMPL of reports unless a client asks */
	u32 vmpl_floor;	 /* lowest VMPL a client may ask for */
	char *certs_dir; /* certificates from a directory, else the host's */
	char *event_log; /* runtime event log file, "" for none */
	u32 event_log_max;
	u32 batch_window_msec;		 /* evidence batch window when the device is idle */
	u32 batch_max;			 /* nonces per evidence batch */
	struct snpd_id_list log_writers; /* may append to the event log */
	struct snpd_id_list log_writer_groups;
	char *kds_url;	 /* AMD KDS or a mirror */
	char *cache_dir; /* collateral cache, "" for none */
	char *trust_ark; /* a root trusted besides AMD's (simulated platforms) */
	bool kds_offline;
	char *kds_ca_file;  /* CAs of an https:// KDS mirror, "" = the system's */
	u32 cache_max_size; /* bytes of cached VCEKs */
	/* [Filesystem] */
	bool fs_enabled;
	char *mountpoint;
	bool allow_other;
	uid_t file_uid;
	gid_t file_gid;
	mode_t file_mode;   /* read-only views */
	mode_t report_mode; /* report, nonce/: written by their openers */
	u32 fs_max_handles; /* open files per uid */
	/* [HTTP] */
	bool http_enabled;
	char *api_socket; /* unix socket path, "" for none */
	uid_t api_socket_uid;
	gid_t api_socket_gid;
	mode_t api_socket_mode;
	char *listen;	 /* ADDR:PORT for TCP, "" for none */
	bool listen_any; /* allow a non-loopback TCP address */
	u32 max_connections;
	u32 max_connections_per_client;
	u32 idle_timeout_sec;
	u32 request_timeout_sec; /* whole request (headers and body) */
	/* [Key:NAME] */
	size_t n_keys;
	struct snpd_key_profile keys[SNPD_KEY_PROFILES_MAX];
};

/* What the command line said, kept so that reload applies it again. */
struct snpd_cmdline {
	const char *config_file;
	bool dump_config;
	size_t n_set;
	struct {
		int opt;
		const char *value;
	} set[64];
	size_t n_key_args;
	const char *key_args[SNPD_KEY_PROFILES_MAX];
};

/*
 * Parse argv. Returns 0, 1 when the program should exit successfully
 * (--help, --version), or -EINVAL after logging the problem.
 */
int snpd_cmdline_parse(int argc, char **argv, struct snpd_cmdline *ret);

/*
 * Build a configuration: defaults, then the main file and its drop-ins,
 * then the command line. On error logs "FILE:LINE: problem" and returns
 * a negative errno; *ret is untouched.
 */
int snpd_config_load(const struct snpd_cmdline *cmd, struct snpd_config *ret);
void snpd_config_release(struct snpd_config *c);
void snpd_config_dump(const struct snpd_config *c, FILE *f);
const struct snpd_key_profile *snpd_config_find_key(const struct snpd_config *c, const char *name);

#endif
