// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * snp-guest.c as a Linux module: the platform side of the driver inside a
 * real SEV-SNP guest.
 *
 *  - binds to the "sev-guest" platform device that arch/x86 registers for
 *    an SNP guest and maps the secrets page it names (as the in-tree
 *    sev-guest driver does; load one or the other); refuses to bind, as
 *    that driver does, when the chosen VMPCK is all zero;
 *  - offers /dev/sev-guest, a misc device with the <linux/sev-guest.h>
 *    ioctls, handled by snp_guest_ioctl() (user pointers, its own mutex);
 *  - makes the exit through the kernel's own snp_issue_guest_request()
 *    (snp-guest-kexit.c, with the upstream types of <asm/sev.h>);
 *  - AES-256-GCM from the kernel crypto API.
 *
 * The shared pages are allocated here and made decrypted, the private
 * scratch is ordinary (encrypted) kernel memory.
 */
#define pr_fmt(fmt) "snpd-sev-guest: " fmt

#include <linux/module.h>
#include <linux/version.h>
#include <linux/miscdevice.h>
#include <linux/platform_device.h>
#include <linux/set_memory.h>
#include <linux/slab.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/timekeeping.h>
#include <linux/jiffies.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/scatterlist.h>
#include <linux/cc_platform.h>
#include <crypto/aead.h>

#include "kernel/snp-guest.h"
#include "kernel/snp-guest-kexit.h"

struct snp_kmod {
	struct snp_guest_dev dev;
	struct miscdevice misc;
	void *secrets;			 /* ioremap_encrypted(), see probe */
	struct snp_guest_shared *shared; /* decrypted pages */
	unsigned int shared_order;
	struct snp_guest_private *scratch;
	struct crypto_aead *tfm;
};

static unsigned int vmpck_id;
module_param(vmpck_id, uint, 0444);
MODULE_PARM_DESC(vmpck_id, "The VMPCK to use (0..3)");

/* Guest physical address of a shared page the driver names by its pointer. */
static phys_addr_t snp_kmod_gpa(u64 p)
{
	return __pa((void *)(unsigned long)p);
}

/*
 * The driver's platform functions (kernel/snp-guest.h), called directly.
 *
 * VMGEXIT: the driver names the pages in our GHCB image (dev->shared
 * holds one, never handed to the hypervisor); the kernel makes the exit
 * with its own per-CPU GHCB and we put the outcome back into the image.
 */
int snp_guest_plat_vmgexit(struct snp_guest_dev *dev, struct snp_ghcb *g)
{
	u64 exit_code = le64_to_cpu(g->sw_exit_code), exitinfo2;
	bool ext = exit_code == snp_kexit_ext_guest_request();
	unsigned int npages = 0;
	phys_addr_t data = 0;
	int rc;

	if (ext) {
		data = snp_kmod_gpa(le64_to_cpu(g->rax));
		npages = (unsigned int)le64_to_cpu(g->rbx);
	}
	rc = snp_kexit_guest_request(exit_code, snp_kmod_gpa(le64_to_cpu(g->sw_exit_info_1)),
				     snp_kmod_gpa(le64_to_cpu(g->sw_exit_info_2)), data, &npages,
				     &exitinfo2);
	/* the kernel judged the exit refused: its enum es_result, positive */
	if (rc > 0)
		return rc;
	/*
	 * exitinfo2 is SEV_RET_NO_FW_CALL when the exit was refused (or never
	 * made), otherwise the hypervisor's SW_EXITINFO2: BUSY, INVALID_LEN
	 * (with the pages needed in npages), or a firmware status. The driver
	 * reads it from the GHCB image as from a GHCB.
	 */
	if (rc && snp_kexit_no_fw_call(exitinfo2)) {
		g->sw_exit_info_1 = cpu_to_le64(1);
		g->sw_exit_info_2 = cpu_to_le64(0);
		return 0;
	}
	g->sw_exit_info_1 = cpu_to_le64(0);
	g->sw_exit_info_2 = cpu_to_le64(exitinfo2);
	if (ext)
		g->rbx = cpu_to_le64(npages);
	return 0;
}

