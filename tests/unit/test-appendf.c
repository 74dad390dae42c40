// SPDX-License-Identifier: Apache-2.0
/*
 * lib/util.c snp_appendf(): the one way snpd builds a "; "-separated
 * message (verify's check details, the signer check, the host table's
 * notes, CertsDir='s refusals). No separator before the first part, one
 * between parts, and a full buffer is cut, never overrun (a canary after
 * it). Plain C: no cmocka needed.
 */
#include <string.h>

#include "lib/util.h"
#include "tests/unit/check.h"

int main(void)
{
	char buf[24 + 4];
	char big[64] = "";

	memset(buf, 'X', sizeof(buf));
	buf[0] = '\0';
	snp_appendf(buf, 24, "%s", "first");
	CHECK(strcmp(buf, "first") == 0, "the first part without a separator: '%s'", buf);
	snp_appendf(buf, 24, "second %d", 2);
	CHECK(strcmp(buf, "first; second 2") == 0, "'; ' between parts: '%s'", buf);
	snp_appendf(buf, 24, "%s", "a third that does not fit");
	CHECK(strlen(buf) == 23 && strncmp(buf, "first; second 2; a thir", 23) == 0,
	      "cut at the buffer's end: '%s'", buf);
	CHECK(memcmp(buf + 24, "XXXX", 4) == 0, "nothing written after the buffer");
	snp_appendf(buf, 24, "%s", "more");
	CHECK(strlen(buf) == 23, "a full buffer stays as it is: '%s'", buf);

	/* a buffer with room for the separator only */
	memset(buf, 'X', sizeof(buf));
	strcpy(buf, "abcdefghijklmnopqrstu"); /* 21 of 24 */
	snp_appendf(buf, 24, "%s", "z");
	CHECK(strcmp(buf, "abcdefghijklmnopqrstu") == 0 && memcmp(buf + 24, "XXXX", 4) == 0,
	      "no separator without room for a part after it: '%s'", buf);
	snp_appendf(NULL, 0, "%s", "ignored");
	snp_appendf(big, 0, "%s", "ignored");
	CHECK(big[0] == '\0', "a zero-length buffer is not touched");
	return failures ? 1 : 0;
}
