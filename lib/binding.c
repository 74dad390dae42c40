// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/binding.h"
#include "lib/util.h"

static const char tag[] = "snpd-binding";
static const u8 mark[SNP_BINDING_MARK_LEN] = SNP_BINDING_SCHEME; /* and a NUL */

static void put_be64(u8 *p, u64 v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (u8)v;
		v >>= 8;
	}
}

int snp_binding_report_data(const u8 root[SNP_HASH_SIZE], u64 tree_size,
			    const u8 head[SNP_HASH_SIZE], u64 count, u8 ret[SNP_REPORT_DATA_LEN])
{
	static const u8 prefix = 0x03, version = SNP_BINDING_VERSION;
	u8 size_be[8], count_be[8], digest[SNP_HASH_SIZE];
	const void *parts[] = { &prefix, tag, &version, size_be, root, count_be, head };
	size_t lens[] = { 1, sizeof(tag) - 1, 1, 8, SNP_HASH_SIZE, 8, SNP_HASH_SIZE };
	int r;

	if (tree_size < 1 || tree_size > SNP_MERKLE_LEAVES_MAX)
		return -EINVAL;
	put_be64(size_be, tree_size);
	put_be64(count_be, count);
	r = snp_sha384_parts(digest, sizeof(lens) / sizeof(lens[0]), parts, lens);
	if (r < 0)
		return r;
	memcpy(ret, digest, SNP_HASH_SIZE);
	memcpy(ret + SNP_BINDING_MARK_OFFSET, mark, SNP_BINDING_MARK_LEN);
	return 0;
}

bool snp_binding_is_marked(const u8 report_data[SNP_REPORT_DATA_LEN])
{
	return !memcmp(report_data + SNP_BINDING_MARK_OFFSET, mark, SNP_BINDING_MARK_LEN);
}

int snp_binding_verify(const u8 report_data[SNP_REPORT_DATA_LEN], const u8 *nonce, size_t nonce_len,
		       u64 index, u64 size, const u8 (*path)[SNP_HASH_SIZE], size_t path_len,
		       const u8 head[SNP_HASH_SIZE], u64 count, char *err, size_t errlen)
{
	u8 leaf[SNP_HASH_SIZE], root[SNP_HASH_SIZE], want[SNP_REPORT_DATA_LEN];
	int r;

	if (!snp_binding_is_marked(report_data)) {
		snprintf(err, errlen, "REPORT_DATA does not carry the %s mark", SNP_BINDING_SCHEME);
		return -EBADMSG;
	}
	if (snp_merkle_leaf_hash(nonce, nonce_len, leaf) < 0) {
		snprintf(err, errlen, "nonce must be %d to %d bytes", SNP_NONCE_MIN, SNP_NONCE_MAX);
		return -EINVAL;
	}
	r = snp_merkle_root_from_proof(leaf, index, size, path, path_len, root, err, errlen);
	if (r < 0)
		return r;
	r = snp_binding_report_data(root, size, head, count, want);
	if (r < 0)
		return r;
	if (memcmp(want, report_data, SNP_REPORT_DATA_LEN)) {
		snprintf(err, errlen, "REPORT_DATA does not match the nonce, proof and log head");
		return -EBADMSG;
	}
	return 0;
}

