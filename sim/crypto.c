// SPDX-License-Identifier: Apache-2.0
/*
 * Cryptography of the simulated platform, with OpenSSL: AES-256-GCM for
 * guest messages (also the userspace implementation of the guest driver's
 * crypto ops), the firmware's key derivation and the report signature.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "sim/sim.h"

static int aes_gcm(bool enc, const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len,
		   const u8 *in, size_t len, u8 *out, u8 *tag)
{
	EVP_CIPHER_CTX *ctx;
	int outl, r = -EIO;

	if (!key || !iv || (!in && len) || (!out && len) || !tag || len > INT32_MAX ||
	    aad_len > INT32_MAX)
		return -EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (!EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc))
		goto out;
	if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SNP_MSG_IV_LEN, NULL))
		goto out;
	if (!EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc))
		goto out;
	if (aad_len && !EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len))
		goto out;
	if (len && !EVP_CipherUpdate(ctx, out, &outl, in, (int)len))
		goto out;
	if (enc) {
		if (!EVP_CipherFinal_ex(ctx, out + len, &outl))
			goto out;
		if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SNP_MSG_AUTHTAG_LEN, tag))
			goto out;
	} else {
		if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SNP_MSG_AUTHTAG_LEN, tag))
			goto out;
		if (EVP_CipherFinal_ex(ctx, out + len, &outl) <= 0) {
			/* no plaintext leaves on a bad tag */
			if (len)
				OPENSSL_cleanse(out, len);
			r = -EBADMSG;
			goto out;
		}
	}
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int sim_aes_gcm_encrypt(const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len, const u8 *in,
			size_t len, u8 *out, u8 *tag)
{
	return aes_gcm(true, key, iv, aad, aad_len, in, len, out, tag);
}

int sim_aes_gcm_decrypt(const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len, const u8 *in,
			size_t len, u8 *out, const u8 *tag)
{
	u8 t[SNP_MSG_AUTHTAG_LEN];

	if (!tag)
		return -EINVAL;
	memcpy(t, tag, sizeof(t));
	return aes_gcm(false, key, iv, aad, aad_len, in, len, out, t);
}

static int hmac(const char *md, const u8 *key, size_t key_len, const u8 *data, size_t len, u8 *out,
		size_t out_len)
{
	size_t n = 0;
	u8 *r;

	r = EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, key, key_len, data, len, out, out_len, &n);
	if (!r || n != out_len)
		return -EIO;
	return 0;
}

int sim_kdf(const u8 *root, size_t root_len, const struct snp_key_mix_data *mix,
	    u8 out[SNP_DERIVED_KEY_LEN])
{
	/* i (LE32) || "gmsg-keyreq" || 0x00 || MIX_DATA || L (LE32) */
	u8 in[4 + sizeof(SNP_KDF_LABEL) - 1 + 1 + sizeof(*mix) + 4];
	size_t off = 0;
	int r;

	if (!root || !root_len || !mix || !out)
		return -EINVAL;
	snp_put_le32(in + off, 1);
	off += 4;
	memcpy(in + off, SNP_KDF_LABEL, sizeof(SNP_KDF_LABEL) - 1);
	off += sizeof(SNP_KDF_LABEL) - 1;
	in[off++] = 0;
	memcpy(in + off, mix, sizeof(*mix));
	off += sizeof(*mix);
	snp_put_le32(in + off, SNP_DERIVED_KEY_LEN * 8);
	off += 4;

	r = hmac("SHA256", root, root_len, in, off, out, SNP_DERIVED_KEY_LEN);
	OPENSSL_cleanse(in, sizeof(in));
	return r;
}

int sim_tcb_root(const u8 seed[SIM_SEED_LEN], u64 tcb, u8 out[SIM_SEED_LEN])
{
	u8 in[sizeof(SIM_TCB_STICK_LABEL) - 1 + 8];

	memcpy(in, SIM_TCB_STICK_LABEL, sizeof(SIM_TCB_STICK_LABEL) - 1);
	snp_put_le64(in + sizeof(SIM_TCB_STICK_LABEL) - 1, tcb);
	return hmac("SHA384", seed, SIM_SEED_LEN, in, sizeof(in), out, SIM_SEED_LEN);
}

static void put_le_component(u8 out[SNP_ECDSA_COMPONENT_SIZE], const BIGNUM *bn)
{
	memset(out, 0, SNP_ECDSA_COMPONENT_SIZE);
	BN_bn2lebinpad(bn, out, SNP_ECDSA_P384_SIZE);
}

int sim_sign_report(EVP_PKEY *key, const u8 *data, size_t len, struct snp_ecdsa_sig *sig)
{
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	u8 der[160];
	const u8 *p = der;
	size_t der_len = sizeof(der);
	int ret = -EIO;

	if (!key || !data || !sig)
		return -EINVAL;
	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1)
		goto out;
	if (EVP_DigestSign(md, der, &der_len, data, len) != 1)
		goto out;
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!es)
		goto out;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_num_bytes(r) > SNP_ECDSA_P384_SIZE || BN_num_bytes(s) > SNP_ECDSA_P384_SIZE)
		goto out;
	memset(sig, 0, sizeof(*sig));
	put_le_component(sig->r, r);
	put_le_component(sig->s, s);
	ret = 0;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return ret;
}
