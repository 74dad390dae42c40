// SPDX-License-Identifier: Apache-2.0
/*
 * LD_PRELOAD fault injection for snpd's tests: while the file named by
 * $SNP_TEST_FAIL_DIGEST exists, EVP_DigestFinal_ex() fails as OpenSSL
 * reports a failure (returns 0), so that a test can make one hash fail
 * (the head of an event log append) at the moment it chooses, without a
 * debug path in snpd itself. Otherwise it is OpenSSL's own.
 *
 *   SNP_TEST_FAIL_DIGEST=/tmp/x LD_PRELOAD=tests/helpers/.libs/libfail-digest.so snpd ...
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#define EXPORT __attribute__((visibility("default")))

typedef int digest_final_fn(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *size);

EXPORT int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *size)
{
	static digest_final_fn *real;
	const char *trigger = getenv("SNP_TEST_FAIL_DIGEST");

	if (trigger && *trigger && access(trigger, F_OK) == 0)
		return 0;
	if (!real)
		real = (digest_final_fn *)dlsym(RTLD_NEXT, "EVP_DigestFinal_ex");
	return real ? real(ctx, md, size) : 0;
}
