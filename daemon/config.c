// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>

#include "daemon/config.h"
#include "backend/backend.h"
#include "lib/log.h"
#include "lib/util.h"

#define CONFIG_FILE_MAX (1024 * 1024)
#define DROPINS_MAX	128

enum cfg_type {
	T_STRING,
	T_BOOL,
	T_U32,
	T_MODE,
	T_LOGLEVEL,
	T_USER,
	T_GROUP,
	T_HEX64,
	T_ROOT,
	T_FIELDS,
	T_UIDS,
	T_GIDS,
};

/* What a value must be beyond its type. */
enum cfg_check {
	CHK_NONE,
	CHK_BACKEND,	 /* NAME[:ARG] of a known backend, or auto */
	CHK_DIR,	 /* empty, or an absolute path of an existing directory */
	CHK_MOUNTPOINT,	 /* an absolute path, not /, without . or .. */
	CHK_SOCKET_PATH, /* empty, or an absolute path that fits sun_path */
	CHK_LISTEN,	 /* empty, or ADDR:PORT / [ADDR6]:PORT, numeric */
	CHK_URL,	 /* http:// or https:// and a host, no query, fragment or space */
	CHK_ABSPATH,	 /* empty, or an absolute path without . or .. components */
	CHK_FILE,	 /* empty, or an absolute path: a regular file, or none yet */
};

struct cfg_item {
	const char *section;
	const char *key;
	const char *option; /* long option on the command line */
	enum cfg_type type;
	size_t offset;
	u32 max; /* T_U32: largest value */
	const char *def;
	const char *help;
	u32 min; /* T_U32: smallest value */
	enum cfg_check check;
};

/* File modes: rwx for user, group and other; never setuid, setgid, sticky. */
#define MODE_MAX 0777

#define C(f) offsetof(struct snpd_config, f)
#define K(f) offsetof(struct snpd_key_profile, f)

