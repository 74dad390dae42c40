// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the evidence binding's parsers (lib/evlog.c,
 * lib/binding.c): the input is tried as one event record and as JSON,
 * parsed by snp_evidence_json_load() as snpctl parses an evidence document
 * (duplicate member names and nesting deeper than SNP_EVIDENCE_DEPTH_MAX
 * refused), then as an evidence "binding" section and, when it is a
 * document (its "type" and "version" checked as snpctl checks them) with
 * one, as its "binding" member. Besides ASan/UBSan findings it checks what
 * the API promises:
 *  - a record is refused with -EBADMSG and a reason, or accepted, and
 *    then encodes back to exactly the input;
 *  - JSON is refused with -EBADMSG (or -ENOMEM) and a reason, or parsed
 *    and within the depth bound;
 *  - a binding section is accepted or refused (-EBADMSG/-EINVAL with a
 *    reason); one made for another REPORT_DATA is never accepted.
 *
 * Built and run by tests/fuzz/fuzz.sh with clang -fsanitize=fuzzer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/binding.h"
#include "lib/evlog.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bug(const char *what, const char *err)
{
	fprintf(stderr, "fuzz-evidence: BUG: %s%s%s\n", what, err ? ": " : "", err ? err : "");
	abort();
}

static void check_binding(const json_t *j)
{
	u8 rd[SNP_REPORT_DATA_LEN] = { 0 };
	static const u8 nonce[] = { 0xab, 0xcd };
	struct snp_event *events = NULL;
	char err[SNP_ERRBUF] = "";
	size_t n = 0;
	int r;

	/* all-zero REPORT_DATA has no mark: never accepted */
	r = snp_binding_verify_json(j, rd, nonce, sizeof(nonce), &events, &n, err, sizeof(err));
	if (r == 0)
		bug("a binding accepted for REPORT_DATA without the mark", NULL);
	if ((r != -EBADMSG && r != -EINVAL && r != -ENOMEM) || !err[0])
		bug("a binding refused without a reason", err);
	/* with the mark but a digest nobody made: still refused */
	memcpy(rd + SNP_BINDING_MARK_OFFSET, "snpd-binding-v1", SNP_BINDING_MARK_LEN);
	err[0] = '\0';
	r = snp_binding_verify_json(j, rd, nonce, sizeof(nonce), &events, &n, err, sizeof(err));
	if (r == 0)
		bug("a binding accepted for a REPORT_DATA nobody made", NULL);
	if (!err[0] && r != -ENOMEM)
		bug("a binding refused without a reason", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	u8 out[SNP_EVENT_RECORD_MAX];
	char err[SNP_ERRBUF] = "";
	struct snp_event e;
	json_t *j, *b;
	size_t len;
	int r;

	r = snp_event_decode(data, size, &e, err, sizeof(err));
	if (r == 0) {
		if (snp_event_encode(&e, out, &len) < 0 || len != size || memcmp(out, data, size))
			bug("an accepted record does not encode back to itself", NULL);
	} else if (r != -EBADMSG || !err[0]) {
		bug("a record refused without -EBADMSG and a reason", err);
	}

	err[0] = '\0';
	r = snp_evidence_json_load(data, size, &j, err, sizeof(err));
	if (r < 0) {
		if ((r != -EBADMSG && r != -ENOMEM) || !err[0])
			bug("JSON refused without -EBADMSG and a reason", err);
		return 0;
	}
	if (!snp_json_depth_within(j, SNP_EVIDENCE_DEPTH_MAX))
		bug("JSON accepted nested deeper than the bound", NULL);
	/* the input as a section, and a document's section as snpctl takes it */
	check_binding(j);
	err[0] = '\0';
	r = snp_evidence_check_kind(j, err, sizeof(err));
	if (r < 0 && (r != -EBADMSG || !err[0]))
		bug("a document's type or version refused without -EBADMSG and a reason", err);
	b = json_object_get(j, "binding");
	if (r == 0 && json_is_object(b))
		check_binding(b);
	json_decref(j);
	return 0;
}
