// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for what a client or a file gives snpd's event log
 * (daemon/eventlog.c, included here to reach its parsers without a daemon):
 *  - the input as the JSON body of POST /v1/log/events (parse_event()):
 *    refused with -EINVAL and a reason, or turned into a record that
 *    decodes strictly, has a type clients may append, and that the same
 *    event written back as JSON turns into again;
 *  - the input as the frames of the stored log that snpd reads back at
 *    start (load(), after the "SNPDEVL1" header and this boot's id): the
 *    log is broken with a reason, or every event kept replays to the head,
 *    the file is cut to exactly what was kept (an interrupted append at
 *    the end, nothing else), the events render as one JSON object each,
 *    and an event appended then is read back by the next start with the
 *    same head.
 * The record format itself (what /snp/log/extend takes) is fuzzed by
 * fuzz-evidence.
 *
 * Built and run by tests/fuzz/fuzz.sh with clang -fsanitize=fuzzer.
 */
#include "daemon/eventlog.c"

#include <sys/mman.h>
#include <syslog.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const u8 boot_id[SNPD_BOOT_ID_LEN] = { 0x5e, 0x1f, 0x0b, 0x07, 1, 2,  3,	 4,
					      5,    6,	  7,	8,    9, 10, 11, 12 };

static void bug(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz-eventlog: BUG: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snp_log_set_max_level(LOG_CRIT); /* a broken log is logged: expected here */
	return 0;
}

/* The POST body: refused with a reason, or a record that round-trips. */
static void check_body(const uint8_t *data, size_t size)
{
	u8 rec[SNP_EVENT_RECORD_MAX], rec2[SNP_EVENT_RECORD_MAX];
	char err[SNP_ERRBUF] = "", hex[2 * SNP_EVENT_DIGEST_MAX + 1];
	size_t len = 0, len2 = 0;
	struct snp_event e;
	json_t *j;
	char *s;
	int r;

	r = parse_event((const char *)data, size, rec, &len, err, sizeof(err));
	if (r < 0) {
		if (r != -EINVAL || !err[0])
			bug("a body refused without -EINVAL and a reason", err);
		return;
	}
	if (len < SNP_EVENT_RECORD_MIN || len > SNP_EVENT_RECORD_MAX)
		bug("a body made a record of impossible length", NULL);
	if (snp_event_decode(rec, len, &e, err, sizeof(err)) < 0)
		bug("a body made a record that does not decode", err);
	if (e.type >= SNP_EVENT_TYPE_RESERVED)
		bug("a body made a record of a reserved type", NULL);
	/* the same event as JSON again: the same record */
	snp_hex_encode(e.digest, e.digest_len, hex);
	j = json_pack("{s:s,s:s,s:I,s:s}", "alg", snp_event_alg_name(e.alg), "digest", hex, "type",
		      (json_int_t)e.type, "description", e.desc);
	if (!j)
		bug("cannot write the event back as JSON", NULL);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		bug("cannot write the event back as JSON", NULL);
	r = parse_event(s, strlen(s), rec2, &len2, err, sizeof(err));
	if (r < 0)
		bug("the event written back as JSON is refused", err);
	if (len2 != len || memcmp(rec, rec2, len))
		bug("the event written back as JSON makes another record", s);
	free(s);
}

static int file_of(const u8 *data, size_t size)
{
	int fd = memfd_create("fuzz-eventlog", MFD_CLOEXEC);

	if (fd < 0)
		bug("memfd_create", strerror(errno));
	if (size && pwrite(fd, data, size, 0) != (ssize_t)size)
		bug("cannot write the memfd", strerror(errno));
	return fd;
}

static void log_init(struct snpd_eventlog *log, int fd)
{
	memset(log, 0, sizeof(*log));
	log->fd = fd;
	log->path = (char *)"fuzz";
	log->max = SNP_EVLOG_EVENTS_MAX;
	log->write_failures = SNP_RATELIMIT(10 * 1000000ULL, 10);
	memcpy(log->boot_id, boot_id, SNPD_BOOT_ID_LEN);
}

static void log_done(struct snpd_eventlog *log)
{
	if (log->fd >= 0)
		close(log->fd);
	snpd_eventlog_text_unref(log->text);
	free(log->ev);
}

