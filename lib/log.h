/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr with <N> syslog priority prefixes, which journald
 * understands. Library code logs only at debug level; the caller that
 * decides logs at higher levels.
 */
#ifndef SNP_LIB_LOG_H
#define SNP_LIB_LOG_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

void snp_log_set_max_level(int level);
int snp_log_get_max_level(void);
/* "emerg".."debug" or 0..7; returns 0 or -EINVAL */
int snp_log_parse_level(const char *s, int *ret);
/* Prefix every line with "<N>" (for journald) instead of "snpctl: ". */
void snp_log_set_prefix_mode(int use_priority_prefix);
void snp_log_set_ident(const char *ident);

/* Logs and returns -abs(error) (or -EIO when error is 0); %m shows error. */
int snp_log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define snp_log_full_errno(level, error, ...)                                                      \
	snp_log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...)		  snp_log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)		  snp_log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)		  snp_log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...)	  snp_log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)		  snp_log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...)	  snp_log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) snp_log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)	  snp_log_full_errno(LOG_ERR, (e), __VA_ARGS__)

/*
 * At most @burst messages per window of @interval_usec, for anything a
 * client can trigger again and again (as systemd's RateLimit). Not locked:
 * one thread uses it.
 */
struct snp_ratelimit {
	uint64_t interval_usec;
	unsigned int burst;
	uint64_t begin_usec; /* of this window */
	unsigned int num;    /* messages in this window */
	unsigned int held;   /* held back since the last one let through */
};

#define SNP_RATELIMIT(interval, n)                                                                 \
	((struct snp_ratelimit){ .interval_usec = (interval), .burst = (n) })

/*
 * Whether one more message may be logged now; when it may, *ret_held is
 * how many were held back before it (say so with it), and is reset.
 */
bool snp_ratelimit_below(struct snp_ratelimit *rl, unsigned int *ret_held);

#endif