/* The one table: parsing, defaults, --help, --dump-config and reload. */
static const struct cfg_item items[] = {
	{ "Daemon", "Backend", "backend", T_STRING, C(backend), 0, "auto",
	  "sev-guest[:PATH], tsm[:PATH], sim[:STATE_DIR] or auto", 0, CHK_BACKEND },
	{ "Daemon", "LogLevel", "log-level", T_LOGLEVEL, C(log_level), 0, "info", "emerg..debug" },
	{ "Daemon", "QueueSize", "queue-size", T_U32, C(queue_size), 4096, "64",
	  "requests waiting for the device, at most", 1 },
	{ "Daemon", "RateLimit", "rate-limit", T_U32, C(rate_limit), 1000000, "100",
	  "device requests per second per client (0: unlimited)" },
	{ "Daemon", "RateBurst", "rate-burst", T_U32, C(rate_burst), 1000000, "200",
	  "requests a client may make at once before the rate applies", 1 },
	{ "Daemon", "Vmpl", "vmpl", T_U32, C(vmpl), 3, "0", "VMPL put in reports by default" },
	{ "Daemon", "VmplFloor", "vmpl-floor", T_U32, C(vmpl_floor), 3, "0",
	  "lowest VMPL a client may request" },
	{ "Daemon", "CertsDir", "certs-dir", T_STRING, C(certs_dir), 0, "",
	  "serve ark.pem/ask.pem/vcek.pem from here instead of the host's", 0, CHK_DIR },
	{ "Daemon", "EventLog", "event-log", T_STRING, C(event_log), 0, "/run/snpd/eventlog",
	  "file of the runtime event log, kept for this boot (empty: no log)", 0, CHK_SOCKET_PATH },
	{ "Daemon", "EventLogMax", "event-log-max", T_U32, C(event_log_max), 65536, "1024",
	  "events the runtime event log holds, at most", 1 },
	{ "Daemon", "BatchWindowMSec", "batch-window-msec", T_U32, C(batch_window_msec), 1000, "0",
	  "how long an evidence batch waits for more nonces when the device is idle" },
	{ "Daemon", "BatchMax", "batch-max", T_U32, C(batch_max), 4096, "256",
	  "nonces one evidence report answers, at most", 1 },
	{ "Daemon", "LogWriters", "log-writers", T_UIDS, C(log_writers), 0, "",
	  "users who may append to the event log (FUSE log/extend, POST /v1/log/events)" },
	{ "Daemon", "LogWriterGroups", "log-writer-groups", T_GIDS, C(log_writer_groups), 0, "",
	  "groups (primary group of the writer) who may append likewise" },
	{ "Daemon", "KdsUrl", "kds-url", T_STRING, C(kds_url), 0, "https://kdsintf.amd.com",
	  "AMD KDS or a mirror/proxy of it (http:// or https://)", 0, CHK_URL },
	{ "Daemon", "CacheDir", "cache-dir", T_STRING, C(cache_dir), 0, "/var/cache/snpd",
	  "collateral cache shared with snpctl (empty: none)", 0, CHK_ABSPATH },
	{ "Daemon", "KdsOffline", "offline", T_BOOL, C(kds_offline), 0, "no",
	  "never ask KDS: the host's table, the cache and the embedded AMD roots only" },
	{ "Daemon", "TrustArk", "trust-ark", T_STRING, C(trust_ark), 0, "",
	  "PEM root trusted instead of AMD's (a simulated platform; never in production)", 0,
	  CHK_FILE },
	{ "Daemon", "KdsCAFile", "kds-ca", T_STRING, C(kds_ca_file), 0, "",
	  "PEM CAs for an https:// KdsUrl= (a mirror's own CA) instead of the system's", 0,
	  CHK_FILE },
	{ "Daemon", "CacheMaxSize", "cache-max", T_U32, C(cache_max_size), 1073741824, "16777216",
	  "bytes of cached VCEKs, at most (least recently used evicted first)", 4096 },
	{ "Filesystem", "Enabled", "fs", T_BOOL, C(fs_enabled), 0, "yes",
	  "serve the FUSE view (--no-fs turns it off)" },
	{ "Filesystem", "Mountpoint", "mountpoint", T_STRING, C(mountpoint), 0, "/snp",
	  "where the view is mounted", 0, CHK_MOUNTPOINT },
	{ "Filesystem", "AllowOther", "allow-other", T_BOOL, C(allow_other), 0, "yes",
	  "let every user see the view (modes still apply)" },
	{ "Filesystem", "User", "fs-user", T_USER, C(file_uid), 0, "root", "owner of the files" },
	{ "Filesystem", "Group", "fs-group", T_GROUP, C(file_gid), 0, "root",
	  "group of the files" },
	{ "Filesystem", "Mode", "fs-mode", T_MODE, C(file_mode), 0, "0444",
	  "mode of the read-only files" },
	{ "Filesystem", "ReportMode", "report-mode", T_MODE, C(report_mode), 0, "0666",
	  "mode of report and nonce/ (a write binds REPORT_DATA for that fd only)" },
	{ "Filesystem", "MaxHandlesPerUser", "max-handles-per-user", T_U32, C(fs_max_handles),
	  1000000, "1024", "open files in the view per user, at most (EMFILE beyond)" },
	{ "HTTP", "Enabled", "http", T_BOOL, C(http_enabled), 0, "yes",
	  "serve the HTTP API (--no-http turns it off)" },
	{ "HTTP", "Socket", "api-socket", T_STRING, C(api_socket), 0, "/run/snpd/api.sock",
	  "unix socket of the API (empty: none)", 0, CHK_SOCKET_PATH },
	{ "HTTP", "SocketUser", "api-socket-user", T_USER, C(api_socket_uid), 0, "root",
	  "owner of the unix socket" },
	{ "HTTP", "SocketGroup", "api-socket-group", T_GROUP, C(api_socket_gid), 0, "root",
	  "group of the unix socket" },
	{ "HTTP", "SocketMode", "api-socket-mode", T_MODE, C(api_socket_mode), 0, "0666",
	  "mode of the unix socket (keys are guarded by peer credentials)" },
	{ "HTTP", "Listen", "listen", T_STRING, C(listen), 0, "",
	  "ADDR:PORT for TCP, e.g. 127.0.0.1:8086 (empty: none)", 0, CHK_LISTEN },
	{ "HTTP", "ListenNonLoopback", "listen-non-loopback", T_BOOL, C(listen_any), 0, "no",
	  "allow Listen= on an address other than loopback" },
	{ "HTTP", "MaxConnections", "max-connections", T_U32, C(max_connections), 10000, "128",
	  "concurrent connections per listener", 1 },
	{ "HTTP", "MaxConnectionsPerClient", "max-connections-per-client", T_U32,
	  C(max_connections_per_client), 10000, "32",
	  "concurrent connections per client (uid) per listener" },
	{ "HTTP", "IdleTimeoutSec", "idle-timeout", T_U32, C(idle_timeout_sec), 3600, "30",
	  "close a connection idle this long", 1 },
	{ "HTTP", "RequestTimeoutSec", "request-timeout", T_U32, C(request_timeout_sec), 3600, "10",
	  "a request must arrive whole within this time (slow clients are cut)", 1 },
};

