/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The evidence document of snpd's GET /v1/evidence (version 1, snpd(8)):
 * a report with everything needed to verify it offline.
 */
#ifndef SNPCTL_EVIDENCE_H
#define SNPCTL_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "lib/report.h"

struct snpctl_evidence {
	u8 report[SNP_REPORT_SIZE];
	bool vlek;
	X509 *leaf;	 /* VCEK or VLEK; owned */
	X509 *ask;	 /* ASK or ASVK; owned */
	X509 *ark;	 /* owned */
	X509_CRL *crl;	 /* owned, NULL when the document has none */
	json_t *binding; /* the "binding" section (docs/evidence.md 6), or NULL */
};

/* Does @data look like a JSON document (its first non-blank byte is '{')? */
bool snpctl_evidence_detect(const u8 *data, size_t len);

/*
 * Parse an evidence document. Unknown members are ignored (later versions
 * add some); "type" must be "snpd-evidence" and "version" 1. Returns 0 or
 * -EBADMSG with a message in @err. On success the caller owns what *ret
 * holds (snpctl_evidence_release).
 */
int snpctl_evidence_parse(const u8 *data, size_t len, struct snpctl_evidence *ret, char *err,
			  size_t errlen);
void snpctl_evidence_release(struct snpctl_evidence *e);

#endif
