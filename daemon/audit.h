/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit trail of derived keys: every release and every refusal, once,
 * at notice, with the peer and the profile, never the key. Under journald
 * as structured fields (SNPD_EVENT=key-release or key-refusal,
 * SNPD_KEY_PROFILE=, SNPD_TRANSPORT=, SNPD_PEER_UID=, SNPD_PEER_GID=,
 * SNPD_PEER_PID=, SNPD_REASON=), else as a line of the normal log.
 * Rate-limited per peer uid; what was held back is counted in the next
 * record of that peer (SNPD_SUPPRESSED=). Call from the event loop only.
 */
#ifndef SNPD_AUDIT_H
#define SNPD_AUDIT_H

#include <stdbool.h>
#include <sys/types.h>

/* records per peer uid within one window, and the window */
#define SNPD_AUDIT_BURST      20
#define SNPD_AUDIT_WINDOW_SEC 10
/*
 * A profile name is logged up to this many bytes, those outside printable
 * ASCII, the backslash and the quote ' as \xNN (snp_printable_quoted()).
 */
#define SNPD_AUDIT_NAME_MAX 64

/*
 * @released: the key was handed out (true) or refused; @reason says why a
 * refusal (NULL for a release). Unknown ids are (uid_t)-1 etc.
 */
void snpd_audit_key(bool released, const char *transport, const char *profile, uid_t uid, gid_t gid,
		    pid_t pid, const char *reason);

#endif
