// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the report parser: snp_report_load() (binary or
 * hex text), and on success everything that renders a report (JSON and
 * text). Besides memory errors (ASan) and undefined behaviour (UBSan) it
 * checks what the API promises:
 *  - a refusal is -EMSGSIZE, -EPROTONOSUPPORT or -EBADMSG with a message;
 *  - an accepted report is accepted again from its stored copy, with the
 *    same version and product;
 *  - rendering an accepted report never fails.
 *
 * Built and run by tests/fuzz/fuzz.sh with clang -fsanitize=fuzzer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bug(const char *what, const char *err)
{
	fprintf(stderr, "fuzz-report: BUG: %s%s%s\n", what, err ? ": " : "", err ? err : "");
	abort();
}

static FILE *devnull(void)
{
	static FILE *f;

	if (!f) {
		f = fopen("/dev/null", "we");
		if (!f)
			bug("cannot open /dev/null", NULL);
	}
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snp_report_info ri, again;
	char err[SNP_ERRBUF];
	json_t *j;
	char *s;
	int r;

	err[0] = '\0';
	r = snp_report_load(data, size, &ri, err, sizeof(err));
	if (r < 0) {
		if (r != -EMSGSIZE && r != -EPROTONOSUPPORT && r != -EBADMSG)
			bug("snp_report_load() returned an undocumented error", strerror(-r));
		if (!memchr(err, '\0', sizeof(err)) || err[0] == '\0')
			bug("snp_report_load() refused without a message", NULL);
		return 0;
	}

	err[0] = '\0';
	r = snp_report_parse((const u8 *)&ri.r, sizeof(ri.r), &again, err, sizeof(err));
	if (r < 0)
		bug("an accepted report is refused on the second parse", err);
	if (again.version != ri.version || again.product != ri.product ||
	    again.product_source != ri.product_source)
		bug("the second parse gives a different version or product", NULL);

	j = snp_report_to_json(&ri);
	if (!j)
		bug("snp_report_to_json() failed on an accepted report", NULL);
	s = json_dumps(j, JSON_COMPACT);
	if (!s)
		bug("json_dumps() failed on the report's JSON", NULL);
	free(s);
	json_decref(j);

	if (snp_report_print_text(devnull(), &ri) < 0)
		bug("snp_report_print_text() failed on an accepted report", NULL);
	return 0;
}