static const struct cfg_item key_items[] = {
	{ "Key", "Root", NULL, T_ROOT, K(root_vmrk), 0, "vcek", "vcek or vmrk" },
	{ "Key", "Fields", NULL, T_FIELDS, K(fields), 0, "",
	  "policy,image_id,family_id,measurement,guest_svn,tcb_version" },
	{ "Key", "SVN", NULL, T_U32, K(svn), UINT32_MAX, "0", "guest SVN mixed in" },
	{ "Key", "TCB", NULL, T_HEX64, K(tcb), 0, "0", "TCB_VERSION mixed in (hex)" },
	{ "Key", "Vmpl", NULL, T_U32, K(vmpl), 3, "0", "VMPL of the key request" },
	{ "Key", "User", NULL, T_USER, K(uid), 0, "root", "owner of keys/NAME" },
	{ "Key", "Group", NULL, T_GROUP, K(gid), 0, "root", "group of keys/NAME" },
	{ "Key", "Mode", NULL, T_MODE, K(mode), 0, "0400", "mode of keys/NAME" },
	{ "Key", "ApiUsers", NULL, T_UIDS, K(api_users), 0, "",
	  "users allowed to POST /v1/keys/NAME on the unix socket" },
	{ "Key", "ApiGroups", NULL, T_GIDS, K(api_groups), 0, "",
	  "groups (primary group of the peer) allowed likewise" },
};

enum {
	OPT_CONFIG = 0x200,
	OPT_DUMP,
	OPT_NO_FS,
	OPT_NO_HTTP,
	OPT_KEY,
	OPT_VERSION,
	OPT_ITEM0 = 0x400, /* OPT_ITEM0 + index into items[] */
};

static bool has_dot_component(const char *p)
{
	for (const char *c = p; (c = strchr(c, '/')); c++)
		if ((c[1] == '.' && (c[2] == '/' || !c[2])) ||
		    (c[1] == '.' && c[2] == '.' && (c[3] == '/' || !c[3])))
			return true;
	return false;
}

static int check_listen(const char *s)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	char host[128], *port;
	struct addrinfo *ai = NULL;
	u32 p;

	if (strlen(s) >= sizeof(host))
		return -EINVAL;
	if (s[0] == '[') {
		strcpy(host, s + 1);
		port = strstr(host, "]:");
		if (!port)
			return -EINVAL;
		*port = '\0';
		port += 2;
	} else {
		strcpy(host, s);
		port = strrchr(host, ':');
		if (!port)
			return -EINVAL;
		*port++ = '\0';
	}
	if (snp_parse_u32_max(port, 65535, &p) < 0 || p == 0 || !*host)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EINVAL;
	freeaddrinfo(ai);
	return 0;
}

/* What a string must be beyond being a string (enum cfg_check). */
static int check_string(const struct cfg_item *it, const char *v, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	const char *colon;
	struct stat st;

	switch (it->check) {
	case CHK_NONE:
		return 0;
	case CHK_BACKEND: {
		char name[32];
		size_t n;

		colon = strchr(v, ':');
		n = colon ? (size_t)(colon - v) : strlen(v);
		if (n == 0 || n >= sizeof(name) || (colon && !colon[1]))
			break;
		memcpy(name, v, n);
		name[n] = '\0';
		if (!strcmp(name, "auto") ? colon != NULL : !snp_backend_find(name))
			break;
		return 0;
	}
	case CHK_DIR:
		if (!*v)
			return 0;
		if (v[0] != '/') {
			snprintf(err, errlen, "%s=%s: must be an absolute path", it->key, v);
			return -EINVAL;
		}
		if (stat(v, &st) < 0) {
			snprintf(err, errlen, "%s=%s: %s", it->key, v, strerror(errno));
			return -EINVAL;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s=%s: not a directory", it->key, v);
			return -EINVAL;
		}
		return 0;
	case CHK_MOUNTPOINT:
		if (v[0] != '/' || !v[1] || has_dot_component(v)) {
			snprintf(err, errlen,
				 "%s=%s: must be an absolute path other than / without . or .. "
				 "components",
				 it->key, v);
			return -EINVAL;
		}
		return 0;
	case CHK_SOCKET_PATH:
		if (!*v)
			return 0;
		if (v[0] != '/' || strlen(v) >= sizeof(sa.sun_path) || has_dot_component(v)) {
			snprintf(
				err, errlen,
				"%s=%s: must be an absolute path of at most %zu characters without "
				". or .. components",
				it->key, v, sizeof(sa.sun_path) - 1);
			return -EINVAL;
		}
		return 0;
	case CHK_URL: {
		const char *host = !strncmp(v, "http://", 7)  ? v + 7 :
				   !strncmp(v, "https://", 8) ? v + 8 :
								NULL;

		if (!host || !*host || *host == '/' || strlen(v) >= 400 || strpbrk(v, "?# \t")) {
			snprintf(err, errlen,
				 "%s=%s: expected http://HOST[:PORT][/PATH] or https://..., "
				 "without a query, fragment or spaces, under 400 characters",
				 it->key, v);
			return -EINVAL;
		}
		return 0;
	}
	case CHK_ABSPATH:
		if (*v && (v[0] != '/' || has_dot_component(v) || strlen(v) >= 3800)) {
			snprintf(err, errlen,
				 "%s=%s: must be an absolute path without . or .. components",
				 it->key, v);
			return -EINVAL;
		}
		return 0;
	case CHK_FILE:
		if (!*v)
			return 0;
		if (v[0] != '/') {
			snprintf(err, errlen, "%s=%s: must be an absolute path", it->key, v);
			return -EINVAL;
		}
		/*
		 * A file that does not exist yet is read (and its absence
		 * reported) where it is used: a simulator's state, say, is made
		 * by the backend at its first start.
		 */
		if (stat(v, &st) < 0) {
			if (errno == ENOENT)
				return 0;
			snprintf(err, errlen, "%s=%s: %s", it->key, v, strerror(errno));
			return -EINVAL;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s=%s: not a regular file", it->key, v);
			return -EINVAL;
		}
		return 0;
	case CHK_LISTEN:
		if (!*v || check_listen(v) == 0)
			return 0;
		snprintf(err, errlen,
			 "%s=%s: expected ADDR:PORT or [ADDR]:PORT, numeric, port 1-65535", it->key,
			 v);
		return -EINVAL;
	}
	snprintf(err, errlen, "%s=%s: invalid value (%s)", it->key, v, it->help);
	return -EINVAL;
}

