// SPDX-License-Identifier: Apache-2.0
/*
 * Cryptography of the simulated platform, with OpenSSL: AES-256-GCM for
 * guest messages (also the userspace implementation of the guest driver's
 * crypto ops), the firmware's key derivation, the VCEK/VLEK of a TCB and
 * the report signature.
 */
#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
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

/* HKDF-SHA384 (RFC 5869) of @ikm with @salt and @info into @out. */
static int hkdf_sha384(const u8 *ikm, size_t ikm_len, const char *salt, const u8 *info,
		       size_t info_len, u8 *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	int r = -EIO;

	EVP_KDF_free(kdf);
	if (!ctx)
		return -EIO;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA384", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	params[2] =
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, strlen(salt));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) == 1)
		r = 0;
	EVP_KDF_CTX_free(ctx);
	return r;
}

int sim_leaf_key_derive(const u8 seed[SIM_SEED_LEN], bool vlek, u64 tcb, EVP_PKEY **ret)
{
	/* 128 bits more than the order: the reduction's bias is below 2^-128 */
	u8 okm[SNP_ECDSA_P384_SIZE + 16], info[8], pub[1 + 2 * SNP_ECDSA_P384_SIZE];
	EC_GROUP *group = NULL;
	EC_POINT *point = NULL;
	BN_CTX *bnctx = NULL;
	BIGNUM *d = NULL, *nm1 = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *key = NULL;
	int r = -EIO;

	if (!seed || !ret)
		return -EINVAL;
	snp_put_le64(info, tcb);
	if (hkdf_sha384(seed, SIM_SEED_LEN, vlek ? SIM_VLEK_KEY_LABEL : SIM_VCEK_KEY_LABEL, info,
			sizeof(info), okm, sizeof(okm)) < 0)
		goto out;

	/* d = 1 + (OKM mod (n - 1)), in [1, n - 1] (FIPS 186-5 A.2.1) */
	group = EC_GROUP_new_by_curve_name(NID_secp384r1);
	bnctx = BN_CTX_secure_new();
	d = BN_secure_new();
	nm1 = group ? BN_dup(EC_GROUP_get0_order(group)) : NULL;
	if (!group || !bnctx || !d || !nm1)
		goto out;
	if (!BN_sub_word(nm1, 1) || !BN_bin2bn(okm, (int)sizeof(okm), d) ||
	    !BN_mod(d, d, nm1, bnctx) || !BN_add_word(d, 1))
		goto out;

	/* the public point d*G, uncompressed, so that the key can be certified */
	point = EC_POINT_new(group);
	if (!point || !EC_POINT_mul(group, point, d, NULL, NULL, bnctx) ||
	    EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub),
			       bnctx) != sizeof(pub))
		goto out;

	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_secp384r1, 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	*ret = key;
	key = NULL;
	r = 0;
out:
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params); /* the secret part is secure memory, cleared */
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(point);
	BN_free(nm1);
	BN_clear_free(d);
	BN_CTX_free(bnctx);
	EC_GROUP_free(group);
	OPENSSL_cleanse(okm, sizeof(okm));
	return r;
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
