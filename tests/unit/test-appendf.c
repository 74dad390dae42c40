// SPDX-License-Identifier: Apache-2.0
/*
 * lib/util.c snp_appendf(): the one way snpd builds a "; "-separated
 * message (verify's check details, the signer check, the host table's
 * notes, CertsDir='s refusals). No separator before the first part, one
 * between parts, and a full buffer is cut, never overrun (a canary after
 * it). Plain C: no cmocka needed.
 *
 * And snp_msgf(), how the collateral worker composes a message whose
 * detail may be long: whole when it fits, else cut after a whole word with
 * an explicit "...", never mid-word, never overrun.
 */
#include <string.h>

#include "lib/util.h"
#include "tests/unit/check.h"

/* Does @s end with a whole word of @full, then "..."? */
static bool cut_at_word(const char *s, const char *full)
{
	size_t n = strlen(s);

	if (n < 3 || strcmp(s + n - 3, "...") != 0)
		return false;
	n -= 3;
	/* the kept text is a prefix of the whole, ending where a word ends */
	return n > 0 && strncmp(s, full, n) == 0 && full[n - 1] != ' ' &&
	       (full[n] == ' ' || full[n] == ',' || full[n] == ';' || full[n] == ':');
}

static void msgf_checks(void)
{
	char detail[400], full[600], buf[128 + 4], small[8 + 4];
	size_t n = 0;

	/* a long detail of words, as a chain of verifier findings */
	while (n + 12 < sizeof(detail))
		n += (size_t)snprintf(detail + n, sizeof(detail) - n, "%s",
				      n % 3 ? "mismatch; " : "its TCB x, ");
	snprintf(full, sizeof(full), "the cached CRL %s: not used", detail);

	snp_msgf(buf, 128, "%s", "short: whole");
	CHECK(strcmp(buf, "short: whole") == 0, "a message that fits is whole: '%s'", buf);
	snp_msgf(buf, 128, "the cached CRL %s: not used", "expired (nextUpdate x)");
	CHECK(strcmp(buf, "the cached CRL expired (nextUpdate x): not used") == 0,
	      "a short detail is whole: '%s'", buf);

	memset(buf, 'X', sizeof(buf));
	snp_msgf(buf, 128, "the cached CRL %s: not used", detail);
	CHECK(strlen(buf) < 128 && cut_at_word(buf, full),
	      "a long detail: cut after a whole word, with \"...\" (%zu bytes): '%s'", strlen(buf),
	      buf);
	CHECK(memcmp(buf + 128, "XXXX", 4) == 0, "nothing written after the buffer");

	/* one word longer than the buffer: cut with "..." all the same */
	memset(small, 'X', sizeof(small));
	snp_msgf(small, 8, "%s", "0123456789abcdef");
	CHECK(strcmp(small, "0123...") == 0 && memcmp(small + 8, "XXXX", 4) == 0,
	      "a single long word: cut with \"...\" at the end of the room: '%s'", small);
	/* never inside a UTF-8 sequence */
	snp_msgf(small, 8, "%s", "abc\xc3\xa9\xc3\xa9\xc3\xa9");
	CHECK(strcmp(small, "abc...") == 0, "a long word is not cut inside a UTF-8 sequence: '%s'",
	      small);
	snp_msgf(small, 9, "%s", "abc\xc3\xa9\xc3\xa9\xc3\xa9");
	CHECK(strcmp(small, "abc\xc3\xa9...") == 0, "a whole UTF-8 sequence is kept: '%s'", small);
	snp_msgf(small, 3, "%s", "abcdef");
	CHECK(small[0] == '\0', "no room for \"...\": empty, not a cut word");
	snp_msgf(NULL, 0, "%s", "ignored");
}

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

	msgf_checks();
	return failures ? 1 : 0;
}