static int parse_value(const struct cfg_item *it, const char *value, void *base, char *err,
		       size_t errlen)
{
	char *p = (char *)base + it->offset;
	u32 u;
	u64 x;

	switch (it->type) {
	case T_STRING: {
		char *s;
		int r = check_string(it, value, err, errlen);

		if (r < 0)
			return r;
		s = strdup(value);
		if (!s)
			return -ENOMEM;
		free(*(char **)p);
		*(char **)p = s;
		return 0;
	}
	case T_BOOL:
		if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1") ||
		    !strcmp(value, "on"))
			*(bool *)p = true;
		else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0") ||
			 !strcmp(value, "off"))
			*(bool *)p = false;
		else
			goto bad;
		return 0;
	case T_U32:
		if (snp_parse_u32_max(value, it->max, &u) < 0 || u < it->min) {
			snprintf(err, errlen, "%s=%s: expected a number from %u to %u", it->key,
				 value, it->min, it->max);
			return -EINVAL;
		}
		*(u32 *)p = u;
		return 0;
	case T_HEX64: {
		char *end;

		/* hex digits, with or without 0x; strtoull() would also
		 * take leading spaces and a sign */
		errno = 0;
		if (!isxdigit((unsigned char)*value))
			goto bad;
		x = strtoull(value, &end, 16);
		if (errno || *end)
			goto bad;
		*(u64 *)p = x;
		return 0;
	}
	case T_MODE: {
		char *end;
		unsigned long m;

		errno = 0;
		m = strtoul(value, &end, 8);
		if (*value < '0' || *value > '7' || errno || *end)
			goto bad;
		if (m > MODE_MAX) {
			snprintf(err, errlen,
				 "%s=%s: expected an octal mode from 0000 to 0777 (no setuid, "
				 "setgid or sticky bit)",
				 it->key, value);
			return -EINVAL;
		}
		*(mode_t *)p = (mode_t)m;
		return 0;
	}
	case T_LOGLEVEL:
		if (snp_log_parse_level(value, (int *)p) < 0)
			goto bad;
		return 0;
	case T_USER: {
		struct passwd *pw;
		int r;

		/* a number is an id, whatever its size; only (uid_t)-1 is "no id" */
		r = snp_parse_u32_max(value, UINT32_MAX - 1, &u);
		if (r == 0) {
			*(uid_t *)p = u;
			return 0;
		}
		if (r == -ERANGE) {
			snprintf(err, errlen, "%s=%s: a uid is 0 to 4294967294", it->key, value);
			return -EINVAL;
		}
		pw = getpwnam(value);
		if (!pw) {
			snprintf(err, errlen, "%s=%s: no such user", it->key, value);
			return -EINVAL;
		}
		*(uid_t *)p = pw->pw_uid;
		return 0;
	}
	case T_GROUP: {
		struct group *gr;
		int r;

		/* a number is an id, whatever its size; only (gid_t)-1 is "no id" */
		r = snp_parse_u32_max(value, UINT32_MAX - 1, &u);
		if (r == 0) {
			*(gid_t *)p = u;
			return 0;
		}
		if (r == -ERANGE) {
			snprintf(err, errlen, "%s=%s: a gid is 0 to 4294967294", it->key, value);
			return -EINVAL;
		}
		gr = getgrnam(value);
		if (!gr) {
			snprintf(err, errlen, "%s=%s: no such group", it->key, value);
			return -EINVAL;
		}
		*(gid_t *)p = gr->gr_gid;
		return 0;
	}
	case T_ROOT:
		if (!strcasecmp(value, "vcek"))
			*(bool *)p = false;
		else if (!strcasecmp(value, "vmrk"))
			*(bool *)p = true;
		else
			goto bad;
		return 0;
	case T_UIDS:
	case T_GIDS: {
		/* comma or space separated names or numbers */
		struct snpd_id_list *l = (struct snpd_id_list *)p;
		struct cfg_item one = *it;
		char buf[1024], *tok, *save = NULL;

		if (strlen(value) >= sizeof(buf))
			goto bad;
		strcpy(buf, value);
		one.type = it->type == T_UIDS ? T_USER : T_GROUP;
		one.offset = 0;
		l->n = 0;
		for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			u32 id;

			if (l->n == SNPD_API_IDS_MAX) {
				snprintf(err, errlen, "%s: more than %d entries", it->key,
					 SNPD_API_IDS_MAX);
				return -EINVAL;
			}
			if (parse_value(&one, tok, &id, err, errlen) < 0)
				return -EINVAL;
			l->ids[l->n++] = id;
		}
		return 0;
	}
	case T_FIELDS:
		if (!*value) {
			*(u64 *)p = 0;
			return 0;
		}
		if (snp_backend_parse_fields(value, &x) < 0)
			goto bad;
		*(u64 *)p = x;
		return 0;
	}