static int refuse(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* Exactly @size bytes of hex (any size up to @max when @size is 0). */
static int get_hex(const json_t *v, u8 *out, size_t size, size_t max, size_t *ret_len)
{
	const char *s = json_string_value(v);
	ssize_t n;

	if (!s)
		return -EINVAL;
	n = snp_hex_decode(s, strlen(s), out, size ? size : max, false);
	if (n < 0 || (size && (size_t)n != size))
		return -EINVAL;
	if (ret_len)
		*ret_len = (size_t)n;
	return 0;
}

static bool get_u64(const json_t *v, u64 *ret)
{
	json_int_t i;

	if (!json_is_integer(v))
		return false;
	i = json_integer_value(v);
	if (i < 0)
		return false;
	*ret = (u64)i;
	return true;
}

/* The rendered fields of an event, where present, say what its record says. */
static bool rendering_matches(const json_t *ev, const struct snp_event *e)
{
	char dig_hex[2 * SNP_EVENT_DIGEST_MAX + 1];
	const json_t *v;
	u64 type;

	snp_hex_encode(e->digest, e->digest_len, dig_hex);
	v = json_object_get(ev, "alg");
	if (v && (!json_is_string(v) || strcmp(json_string_value(v), snp_event_alg_name(e->alg))))
		return false;
	v = json_object_get(ev, "digest");
	if (v && (!json_is_string(v) || strcasecmp(json_string_value(v), dig_hex)))
		return false;
	v = json_object_get(ev, "type");
	if (v && (!get_u64(v, &type) || type != e->type))
		return false;
	v = json_object_get(ev, "description");
	if (v && (!json_is_string(v) || strcmp(json_string_value(v), e->desc)))
		return false;
	return true;
}

int snp_binding_verify_json(const json_t *binding, const u8 report_data[SNP_REPORT_DATA_LEN],
			    const u8 *nonce, size_t nonce_len, struct snp_event **ret_events,
			    size_t *ret_n, char *err, size_t errlen)
{
	u8 their_nonce[SNP_NONCE_MAX], head[SNP_HASH_SIZE], want_head[SNP_HASH_SIZE];
	u8 path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE];
	u8 rec[SNP_EVENT_RECORD_MAX];
	struct snp_event *events = NULL;
	const json_t *log, *evs, *proof;
	size_t their_len, n_events, path_len;
	u64 index, size, count;
	int r;

	if (!json_is_object(binding) || !json_is_string(json_object_get(binding, "scheme")) ||
	    strcmp(json_string_value(json_object_get(binding, "scheme")), SNP_BINDING_SCHEME))
		return refuse(err, errlen, "scheme is not %s", SNP_BINDING_SCHEME);
	if (!snp_binding_is_marked(report_data))
		return refuse(err, errlen, "REPORT_DATA does not carry the %s mark",
			      SNP_BINDING_SCHEME);
	if (get_hex(json_object_get(binding, "nonce"), their_nonce, 0, sizeof(their_nonce),
		    &their_len) < 0)
		return refuse(err, errlen, "nonce is not 1 to 64 bytes of hex");
	if (their_len != nonce_len || memcmp(their_nonce, nonce, nonce_len))
		return refuse(err, errlen, "the proof is for another nonce");

	log = json_object_get(binding, "log");
	evs = json_object_get(log, "events");
	if (!json_is_object(log) || !json_is_array(evs))
		return refuse(err, errlen, "log missing");
	if (!get_u64(json_object_get(log, "count"), &count))
		return refuse(err, errlen, "log count is not a number");
	if (get_hex(json_object_get(log, "head"), want_head, SNP_HASH_SIZE, 0, NULL) < 0)
		return refuse(err, errlen, "log head is not 48 bytes of hex");
	n_events = json_array_size(evs);
	if (n_events > SNP_EVLOG_EVENTS_MAX)
		return refuse(err, errlen, "log has more than %u events", SNP_EVLOG_EVENTS_MAX);
	if (n_events) {
		events = calloc(n_events, sizeof(*events));
		if (!events)
			return -ENOMEM;
	}
	snp_evlog_head_init(head);
	for (size_t i = 0; i < n_events; i++) {
		const json_t *ev = json_array_get(evs, i), *v;
		char why[SNP_ERRBUF_EVLOG];
		u8 stored[SNP_HASH_SIZE];
		size_t len;
		u64 seq;

		if (get_hex(json_object_get(ev, "record"), rec, 0, sizeof(rec), &len) < 0) {
			r = refuse(err, errlen, "event %zu: record is not hex of at most %d bytes",
				   i, SNP_EVENT_RECORD_MAX);
			goto out;
		}
		if (snp_event_decode(rec, len, &events[i], why, sizeof(why)) < 0) {
			r = refuse(err, errlen, "event %zu: %s", i, why);
			goto out;
		}
		if (!rendering_matches(ev, &events[i])) {
			r = refuse(err, errlen, "event %zu: a field does not match its record", i);
			goto out;
		}
		v = json_object_get(ev, "seq");
		if (v && (!get_u64(v, &seq) || seq != i)) {
			r = refuse(err, errlen, "event %zu: seq out of order", i);
			goto out;
		}
		r = snp_evlog_extend(head, rec, len);
		if (r < 0)
			goto out;
		v = json_object_get(ev, "head");
		if (v && (get_hex(v, stored, SNP_HASH_SIZE, 0, NULL) < 0 ||
			  memcmp(stored, head, SNP_HASH_SIZE))) {
			r = refuse(err, errlen, "event %zu: stored head does not match the replay",
				   i);
			goto out;
		}
	}
	if (n_events != count) {
		r = refuse(err, errlen, "log has %zu events, the report is bound to %llu", n_events,
			   (unsigned long long)count);
		goto out;
	}
	if (memcmp(head, want_head, SNP_HASH_SIZE)) {
		r = refuse(err, errlen, "replayed log head does not match the bound head");
		goto out;
	}

	proof = json_object_get(binding, "proof");
	if (!json_is_array(proof) || json_array_size(proof) > SNP_MERKLE_PATH_MAX) {
		r = refuse(err, errlen, "proof is not a list of at most %d hashes",
			   SNP_MERKLE_PATH_MAX);
		goto out;
	}
	path_len = json_array_size(proof);
	for (size_t i = 0; i < path_len; i++)
		if (get_hex(json_array_get(proof, i), path[i], SNP_HASH_SIZE, 0, NULL) < 0) {
			r = refuse(err, errlen, "proof entry %zu is not 48 bytes of hex", i);
			goto out;
		}
	if (!get_u64(json_object_get(binding, "leaf_index"), &index) ||
	    !get_u64(json_object_get(binding, "tree_size"), &size)) {
		r = refuse(err, errlen, "leaf_index and tree_size must be numbers");
		goto out;
	}
	r = snp_binding_verify(report_data, nonce, nonce_len, index, size,
			       (const u8(*)[SNP_HASH_SIZE])path, path_len, want_head, count, err,
			       errlen);
	if (r < 0)
		goto out;
	if (ret_events) {
		*ret_events = events;
		*ret_n = n_events;
		events = NULL;
	}
	r = 0;
out:
	free(events);
	return r;
}

