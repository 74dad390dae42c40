// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/util.h"

static int max_level = LOG_NOTICE;
static int priority_prefix;
static const char *ident = "snpd";

void snp_log_set_max_level(int level)
{
	max_level = level;
}

int snp_log_get_max_level(void)
{
	return max_level;
}

void snp_log_set_prefix_mode(int use_priority_prefix)
{
	priority_prefix = use_priority_prefix;
}

void snp_log_set_ident(const char *s)
{
	ident = s;
}

int snp_log_parse_level(const char *s, int *ret)
{
	static const char *const names[] = { "emerg",	"alert",  "crit", "err",
					     "warning", "notice", "info", "debug" };

	for (int i = 0; i < 8; i++)
		if (strcasecmp(s, names[i]) == 0) {
			*ret = i;
			return 0;
		}
	if (strcasecmp(s, "error") == 0) {
		*ret = LOG_ERR;
		return 0;
	}
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0') {
		*ret = s[0] - '0';
		return 0;
	}
	return -EINVAL;
}

int snp_log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (error < 0)
		error = -error;
	if (level <= max_level) {
		char buf[2048];

		/* %m refers to @error, not to whatever errno is now */
		errno = error;
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		if (priority_prefix)
			fprintf(stderr, "<%d>%s\n", level, buf);
		else if (level >= LOG_DEBUG)
			fprintf(stderr, "%s: (%s:%d) %s\n", ident, file, line, buf);
		else
			fprintf(stderr, "%s: %s\n", ident, buf);
	}
	errno = saved;
	return error ? -error : -EIO;
}

bool snp_ratelimit_below(struct snp_ratelimit *rl, unsigned int *ret_held)
{
	uint64_t now = snp_monotonic_usec();

	if (rl->begin_usec == 0 || now - rl->begin_usec >= rl->interval_usec) {
		rl->begin_usec = now;
		rl->num = 0;
	}
	if (rl->num >= rl->burst) {
		rl->held++;
		return false;
	}
	rl->num++;
	*ret_held = rl->held;
	rl->held = 0;
	return true;
}