bad:
	snprintf(err, errlen, "%s=%s: invalid value (%s)", it->key, value, it->help);
	return -EINVAL;
}

static void format_value(const struct cfg_item *it, const void *base, char *buf, size_t len)
{
	const char *p = (const char *)base + it->offset;
	static const char *const levels[] = { "emerg",	 "alert",  "crit", "err",
					      "warning", "notice", "info", "debug" };
	static const char *const fields[] = { "policy",	     "image_id",  "family_id",
					      "measurement", "guest_svn", "tcb_version" };

	switch (it->type) {
	case T_STRING:
		snprintf(buf, len, "%s", *(char *const *)p ? *(char *const *)p : "");
		break;
	case T_BOOL:
		snprintf(buf, len, "%s", *(const bool *)p ? "yes" : "no");
		break;
	case T_U32:
		snprintf(buf, len, "%u", *(const u32 *)p);
		break;
	case T_HEX64:
		snprintf(buf, len, "%016llx", (unsigned long long)*(const u64 *)p);
		break;
	case T_MODE:
		snprintf(buf, len, "%04o", (unsigned int)*(const mode_t *)p);
		break;
	case T_LOGLEVEL:
		snprintf(buf, len, "%s", levels[*(const int *)p & 7]);
		break;
	case T_USER:
		snprintf(buf, len, "%u", (unsigned int)*(const uid_t *)p);
		break;
	case T_GROUP:
		snprintf(buf, len, "%u", (unsigned int)*(const gid_t *)p);
		break;
	case T_ROOT:
		snprintf(buf, len, "%s", *(const bool *)p ? "vmrk" : "vcek");
		break;
	case T_UIDS:
	case T_GIDS: {
		const struct snpd_id_list *l = (const struct snpd_id_list *)p;
		size_t used = 0;

		buf[0] = '\0';
		for (size_t i = 0; i < l->n && used < len; i++)
			used += (size_t)snprintf(buf + used, len - used, "%s%u", i ? "," : "",
						 l->ids[i]);
		break;
	}
	case T_FIELDS: {
		u64 f = *(const u64 *)p;
		size_t n = 0;

		buf[0] = '\0';
		for (size_t i = 0; i < SNP_ELEMENTSOF(fields); i++)
			if (f & (1ULL << i))
				n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
						      n ? "," : "", fields[i]);
		break;
	}
	}
}

static int set_defaults(const struct cfg_item *tab, size_t n, void *base)
{
	char err[SNP_ERRBUF];

	for (size_t i = 0; i < n; i++) {
		int r = parse_value(&tab[i], tab[i].def, base, err, sizeof(err));

		if (r < 0)
			return log_error_errno(r, "Internal error: bad default %s", err);
	}
	return 0;
}

static bool valid_profile_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= SNPD_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* The profile called @name, created with defaults when new. */
static int key_profile(struct snpd_config *c, const char *name, struct snpd_key_profile **ret,
		       char *err, size_t errlen)
{
	struct snpd_key_profile *k;
	int r;

	if (!valid_profile_name(name)) {
		snprintf(err, errlen,
			 "key profile name '%s' must be 1-63 characters of A-Z a-z 0-9 . _ -",
			 name);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_keys; i++)
		if (!strcmp(c->keys[i].name, name)) {
			*ret = &c->keys[i];
			return 0;
		}
	if (c->n_keys == SNPD_KEY_PROFILES_MAX) {
		snprintf(err, errlen, "more than %d key profiles", SNPD_KEY_PROFILES_MAX);
		return -E2BIG;
	}
	k = &c->keys[c->n_keys];
	memset(k, 0, sizeof(*k));
	r = set_defaults(key_items, SNP_ELEMENTSOF(key_items), k);
	if (r < 0)
		return r;
	strcpy(k->name, name);
	c->n_keys++;
	*ret = k;
	return 0;
}

