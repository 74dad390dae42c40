/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SNP_LIB_UTIL_H
#define SNP_LIB_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#define _cleanup_(f)	  __attribute__((cleanup(f)))
#define SNP_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Size of the buffers that receive an error message for the user. */
#define SNP_ERRBUF 256

static inline void freep(void *p)
{
	free(*(void **)p);
}

/*
 * Hex helpers. snp_hex_decode() accepts upper and lower case, no prefix,
 * optional whitespace only when @allow_space; returns the number of bytes
 * written or a negative errno (-EINVAL bad digit or odd length, -ENOBUFS
 * when the result does not fit in @max bytes).
 */
ssize_t snp_hex_decode(const char *s, size_t len, uint8_t *out, size_t max, bool allow_space);
/* Lowercase hex of @n bytes into @out (2n+1 bytes). */
void snp_hex_encode(const uint8_t *in, size_t n, char *out);
/* Newly allocated lowercase hex string, or NULL on ENOMEM. */
char *snp_hex_new(const uint8_t *in, size_t n);

/* A nonce's name in the view (nonce/<hex>[.json], evidence/<hex>): 2-128 hex digits. */
#define SNP_NONCE_NAME_HEX_MIN 2
#define SNP_NONCE_NAME_HEX_MAX 128
/*
 * Parse @name as <hex>[.json]: an even number of hex digits, from
 * SNP_NONCE_NAME_HEX_MIN to SNP_NONCE_NAME_HEX_MAX, optionally followed by
 * ".json". 0, the nonce in @out (SNP_NONCE_NAME_HEX_MAX / 2 bytes), its
 * length and whether ".json" was there; -ENAMETOOLONG when there are too
 * many digits, else -EINVAL.
 */
int snp_nonce_name_parse(const char *name, uint8_t *out, size_t *ret_len, bool *ret_json);

bool snp_mem_is_zero(const void *p, size_t n);

/*
 * @n bytes of untrusted text (a certificate's name, ...) as printable ASCII
 * into @out (@outlen > 0, always NUL-terminated, truncated to fit): bytes
 * outside 0x20..0x7e and the backslash are written as \xNN, so that logs
 * and JSON (UTF-8 only) carry them unambiguously. Returns @out.
 */
char *snp_printable(char *out, size_t outlen, const void *in, size_t n);
/* The same, and @quote (a field's quote character; '\0' none) as \xNN too. */
char *snp_printable_quoted(char *out, size_t outlen, const void *in, size_t n, char quote);

struct timespec;
/* @ts in microseconds, and CLOCK_MONOTONIC's now in microseconds. */
uint64_t snp_timespec_usec(const struct timespec *ts);
uint64_t snp_monotonic_usec(void);

/*
 * Read a whole file (or stdin for "-") into a new buffer of at most @max
 * bytes. Returns 0 or a negative errno (-EFBIG when larger than @max).
 * *ret_data is newly allocated and NUL-terminated (not counted in *ret_len).
 */
int snp_read_file(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len);
/*
 * The same for a file that must be a regular file, never "-": a FIFO, a
 * device or a directory is -EBADFD (-EISDIR), a symbolic link -ELOOP, and
 * opening never blocks (for caches anyone with write access could fill).
 */
int snp_read_regular_file(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len);
/*
 * The same, but a symbolic link is followed: for a file an operator names
 * (TrustArk=, /etc paths are commonly links); what it ends at must still
 * be a regular file, opened without blocking.
 */
int snp_read_regular_file_follow(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len);
int snp_write_file(const char *path, const void *data, size_t len, int mode);

/*
 * snprintf() into @buf (@len bytes) that never cuts a message mid-word:
 * when the whole does not fit, it ends after the last whole word that
 * leaves room for an explicit "..." (a single word longer than @len is cut
 * with the "..." too). Callers size @buf for the whole message where its
 * parts are bounded; this is for the rest.
 */
void snp_vmsgf(char *buf, size_t len, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
void snp_msgf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Append to the message in @buf (@len bytes, NUL-terminated), "; " before
 * it unless @buf is empty; what does not fit is cut, never overflowing.
 */
void snp_vappendf(char *buf, size_t len, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
void snp_appendf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Zeroed, page-aligned memory for buffers that hold secrets or stand for
 * guest pages (size rounded up to 4 KiB pages). New; free it with
 * snp_page_free(), which wipes it (and munlocks it, if it was locked).
 * NULL is fine for snp_page_free().
 */
void *snp_page_alloc(size_t size);
void snp_page_free(void *p, size_t size);

/*
 * Checked number parsing: the whole string, range checked; 0, -EINVAL or
 * -ERANGE, and @ret written only on success. snp_parse_u64() and
 * snp_parse_u32_max() take decimal digits only: no sign, space or prefix,
 * and a leading zero is still decimal ("010" is ten, never octal).
 * snp_parse_u64_or_hex() also takes hexadecimal after an explicit "0x" or
 * "0X"; use it only where the documentation says hex is accepted.
 */
int snp_parse_u64(const char *s, uint64_t *ret);
int snp_parse_u64_or_hex(const char *s, uint64_t *ret);
int snp_parse_u32_max(const char *s, uint32_t max, uint32_t *ret);

#endif
