// SPDX-License-Identifier: Apache-2.0
/*
 * The driver's platform functions (kernel/snp-guest.h: snp_guest_plat_*)
 * for the userspace build: each call goes to the struct snp_platform_ops
 * the device was bound to by sim_guest_init().
 */
#include <errno.h>

#include "sim/sim.h"

static const struct sim_guest_binding *binding(const struct snp_guest_dev *dev)
{
	return dev->priv;
}

int sim_guest_init(struct snp_guest_dev *dev, struct sim_guest_binding *b,
		   const struct snp_platform_ops *ops, void *priv, struct snp_secrets_page *secrets,
		   u32 vmpck_id, struct snp_guest_shared *shared, struct snp_guest_private *scratch)
{
	if (!b || !ops)
		return -EINVAL;
	if (!ops->vmgexit || !ops->aead_encrypt || !ops->aead_decrypt || !ops->sleep_killable ||
	    !ops->clock_ns)
		return -EINVAL;
	b->ops = ops;
	b->priv = priv;
	return snp_guest_init(dev, b, secrets, vmpck_id, shared, scratch);
}

const struct snp_platform_ops *sim_guest_ops(const struct snp_guest_dev *dev)
{
	return binding(dev)->ops;
}

int snp_guest_plat_vmgexit(struct snp_guest_dev *dev, struct snp_ghcb *ghcb)
{
	const struct sim_guest_binding *b = binding(dev);

	return b->ops->vmgexit(b->priv, ghcb);
}

int snp_guest_plat_encrypt(struct snp_guest_dev *dev, const u8 *key, const u8 *iv, const u8 *aad,
			   size_t aad_len, const u8 *in, size_t len, u8 *out, u8 *tag)
{
	const struct sim_guest_binding *b = binding(dev);

	return b->ops->aead_encrypt(b->priv, key, iv, aad, aad_len, in, len, out, tag);
}

int snp_guest_plat_decrypt(struct snp_guest_dev *dev, const u8 *key, const u8 *iv, const u8 *aad,
			   size_t aad_len, const u8 *in, size_t len, u8 *out, const u8 *tag)
{
	const struct sim_guest_binding *b = binding(dev);

	return b->ops->aead_decrypt(b->priv, key, iv, aad, aad_len, in, len, out, tag);
}

int snp_guest_plat_sleep_killable(struct snp_guest_dev *dev, unsigned int ms)
{
	const struct sim_guest_binding *b = binding(dev);

	return b->ops->sleep_killable(b->priv, ms);
}

u64 snp_guest_plat_clock_ns(struct snp_guest_dev *dev)
{
	const struct sim_guest_binding *b = binding(dev);

	return b->ops->clock_ns(b->priv);
}

void snp_guest_plat_event(struct snp_guest_dev *dev, enum snp_guest_event ev, u64 info)
{
	const struct sim_guest_binding *b = binding(dev);

	if (b->ops->event)
		b->ops->event(b->priv, ev, dev->vmpck_id, info);
}