int snp_guest_plat_sleep_killable(struct snp_guest_dev *dev, unsigned int ms)
{
	schedule_timeout_killable(msecs_to_jiffies(ms));
	return fatal_signal_pending(current) ? -EINTR : 0;
}

/* Linux times its budget in jiffies; the monotonic clock is finer and the same time. */
u64 snp_guest_plat_clock_ns(struct snp_guest_dev *dev)
{
	return ktime_get_ns();
}

void snp_guest_plat_event(struct snp_guest_dev *dev, enum snp_guest_event ev, u64 info)
{
	switch (ev) {
	case SNP_GUEST_EV_VMPCK_DISABLED:
		break; /* the driver has said so with pr_alert() */
	case SNP_GUEST_EV_BUSY_RETRY:
		pr_debug("host busy, retrying (%llu ms so far)\n", info);
		break;
	case SNP_GUEST_EV_CERTS_TOO_SMALL:
		pr_debug("certificate buffer too small, %llu pages needed\n", info);
		break;
	}
}

static int snp_kmod_aead(struct snp_kmod *k, bool enc, const u8 *key, const u8 *iv, const u8 *aad,
			 size_t aad_len, const u8 *in, size_t len, u8 *out, u8 *tag)
{
	struct scatterlist src[3], dst[3];
	struct aead_request *req;
	DECLARE_CRYPTO_WAIT(wait);
	u8 ivbuf[SNP_MSG_IV_LEN];
	int rc;

	rc = crypto_aead_setkey(k->tfm, key, SNP_VMPCK_LEN);
	if (rc)
		return rc;
	req = aead_request_alloc(k->tfm, GFP_KERNEL);
	if (!req)
		return -ENOMEM;

	memcpy(ivbuf, iv, sizeof(ivbuf));
	sg_init_table(src, 3);
	sg_set_buf(&src[0], aad, aad_len);
	sg_set_buf(&src[1], in, len);
	sg_set_buf(&src[2], tag, SNP_MSG_AUTHTAG_LEN);
	sg_init_table(dst, 3);
	sg_set_buf(&dst[0], aad, aad_len);
	sg_set_buf(&dst[1], out, len);
	sg_set_buf(&dst[2], tag, SNP_MSG_AUTHTAG_LEN);

	aead_request_set_ad(req, aad_len);
	aead_request_set_callback(req, CRYPTO_TFM_REQ_MAY_SLEEP, crypto_req_done, &wait);
	aead_request_set_crypt(req, src, dst, enc ? len : len + SNP_MSG_AUTHTAG_LEN, ivbuf);
	rc = crypto_wait_req(enc ? crypto_aead_encrypt(req) : crypto_aead_decrypt(req), &wait);
	aead_request_free(req);
	return rc;
}

int snp_guest_plat_encrypt(struct snp_guest_dev *dev, const u8 *key, const u8 *iv, const u8 *aad,
			   size_t aad_len, const u8 *in, size_t len, u8 *out, u8 *tag)
{
	return snp_kmod_aead(dev->priv, true, key, iv, aad, aad_len, in, len, out, tag);
}

int snp_guest_plat_decrypt(struct snp_guest_dev *dev, const u8 *key, const u8 *iv, const u8 *aad,
			   size_t aad_len, const u8 *in, size_t len, u8 *out, const u8 *tag)
{
	/* the tag is only read when decrypting */
	return snp_kmod_aead(dev->priv, false, key, iv, aad, aad_len, in, len, out, (u8 *)tag);
}

static long snp_kmod_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct snp_kmod *k = container_of(file->private_data, struct snp_kmod, misc);
	int rc;

	rc = snp_guest_ioctl(&k->dev, cmd, (void __user *)arg);
	/*
	 * A refused exit: Linux returns the GHCB call's positive enum
	 * es_result to userspace, which most callers take for success. An
	 * error here (the VMPCK is gone and exitinfo2 says SEV_RET_NO_FW_CALL
	 * either way).
	 */
	return rc > 0 ? -EIO : rc;
}

static const struct file_operations snp_kmod_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = snp_kmod_ioctl,
};