static const struct cfg_item *find_item(const struct cfg_item *tab, size_t n, const char *section,
					const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(tab[i].section, section) && !strcmp(tab[i].key, key))
			return &tab[i];
	return NULL;
}

static char *strip(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Where the values that are checked against each other were set, for FILE:LINE. */
struct cfg_origins {
	char vmpl[256];
	char vmpl_floor[256];
	char key_vmpl[SNPD_KEY_PROFILES_MAX][256];
};

static void note_origin(struct cfg_origins *o, const struct snpd_config *c,
			const struct cfg_item *it, const struct snpd_key_profile *k,
			const char *where)
{
	char *dst = NULL;

	if (k && !strcmp(it->key, "Vmpl"))
		dst = o->key_vmpl[k - c->keys];
	else if (!k && it->offset == C(vmpl) && it->type == T_U32)
		dst = o->vmpl;
	else if (!k && it->offset == C(vmpl_floor) && it->type == T_U32)
		dst = o->vmpl_floor;
	if (dst)
		snprintf(dst, sizeof(o->vmpl), "%s", where);
}

/* Parse one INI file into @c. Errors are logged as FILE:LINE. */
static int parse_file(struct snpd_config *c, const char *path, bool must_exist,
		      struct cfg_origins *o)
{
	_cleanup_(freep) u8 *data = NULL;
	char section[SNPD_NAME_MAX + 8] = "";
	char err[SNP_ERRBUF], where[sizeof(o->vmpl)];
	char *line, *save = NULL;
	unsigned int lineno = 0;
	size_t len;
	int r;

	r = snp_read_file(path, CONFIG_FILE_MAX, &data, &len);
	if (r == -ENOENT && !must_exist)
		return 0;
	if (r < 0)
		return log_error_errno(r, "%s: cannot read the configuration: %m", path);
	if (strlen((char *)data) != len)
		return log_error_errno(EINVAL, "%s: contains a NUL byte", path);

	/* strtok_r would merge empty lines and miscount; split by hand */
	for (line = (char *)data; line; line = save) {
		char *eq, *key, *value, *s;
		struct snpd_key_profile *k;
		const struct cfg_item *it;

		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		lineno++;
		s = strip(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			size_t n = strlen(s);

			if (s[n - 1] != ']' || n - 2 >= sizeof(section))
				return log_error_errno(EINVAL, "%s:%u: bad section header '%s'",
						       path, lineno, s);
			memcpy(section, s + 1, n - 2);
			section[n - 2] = '\0';
			if (strcmp(section, "Daemon") && strcmp(section, "Filesystem") &&
			    strcmp(section, "HTTP") && strncmp(section, "Key:", 4))
				return log_error_errno(EINVAL,
						       "%s:%u: unknown section [%s] (Daemon, "
						       "Filesystem, HTTP, Key:NAME)",
						       path, lineno, section);
			if (!strncmp(section, "Key:", 4)) {
				r = key_profile(c, section + 4, &k, err, sizeof(err));
				if (r < 0)
					return log_error_errno(r, "%s:%u: %s", path, lineno, err);
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq)
			return log_error_errno(EINVAL, "%s:%u: expected KEY=VALUE, got '%s'", path,
					       lineno, s);
		*eq = '\0';
		key = strip(s);
		value = strip(eq + 1);
		if (!*section)
			return log_error_errno(EINVAL, "%s:%u: '%s' outside of any section", path,
					       lineno, key);
		if (!strncmp(section, "Key:", 4)) {
			it = find_item(key_items, SNP_ELEMENTSOF(key_items), "Key", key);
			if (!it)
				return log_error_errno(EINVAL, "%s:%u: unknown key '%s' in [%s]",
						       path, lineno, key, section);
			r = key_profile(c, section + 4, &k, err, sizeof(err));
			if (r >= 0)
				r = parse_value(it, value, k, err, sizeof(err));
		} else {
			it = find_item(items, SNP_ELEMENTSOF(items), section, key);
			if (!it)
				return log_error_errno(EINVAL, "%s:%u: unknown key '%s' in [%s]",
						       path, lineno, key, section);
			k = NULL;
			r = parse_value(it, value, c, err, sizeof(err));
		}
		if (r < 0)
			return log_error_errno(r, "%s:%u: %s", path, lineno, err);
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		note_origin(o, c, it, k, where);
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* FILE.d/NAME.conf in lexical order. */
static int parse_dropins(struct snpd_config *c, const char *main_file, struct cfg_origins *o)
{
	char dir[PATH_MAX], *names[DROPINS_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int r = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s.d", main_file) >= sizeof(dir))
		return log_error_errno(ENAMETOOLONG, "%s.d: path too long", main_file);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : log_error_errno(errno, "%s: %m", dir);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".conf") || de->d_name[0] == '.')
			continue;
		if (n == DROPINS_MAX) {
			r = log_error_errno(E2BIG, "%s: more than %d drop-ins", dir, DROPINS_MAX);
			break;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n && r >= 0; i++) {
		char path[PATH_MAX];

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path))
			r = log_error_errno(ENAMETOOLONG, "%s/%s: path too long", dir, names[i]);
		else
			r = parse_file(c, path, true, o);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r;
}

/* --key NAME:Key=Value[,Key=Value...] */
static int apply_key_arg(struct snpd_config *c, const char *arg, struct cfg_origins *o)
{
	char buf[1024], *colon, *tok, *save = NULL;
	struct snpd_key_profile *k;
	char err[SNP_ERRBUF];
	int r;

	if (strlen(arg) >= sizeof(buf))
		return log_error_errno(EINVAL, "--key: argument too long");
	strcpy(buf, arg);
	colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	r = key_profile(c, buf, &k, err, sizeof(err));
	if (r < 0)
		return log_error_errno(r, "--key %s: %s", arg, err);
	if (!colon)
		return 0;
	/* Fields= takes commas too: a token without '=' continues Fields */
	for (tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const struct cfg_item *it;

		if (!eq)
			return log_error_errno(EINVAL,
					       "--key %s: expected Key=Value, got '%s' (separate "
					       "Fields with '+')",
					       arg, tok);
		*eq = '\0';
		it = find_item(key_items, SNP_ELEMENTSOF(key_items), "Key", tok);
		if (!it)
			return log_error_errno(EINVAL, "--key %s: unknown key '%s'", arg, tok);
		for (char *p = eq + 1; *p; p++)
			if (*p == '+')
				*p = ',';
		r = parse_value(it, eq + 1, k, err, sizeof(err));
		if (r < 0)
			return log_error_errno(r, "--key %s: %s", arg, err);
		note_origin(o, c, it, k, "--key");
	}
	return 0;
}

int snpd_config_load(const struct snpd_cmdline *cmd, struct snpd_config *ret)
{
	const char *file = cmd->config_file ? cmd->config_file : SNPD_DEFAULT_CONFIG;
	_cleanup_(freep) struct cfg_origins *o = calloc(1, sizeof(*o));
	struct snpd_config c = { 0 };
	char err[SNP_ERRBUF];
	int r;

	if (!o)
		return log_error_errno(ENOMEM, "Out of memory");
	r = set_defaults(items, SNP_ELEMENTSOF(items), &c);
	if (r < 0)
		goto fail;
	/* an explicit --config must exist; the default one need not */
	r = parse_file(&c, file, cmd->config_file != NULL, o);
	if (r < 0)
		goto fail;
	r = parse_dropins(&c, file, o);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < cmd->n_set; i++) {
		const struct cfg_item *it = &items[cmd->set[i].opt - OPT_ITEM0];

		r = parse_value(it, cmd->set[i].value, &c, err, sizeof(err));
		if (r < 0) {
			log_error_errno(r, "command line --%s: %s", it->option, err);
			goto fail;
		}
		snprintf(err, sizeof(err), "command line --%s", it->option);
		note_origin(o, &c, it, NULL, err);
	}
	for (size_t i = 0; i < cmd->n_key_args; i++) {
		r = apply_key_arg(&c, cmd->key_args[i], o);
		if (r < 0)
			goto fail;
	}
	if (c.vmpl < c.vmpl_floor) {
		r = log_error_errno(EINVAL, "%s: Vmpl=%u is below VmplFloor=%u (set at %s)",
				    o->vmpl[0] ? o->vmpl : o->vmpl_floor, c.vmpl, c.vmpl_floor,
				    o->vmpl_floor);
		goto fail;
	}
	for (size_t i = 0; i < c.n_keys; i++)
		if (c.keys[i].vmpl < c.vmpl_floor) {
			r = log_error_errno(
				EINVAL, "%s: [Key:%s] Vmpl=%u is below VmplFloor=%u (set at %s)",
				o->key_vmpl[i][0] ? o->key_vmpl[i] : o->vmpl_floor, c.keys[i].name,
				c.keys[i].vmpl, c.vmpl_floor, o->vmpl_floor);
			goto fail;
		}
	if (c.fs_enabled && (!c.mountpoint || c.mountpoint[0] != '/')) {
		r = log_error_errno(EINVAL, "Mountpoint=%s: must be an absolute path",
				    c.mountpoint ? c.mountpoint : "");
		goto fail;
	}
	if (!c.queue_size) {
		r = log_error_errno(EINVAL, "QueueSize must be at least 1");
		goto fail;
	}
	if (!c.fs_max_handles) {
		r = log_error_errno(EINVAL, "MaxHandlesPerUser must be at least 1");
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	snpd_config_release(&c);
	return r;
}

void snpd_config_release(struct snpd_config *c)
{
	for (size_t i = 0; i < SNP_ELEMENTSOF(items); i++)
		if (items[i].type == T_STRING) {
			char **p = (char **)((char *)c + items[i].offset);

			free(*p);
			*p = NULL;
		}
	memset(c, 0, sizeof(*c));
}

void snpd_config_dump(const struct snpd_config *c, FILE *f)
{
	const char *section = NULL;
	char buf[512];

	for (size_t i = 0; i < SNP_ELEMENTSOF(items); i++) {
		if (!section || strcmp(section, items[i].section)) {
			section = items[i].section;
			fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
		}
		format_value(&items[i], c, buf, sizeof(buf));
		fprintf(f, "%s=%s\n", items[i].key, buf);
	}
	for (size_t k = 0; k < c->n_keys; k++) {
		fprintf(f, "\n[Key:%s]\n", c->keys[k].name);
		for (size_t i = 0; i < SNP_ELEMENTSOF(key_items); i++) {
			format_value(&key_items[i], &c->keys[k], buf, sizeof(buf));
			fprintf(f, "%s=%s\n", key_items[i].key, buf);
		}
	}
}

const struct snpd_key_profile *snpd_config_find_key(const struct snpd_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_keys; i++)
		if (!strcmp(c->keys[i].name, name))
			return &c->keys[i];
	return NULL;
}

static void help(void)
{
	printf("Usage: snpd [OPTIONS...]\n\n"
	       "The SEV-SNP attestation service: reports, certificates and derived keys\n"
	       "through a FUSE view.\n\n"
	       "  --config FILE          configuration file (default %s,\n"
	       "                         drop-ins in FILE.d/*.conf)\n"
	       "  --dump-config          print the effective configuration and exit\n"
	       "  --no-fs                do not mount the FUSE view\n"
	       "  --no-http              do not serve the HTTP API\n"
	       "  --key NAME:Key=Value[,Key=Value...]\n"
	       "                         define or change a [Key:NAME] profile (Root, Fields\n"
	       "                         joined with '+', SVN, TCB, Vmpl, User, Group, Mode)\n",
	       SNPD_DEFAULT_CONFIG);
	for (size_t i = 0; i < SNP_ELEMENTSOF(items); i++)
		printf("  --%-20s [%s] %s= %s (default: %s)\n", items[i].option, items[i].section,
		       items[i].key, items[i].help, items[i].def);
	printf("\nExit status 78 on a configuration error.\n");
}

int snpd_cmdline_parse(int argc, char **argv, struct snpd_cmdline *ret)
{
	struct option options[SNP_ELEMENTSOF(items) + 9];
	struct snpd_cmdline cmd = { 0 };
	size_t n = 0;
	int c;

	for (size_t i = 0; i < SNP_ELEMENTSOF(items); i++)
		options[n++] = (struct option){ items[i].option, required_argument, NULL,
						OPT_ITEM0 + (int)i };
	options[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
	options[n++] = (struct option){ "dump-config", no_argument, NULL, OPT_DUMP };
	options[n++] = (struct option){ "no-fs", no_argument, NULL, OPT_NO_FS };
	options[n++] = (struct option){ "no-http", no_argument, NULL, OPT_NO_HTTP };
	options[n++] = (struct option){ "key", required_argument, NULL, OPT_KEY };
	options[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	options[n++] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
	options[n] = (struct option){ 0 };

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return 1;
		case OPT_VERSION:
			printf("snpd %s\n", PACKAGE_VERSION);
			return 1;
		case OPT_CONFIG:
			cmd.config_file = optarg;
			break;
		case OPT_DUMP:
			cmd.dump_config = true;
			break;
		case OPT_KEY:
			if (cmd.n_key_args == SNP_ELEMENTSOF(cmd.key_args))
				return log_error_errno(E2BIG, "too many --key options");
			cmd.key_args[cmd.n_key_args++] = optarg;
			break;
		case OPT_NO_FS:
		case OPT_NO_HTTP:
			c = OPT_ITEM0 +
			    (int)(find_item(items, SNP_ELEMENTSOF(items),
					    c == OPT_NO_FS ? "Filesystem" : "HTTP", "Enabled") -
				  items);
			optarg = (char *)"no";
			/* fall through */
		default:
			if (c >= OPT_ITEM0 && c < OPT_ITEM0 + (int)SNP_ELEMENTSOF(items)) {
				if (cmd.n_set == SNP_ELEMENTSOF(cmd.set))
					return log_error_errno(E2BIG, "too many options");
				cmd.set[cmd.n_set].opt = c;
				cmd.set[cmd.n_set].value = optarg;
				cmd.n_set++;
				break;
			}
			return -EINVAL;
		}
	}
	if (optind < argc)
		return log_error_errno(EINVAL, "unexpected argument '%s'", argv[optind]);
	*ret = cmd;
	return 0;
}
