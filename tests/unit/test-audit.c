// SPDX-License-Identifier: Apache-2.0
/*
 * daemon/audit.c: a key profile name in an audit record is escaped as all
 * untrusted text is (lib's snp_printable: bytes outside printable ASCII
 * and the backslash as \xNN), and so is the quote that the record puts
 * around it, so that a name can never end the field early or add a line:
 * the record parses as one (tests/integration/key-audit.py's pattern).
 * Outside journald (JOURNAL_STREAM unset) the record is a line on stderr,
 * read back here through a temporary file. Plain C: no cmocka needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/audit.h"
#include "lib/log.h"
#include "tests/unit/check.h"

/* The stderr of @name's record (uid @uid), into @buf. */
static void record(const char *name, uid_t uid, char *buf, size_t len)
{
	FILE *f = tmpfile();
	size_t n = 0;
	int saved;

	buf[0] = '\0';
	if (!f)
		return;
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(f), STDERR_FILENO);
	snpd_audit_key(false, "http", name, uid, uid, 42, "not in ApiUsers=/ApiGroups=");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

int main(void)
{
	char out[1024], want[512], longname[200];

	unsetenv("JOURNAL_STREAM");
	snp_log_set_max_level(LOG_NOTICE);

	record("disk", 1000, out, sizeof(out));
	CHECK(strstr(out, "key-refusal: key 'disk' refused to uid 1000 gid 1000 pid 42 over http: "
			  "not in ApiUsers=/ApiGroups=\n") != NULL,
	      "a plain name as it is: %s", out);

	/* one uid per record: the rate limit is per uid */
	record("a' refused to uid 0\n\x01\\\xff", 1001, out, sizeof(out));
	CHECK(strstr(out,
		     "key 'a\\x27 refused to uid 0\\x0a\\x01\\x5c\\xff' refused to uid 1001 ") !=
		      NULL,
	      "quote, newline, control byte, backslash, non-ASCII as \\xNN: %s", out);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1, "one line");

	memset(longname, '\'', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	record(longname, 1002, out, sizeof(out));
	want[0] = '\0';
	for (int i = 0; i < SNPD_AUDIT_NAME_MAX; i++)
		strcat(want, "\\x27");
	strcat(want, "' refused to uid 1002");
	CHECK(strstr(out, want) != NULL, "a long name: its first %d bytes, all escaped: %s",
	      SNPD_AUDIT_NAME_MAX, out);

	return failures ? 1 : 0;
}