static void snp_kmod_free_shared(struct snp_kmod *k)
{
	unsigned long addr = (unsigned long)k->shared;

	if (!k->shared)
		return;
	/* a page the hypervisor may still own must never be reused: leak it */
	if (set_memory_encrypted(addr, 1 << k->shared_order))
		pr_err("cannot re-encrypt the shared pages, leaking them\n");
	else
		free_pages(addr, k->shared_order);
	k->shared = NULL;
}

static int snp_kmod_probe(struct platform_device *pdev)
{
	struct snp_kmod *k;
	void __iomem *mapping;
	u64 secrets_gpa;
	int rc;

	if (!cc_platform_has(CC_ATTR_GUEST_SEV_SNP))
		return -ENODEV;
	if (snp_kexit_secrets_gpa(&pdev->dev, &secrets_gpa))
		return -ENODEV;
	if (vmpck_id > SNP_VMPCK_MAX)
		return -EINVAL;

	k = devm_kzalloc(&pdev->dev, sizeof(*k), GFP_KERNEL);
	if (!k)
		return -ENOMEM;
	mapping = ioremap_encrypted(secrets_gpa, PAGE_SIZE);
	if (!mapping)
		return -ENODEV;
	/* the secrets page is ordinary (encrypted) memory of this guest */
	k->secrets = (__force void *)mapping;

	rc = -ENOMEM;
	k->scratch = kzalloc(sizeof(*k->scratch), GFP_KERNEL);
	if (!k->scratch)
		goto e_unmap;
	k->shared_order = get_order(sizeof(*k->shared));
	k->shared = (void *)__get_free_pages(GFP_KERNEL | __GFP_ZERO, k->shared_order);
	if (!k->shared)
		goto e_free;
	rc = set_memory_decrypted((unsigned long)k->shared, 1 << k->shared_order);
	if (rc) {
		/* state unknown: do not give these pages back */
		k->shared = NULL;
		goto e_free;
	}

	k->tfm = crypto_alloc_aead("gcm(aes)", 0, 0);
	if (IS_ERR(k->tfm)) {
		rc = PTR_ERR(k->tfm);
		k->tfm = NULL;
		goto e_free;
	}
	rc = crypto_aead_setauthsize(k->tfm, SNP_MSG_AUTHTAG_LEN);
	if (rc)
		goto e_free;

	/* an empty VMPCK: -EINVAL and no device, as Linux */
	rc = snp_guest_probe(&k->dev, k, k->secrets, vmpck_id, k->shared, k->scratch);
	if (rc)
		goto e_free;

	k->misc.minor = MISC_DYNAMIC_MINOR;
	k->misc.name = "sev-guest";
	k->misc.fops = &snp_kmod_fops;
	rc = misc_register(&k->misc);
	if (rc)
		goto e_release;

	platform_set_drvdata(pdev, k);
	dev_info(&pdev->dev, "Initialized SEV guest driver (using vmpck_id %u)\n", vmpck_id);
	return 0;

e_release:
	snp_guest_release(&k->dev);
e_free:
	if (k->tfm)
		crypto_free_aead(k->tfm);
	snp_kmod_free_shared(k);
	kfree_sensitive(k->scratch);
e_unmap:
	iounmap(mapping);
	return rc;
}

static void snp_kmod_teardown(struct platform_device *pdev)
{
	struct snp_kmod *k = platform_get_drvdata(pdev);

	misc_deregister(&k->misc);
	snp_guest_release(&k->dev);
	crypto_free_aead(k->tfm);
	snp_kmod_free_shared(k);
	kfree_sensitive(k->scratch);
	iounmap((__force void __iomem *)k->secrets);
}

/*
 * platform_driver::remove returns void since Linux 6.11 (6.3 to 6.12 also
 * had .remove_new for that), int before: Debian 12's 6.1 takes the int one.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
static void snp_kmod_remove(struct platform_device *pdev)
{
	snp_kmod_teardown(pdev);
}
#else
static int snp_kmod_remove(struct platform_device *pdev)
{
	snp_kmod_teardown(pdev);
	return 0;
}
#endif

static struct platform_driver snp_kmod_driver = {
	.probe = snp_kmod_probe,
	.remove = snp_kmod_remove,
	.driver = {
		.name = "sev-guest",
	},
};
module_platform_driver(snp_kmod_driver);

MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("snpd: SEV-SNP guest request driver");
MODULE_ALIAS("platform:sev-guest");
