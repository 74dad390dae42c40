// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the configuration parser (daemon/config.c): the
 * input is snpd.conf (sections, KEY=VALUE lines, [Key:NAME] profiles),
 * loaded through snpd_config_load() as snpd loads --config FILE. Besides
 * ASan/UBSan findings it checks what snpd relies on:
 *  - a file is refused with a negative errno, or loaded within the bounds
 *    the rest of snpd assumes (Vmpl >= VmplFloor, every key profile's too,
 *    at most SNPD_KEY_PROFILES_MAX profiles with valid names, no two with
 *    one name, id lists within SNPD_API_IDS_MAX, modes without setuid,
 *    setgid or sticky bits);
 *  - what --dump-config prints of a loaded file loads again, into a
 *    configuration that prints the same.
 *
 * Built and run by tests/fuzz/fuzz.sh with clang -fsanitize=fuzzer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/config.h"
#include "lib/evlog.h"
#include "lib/log.h"
#include "lib/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char file[96];

static void bug(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz-config: BUG: %s%s%s\n", what, detail ? ":\n" : "",
		detail ? detail : "");
	abort();
}

static void cleanup(void)
{
	unlink(file);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	snp_log_set_max_level(LOG_CRIT); /* every refusal is logged: expected here */
	snprintf(dir, sizeof(dir), "%s/fuzz-config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (strlen(dir) >= sizeof(dir) - 1 || !mkdtemp(dir))
		bug("cannot make a temporary directory", dir);
	snprintf(file, sizeof(file), "%s/snpd.conf", dir);
	atexit(cleanup);
	return 0;
}

static void write_file(const void *data, size_t size)
{
	FILE *f = fopen(file, "we");

	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		bug("cannot write the configuration file", file);
}

static char *dump(const struct snpd_config *c, size_t *ret_len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, ret_len);

	if (!f)
		bug("open_memstream", NULL);
	snpd_config_dump(c, f);
	if (fclose(f) != 0)
		bug("cannot dump the configuration", NULL);
	return buf;
}

static bool list_ok(const struct snpd_id_list *l)
{
	return l->n <= SNPD_API_IDS_MAX;
}

static void check_bounds(const struct snpd_config *c, const char *text)
{
	if (c->vmpl < c->vmpl_floor || c->vmpl > 3)
		bug("Vmpl out of bounds accepted", text);
	if (!c->queue_size || !c->fs_max_handles || !c->event_log_max ||
	    c->event_log_max > SNP_EVLOG_EVENTS_MAX)
		bug("a count out of bounds accepted", text);
	if ((c->file_mode | c->report_mode | c->api_socket_mode) & ~0777u)
		bug("a mode with more than rwx bits accepted", text);
	if (!list_ok(&c->log_writers) || !list_ok(&c->log_writer_groups))
		bug("an id list out of bounds", text);
	if (c->n_keys > SNPD_KEY_PROFILES_MAX)
		bug("too many key profiles", text);
	for (size_t i = 0; i < c->n_keys; i++) {
		const struct snpd_key_profile *k = &c->keys[i];
		size_t n = strnlen(k->name, SNPD_NAME_MAX);

		if (n == 0 || n >= SNPD_NAME_MAX ||
		    strspn(k->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz"
				    "0123456789._-") != n ||
		    !strcmp(k->name, ".") || !strcmp(k->name, ".."))
			bug("a key profile with a bad name", text);
		if (k->vmpl < c->vmpl_floor || k->vmpl > 3)
			bug("a key profile's Vmpl out of bounds accepted", text);
		if (k->mode & ~0777u)
			bug("a key mode with more than rwx bits accepted", text);
		if (!list_ok(&k->api_users) || !list_ok(&k->api_groups))
			bug("a key's id list out of bounds", text);
		if (snpd_config_find_key(c, k->name) != k)
			bug("two key profiles of one name", text);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snpd_cmdline cmd = { .config_file = file };
	struct snpd_config c, again;
	char *text, *text2;
	size_t len, len2;
	int r;

	write_file(data, size);
	r = snpd_config_load(&cmd, &c);
	if (r > 0)
		bug("a positive return", NULL);
	if (r < 0)
		return 0;
	text = dump(&c, &len);
	check_bounds(&c, text);
	snpd_config_release(&c);

	/* --dump-config's output is a configuration that loads as itself */
	write_file(text, len);
	r = snpd_config_load(&cmd, &again);
	if (r < 0)
		bug("the dump of a loaded configuration does not load", text);
	text2 = dump(&again, &len2);
	if (len2 != len || memcmp(text, text2, len))
		bug("the dump of a loaded configuration loads as another", text2);
	snpd_config_release(&again);
	free(text);
	free(text2);
	return 0;
}