bool snp_json_depth_within(const json_t *j, unsigned int max)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(j) && !json_is_array(j))
		return true;
	if (!max)
		return false;
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			if (!snp_json_depth_within(v, max - 1))
				return false;
		}
		return true;
	}
	/* jansson's iterators take a non-const object; nothing here changes it */
	json_object_foreach((json_t *)j, key, v)
	{
		if (!snp_json_depth_within(v, max - 1))
			return false;
	}
	return true;
}

int snp_evidence_json_load(const u8 *data, size_t len, json_t **ret, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc;

	doc = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		if (json_error_code(&jerr) == json_error_out_of_memory) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		return refuse(err, errlen, "not JSON: %s (line %d)", jerr.text, jerr.line);
	}
	/* jansson alone nests to 2048; the spec's bound is what every verifier keeps */
	if (!snp_json_depth_within(doc, SNP_EVIDENCE_DEPTH_MAX)) {
		json_decref(doc);
		return refuse(err, errlen, "nested deeper than %d arrays and objects",
			      SNP_EVIDENCE_DEPTH_MAX);
	}
	*ret = doc;
	return 0;
}

int snp_evidence_check_kind(const json_t *doc, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(doc, "type"));
	const json_t *v = json_object_get(doc, "version");

	if (!json_is_object(doc))
		return refuse(err, errlen, "not a JSON object");
	/* the two members that say how the rest is read: a missing one is wrong */
	if (!type || strcmp(type, SNP_EVIDENCE_TYPE) != 0)
		return refuse(err, errlen, "\"type\": expected \"%s\" (an snpd evidence document)",
			      SNP_EVIDENCE_TYPE);
	if (!json_is_integer(v) || json_integer_value(v) != SNP_EVIDENCE_VERSION)
		return refuse(err, errlen, "\"version\": expected %d (an snpd evidence document)",
			      SNP_EVIDENCE_VERSION);
	return 0;
}

json_t *snp_event_to_json(u64 seq, const u8 *record, size_t len, const u8 head[SNP_HASH_SIZE])
{
	char rec_hex[2 * SNP_EVENT_RECORD_MAX + 1], dig_hex[2 * SNP_EVENT_DIGEST_MAX + 1];
	char head_hex[2 * SNP_HASH_SIZE + 1];
	struct snp_event e;

	if (snp_event_decode(record, len, &e, NULL, 0) < 0)
		return NULL;
	snp_hex_encode(record, len, rec_hex);
	snp_hex_encode(e.digest, e.digest_len, dig_hex);
	snp_hex_encode(head, SNP_HASH_SIZE, head_hex);
	return json_pack("{s:I,s:s,s:s,s:I,s:s,s:s,s:s}", "seq", (json_int_t)seq, "alg",
			 snp_event_alg_name(e.alg), "digest", dig_hex, "type", (json_int_t)e.type,
			 "description", e.desc, "record", rec_hex, "head", head_hex);
}