/* A log that load() left usable: what it kept must be consistent. */
static void check_kept(struct snpd_eventlog *log, const u8 *file, size_t size)
{
	_cleanup_(freep) const u8 **recs = calloc(log->n + 1, sizeof(*recs));
	_cleanup_(freep) size_t *lens = calloc(log->n + 1, sizeof(*lens));
	char err[SNP_ERRBUF_EVLOG] = "";
	struct snpd_eventlog_text *t;
	size_t off = HEADER_LEN, text_len, lines = 0;
	_cleanup_(freep) char *buf = NULL;
	struct stat st;
	u64 count;

	if (!recs || !lens)
		bug("out of memory", NULL);
	if (log->size < HEADER_LEN || (size_t)log->size > size)
		bug("a size outside the file", NULL);
	if (fstat(log->fd, &st) < 0 || st.st_size != log->size)
		bug("the file is not cut to what was kept", NULL);
	for (size_t i = 0; i < log->n; i++) {
		size_t len = log->ev[i].len;

		if (off + 2 + len + SNP_HASH_SIZE > (size_t)log->size ||
		    (size_t)(file[off] << 8 | file[off + 1]) != len ||
		    memcmp(file + off + 2, log->ev[i].record, len) ||
		    memcmp(file + off + 2 + len, log->ev[i].head, SNP_HASH_SIZE))
			bug("an event kept is not the frame stored", NULL);
		recs[i] = log->ev[i].record;
		lens[i] = len;
		off += 2 + len + SNP_HASH_SIZE;
	}
	if (off != (size_t)log->size)
		bug("bytes kept after the last event", NULL);
	/* what was cut off must be shorter than a whole frame */
	if (size - off >= 2 + SNP_EVENT_RECORD_MIN + SNP_HASH_SIZE &&
	    size - off >= 2 + (size_t)(file[off] << 8 | file[off + 1]) + SNP_HASH_SIZE)
		bug("a whole frame was cut off", NULL);
	if (snp_evlog_verify(recs, lens, log->n, log->head, log->n, err, sizeof(err)) < 0)
		bug("the events kept do not replay to the head", err);

	t = snpd_eventlog_text_get(log, &count);
	if (!t)
		bug("cannot render the events", NULL);
	if (count != log->n)
		bug("the rendering does not hold every event", NULL);
	text_len = snpd_eventlog_text_size(t, count);
	buf = malloc(text_len + 1);
	if (!buf || snpd_eventlog_text_lines(t, count, 0, buf, text_len) != text_len)
		bug("cannot read the rendering", NULL);
	buf[text_len] = '\0';
	for (char *line = buf, *nl; *line; line = nl + 1) {
		json_error_t jerr;
		json_t *j;

		nl = strchr(line, '\n');
		if (!nl)
			bug("a rendered event without its newline", NULL);
		j = json_loadb(line, (size_t)(nl - line), 0, &jerr);
		if (!json_is_object(j) ||
		    json_integer_value(json_object_get(j, "seq")) != (json_int_t)lines)
			bug("a rendered event is not its JSON object", jerr.text);
		json_decref(j);
		lines++;
	}
	if (lines != log->n)
		bug("the rendering has another number of lines", NULL);
	snpd_eventlog_text_unref(t);
}

/* After an append to a usable log, the next start reads the same log. */
static void check_append(struct snpd_eventlog *log)
{
	static const u8 rec[] = { SNP_EVENT_VERSION,
				  0,
				  SNP_EVENT_ALG_SHA256,
				  0,
				  0,
				  0,
				  7,
				  32,
				  [8 + 32] = 4,
				  'f',
				  'u',
				  'z',
				  'z' };
	struct snpd_eventlog again;
	char err[SNP_ERRBUF] = "";
	_cleanup_(freep) u8 *file = NULL;
	struct stat st;
	u64 seq;
	int r;

	r = snpd_eventlog_append(log, rec, sizeof(rec), &seq, err, sizeof(err));
	if (r < 0)
		bug("an append to a usable log failed", err);
	if (seq != log->n - 1)
		bug("an append answered another sequence number", NULL);
	if (fstat(log->fd, &st) < 0 || st.st_size != log->size)
		bug("the file is not what was appended", NULL);
	file = malloc((size_t)st.st_size);
	if (!file || pread(log->fd, file, (size_t)st.st_size, 0) != st.st_size)
		bug("cannot read the file back", NULL);
	log_init(&again, file_of(file, (size_t)st.st_size));
	r = load(&again, file, (size_t)st.st_size);
	if (r < 0 || again.broken)
		bug("the log after an append is not read back", again.reason);
	if (again.n != log->n || memcmp(again.head, log->head, SNP_HASH_SIZE) ||
	    again.size != log->size)
		bug("the log after an append is read back as another log", NULL);
	log_done(&again);
}

static void check_stored(const uint8_t *data, size_t size)
{
	_cleanup_(freep) u8 *file = malloc(HEADER_LEN + size);
	struct snpd_eventlog log;
	int r;

	if (!file)
		bug("out of memory", NULL);
	memcpy(file, SNPD_EVENTLOG_MAGIC, 8);
	memcpy(file + 8, boot_id, SNPD_BOOT_ID_LEN);
	if (size)
		memcpy(file + HEADER_LEN, data, size);
	log_init(&log, file_of(file, HEADER_LEN + size));
	r = load(&log, file, HEADER_LEN + size);
	if (r < 0)
		bug("load failed", strerror(-r));
	if (log.broken) {
		if (!log.reason[0])
			bug("a broken log without a reason", NULL);
		if (log.fd >= 0)
			bug("a broken log keeps its file open", NULL);
	} else {
		check_kept(&log, file, HEADER_LEN + size);
		check_append(&log);
	}
	log_done(&log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_body(data, size);
	check_stored(data, size);
	return 0;
}
