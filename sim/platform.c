// SPDX-License-Identifier: Apache-2.0
/*
 * The simulated platform as one object: state, firmware, hypervisor and
 * the kernel/ guest driver bound to them through struct snp_platform_ops
 * (sim_guest_init())
 * (VMGEXIT -> sim hypervisor, AES-GCM -> OpenSSL, the BUSY sleep -> nanosleep,
 * clock -> CLOCK_MONOTONIC).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "lib/log.h"
#include "lib/util.h"
#include "sim/sim.h"

struct sim_platform {
	struct sim_state *st;
	bool own_state;
	bool persist;
	struct sim_fw fw;
	struct sim_hv hv;
	struct snp_guest_dev dev;
	struct sim_guest_binding bind;
	struct snp_secrets_page *secrets; /* the guest's mapping */
	struct snp_guest_shared *shared;  /* decrypted, seen by the hv */
	struct snp_guest_private *scratch;
	u32 vmpck_id;
	struct sim_presigned *presigned; /* owned; p->fw borrows it */
	bool hv_certs_stale;		 /* the host's table predates the leaves */
	char params_refused[256];	 /* why the params file was last not taken, said once */
};

static int op_vmgexit(void *priv, struct snp_ghcb *ghcb)
{
	struct sim_platform *p = priv;

	return sim_hv_vmgexit(&p->hv, ghcb);
}

/* No fatal signal is ever pending here: one would have ended the process. */
static int op_sleep_killable(void *priv, unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

static u64 op_clock_ns(void *priv)
{
	(void)priv;
	return ktime_get_ns();
}

static int op_encrypt(void *priv, const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len,
		      const u8 *in, size_t len, u8 *out, u8 *tag)
{
	return sim_aes_gcm_encrypt(key, iv, aad, aad_len, in, len, out, tag);
}

static int op_decrypt(void *priv, const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len,
		      const u8 *in, size_t len, u8 *out, const u8 *tag)
{
	return sim_aes_gcm_decrypt(key, iv, aad, aad_len, in, len, out, tag);
}

static void op_event(void *priv, enum snp_guest_event ev, u32 vmpck_id, u64 info)
{
	switch (ev) {
	case SNP_GUEST_EV_VMPCK_DISABLED:
		log_debug("sim guest: disabling VMPCK%u communication key to prevent IV reuse "
			  "(cause 0x%llx)",
			  vmpck_id, (unsigned long long)info);
		break;
	case SNP_GUEST_EV_BUSY_RETRY:
		log_debug("sim guest: host busy, retrying (%llu ms so far)",
			  (unsigned long long)info);
		break;
	case SNP_GUEST_EV_CERTS_TOO_SMALL:
		log_debug("sim guest: certificate buffer too small, %llu pages needed",
			  (unsigned long long)info);
		break;
	}
}

static const struct snp_platform_ops sim_platform_ops = {
	.vmgexit = op_vmgexit,
	.sleep_killable = op_sleep_killable,
	.clock_ns = op_clock_ns,
	.aead_encrypt = op_encrypt,
	.aead_decrypt = op_decrypt,
	.event = op_event,
};

struct sim_platform *sim_platform_free(struct sim_platform *p)
{
	if (!p)
		return NULL;
	snp_guest_release(&p->dev);
	kshim_kernel_range_remove(p->secrets);
	kshim_kernel_range_remove(p->shared);
	kshim_kernel_range_remove(p->scratch);
	sim_hv_release(&p->hv);
	if (p->fw.presigned || p->fw.device_ns)
		log_debug("sim: device model: %llu reports with a signature made ahead, %llu "
			  "signed when asked",
			  (unsigned long long)p->fw.nr_presigned,
			  (unsigned long long)p->fw.nr_signed);
	sim_presigned_free(p->presigned);
	OPENSSL_cleanse(&p->fw, sizeof(p->fw));
	snp_page_free(p->secrets, sizeof(*p->secrets));
	snp_page_free(p->shared, sizeof(*p->shared));
	snp_page_free(p->scratch, sizeof(*p->scratch));
	if (p->own_state)
		sim_state_free(p->st);
	free(p);
	return NULL;
}

int sim_open_opts_from_env(struct sim_open_opts *opts, char *err, size_t errlen)
{
	const char *v;

	v = getenv("SNP_SIM_VMPCK");
	if (v && snp_parse_u32_max(v, SNP_VMPCK_MAX, &opts->vmpck_id) < 0) {
		snprintf(err, errlen, "SNP_SIM_VMPCK must be 0..3, not '%s'", v);
		return -EINVAL;
	}
	v = getenv("SNP_SIM_RETRY_MS");
	if (v) {
		unsigned int a = 0, b = 0;
		char extra;

		if (sscanf(v, "%u,%u%c", &a, &b, &extra) != 2) {
			snprintf(err, errlen,
				 "SNP_SIM_RETRY_MS must be INTERVAL,TIMEOUT in ms, not '%s'", v);
			return -EINVAL;
		}
		opts->retry_interval_ms = a;
		opts->retry_timeout_ms = b;
	}
	v = getenv("SNP_SIM_DEVICE_US");
	if (v && snp_parse_u32_max(v, 10 * 1000 * 1000, &opts->device_us) < 0) {
		snprintf(err, errlen, "SNP_SIM_DEVICE_US must be 0..10000000, not '%s'", v);
		return -EINVAL;
	}
	v = getenv("SNP_SIM_PRESIGNED");
	if (v && *v)
		opts->presigned = v;
	return 0;
}

static int apply_faults_file(struct sim_platform *p)
{
	_cleanup_(freep) u8 *buf = NULL;
	size_t len;
	int r;

	r = sim_state_read_file(p->st, "faults", 4096, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return sim_faults_parse((char *)buf, &p->hv.faults);
}

int sim_platform_open(const char *dir, struct sim_state *st, const struct sim_open_opts *opts,
		      struct sim_platform **ret, char *err, size_t errlen)
{
	struct sim_open_opts defaults = { 0 };
	struct sim_platform *p;
	int r;

	if (!ret || (!dir && !st)) {
		snprintf(err, errlen, "no state directory or state given");
		return -EINVAL;
	}
	if (!opts)
		opts = &defaults;
	if (opts->vmpck_id > SNP_VMPCK_MAX) {
		snprintf(err, errlen, "VMPCK %u out of range 0..3", opts->vmpck_id);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->vmpck_id = opts->vmpck_id;
	if (dir) {
		r = sim_state_load(dir, opts->create, &p->st, err, errlen);
		if (r < 0)
			goto fail;
		p->own_state = true;
		p->persist = true;
	} else {
		p->st = st;
	}

	p->secrets = snp_page_alloc(sizeof(*p->secrets));
	p->shared = snp_page_alloc(sizeof(*p->shared));
	p->scratch = snp_page_alloc(sizeof(*p->scratch));
	if (!p->secrets || !p->shared || !p->scratch) {
		r = -ENOMEM;
		goto fail;
	}
	/* the driver's own memory: no user pointer may reach it */
	(void)kshim_kernel_range_add(p->secrets, sizeof(*p->secrets));
	(void)kshim_kernel_range_add(p->shared, sizeof(*p->shared));
	(void)kshim_kernel_range_add(p->scratch, sizeof(*p->scratch));
	/* best effort: keep keys and plaintext out of swap */
	(void)mlock(p->secrets, sizeof(*p->secrets));
	(void)mlock(p->scratch, sizeof(*p->scratch));

	if (p->persist) {
		int lfd = sim_state_lock(p->st);

		if (lfd < 0) {
			r = lfd;
			snprintf(err, errlen, "cannot lock %s: %s", dir, strerror(-r));
			goto fail;
		}
		/* the firmware's VMPCKs as of now: a relaunch may have run since the load */
		r = sim_state_load_secrets(p->st);
		if (r >= 0)
			r = sim_state_load_launch(p->st, p->secrets);
		close(lfd);
		if (r < 0) {
			snprintf(err, errlen, "bad %s/launch-state: %s", dir, strerror(-r));
			goto fail;
		}
	} else {
		sim_state_make_secrets_page(p->st, p->secrets);
	}

	sim_fw_init(&p->fw, p->st);
	if (opts->presigned) {
		r = sim_presigned_load(opts->presigned, &p->presigned, err, errlen);
		if (r < 0)
			goto fail;
		p->fw.presigned = p->presigned;
	}
	p->fw.device_ns = (u64)opts->device_us * 1000;
	r = sim_hv_init(&p->hv, &p->fw, p->shared, sizeof(*p->shared));
	if (r < 0) {
		snprintf(err, errlen, "cannot set up the simulated hypervisor: %s", strerror(-r));
		goto fail;
	}
	if (opts->faults && sim_faults_parse(opts->faults, &p->hv.faults) < 0) {
		snprintf(err, errlen, "bad fault specification '%s'", opts->faults);
		r = -EINVAL;
		goto fail;
	}
	if (opts->faults_from_env) {
		const char *e = getenv("SNP_SIM_FAULTS");

		if (e && sim_faults_parse(e, &p->hv.faults) < 0) {
			snprintf(err, errlen, "bad SNP_SIM_FAULTS '%s'", e);
			r = -EINVAL;
			goto fail;
		}
		if (p->persist && apply_faults_file(p) < 0) {
			snprintf(err, errlen, "bad %s/faults", dir);
			r = -EINVAL;
			goto fail;
		}
	}

	r = sim_guest_init(&p->dev, &p->bind, &sim_platform_ops, p, p->secrets, p->vmpck_id,
			   p->shared, p->scratch);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the guest driver: %s", strerror(-r));
		goto fail;
	}
	snp_guest_set_retry(&p->dev, opts->retry_interval_ms, opts->retry_timeout_ms);
	*ret = p;
	return 0;
fail:
	sim_platform_free(p);
	return r;
}

/* Under the lock: pick up what other processes did. */
static int sync_in(struct sim_platform *p)
{
	char why[256];
	int r;

	r = sim_state_load_secrets(p->st);
	if (r >= 0)
		r = sim_state_load_launch(p->st, p->secrets);
	if (r < 0)
		return r;
	/* a firmware update since the last request: new TCB, new VCEK, the host's table */
	r = sim_state_sync_firmware(p->st, why, sizeof(why));
	if (r < 0)
		return r;
	/*
	 * An edited params file that is refused keeps what runs: said, once
	 * per reason (each request reads it again), so that an edit that
	 * seems to do nothing says why.
	 */
	if (why[0] && strcmp(why, p->params_refused))
		log_warning("sim: %s/params not taken (the running values stay): %s", p->st->dir,
			    why);
	snprintf(p->params_refused, sizeof(p->params_refused), "%s", why);
	/* until the host has the table of the leaves in memory, every request tries */
	if (r > 0)
		p->hv_certs_stale = true;
	if (p->hv_certs_stale) {
		r = sim_hv_refresh_certs(&p->hv);
		if (r < 0)
			return r;
		p->hv_certs_stale = false;
	}
	/* the VMPCK may have been disabled (zeroed) or relaunched meanwhile */
	p->dev.vmpck = p->secrets->vmpck[p->vmpck_id];
	return 0;
}

/*
 * Before the request goes out, commit the state it leaves when it
 * succeeds: the guest's counter and the firmware's past the number it
 * uses. A process killed from here on until the outcome is saved leaves
 * the request done and its response lost with the process (on hardware
 * the driver and the PSP would have finished it): the guest never uses
 * that number again, and the two sides stay in step. Neither counter
 * goes backwards here.
 */
static int commit_intent(struct sim_platform *p, const struct snp_guest_dev *dev)
{
	struct snp_secrets_page *tmp;
	u64 fw[4], g;
	u8 *cnt;
	int r;

	if (!p->persist)
		return 0;
	if (snp_guest_vmpck_disabled(dev) || !snp_guest_next_seqno(dev))
		return 0; /* nothing will be sent */
	tmp = snp_page_alloc(sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	memcpy(tmp, p->secrets, sizeof(*tmp));
	memcpy(fw, p->st->fw_counter, sizeof(fw));
	cnt = (u8 *)tmp + offsetof(struct snp_secrets_page, os_msg_seqno) + 4 * dev->vmpck_id;
	g = (u64)snp_get_le32(cnt) + 2;
	snp_put_le32(cnt, (u32)g);
	if (fw[dev->vmpck_id] < g)
		fw[dev->vmpck_id] = g;
	r = sim_state_save_launch(p->st, fw, tmp);
	snp_page_free(tmp, sizeof(*tmp));
	return r;
}

/*
 * The guest kernel's own TSC_INFO_REQ at boot (Linux >= 6.14 with Secure
 * TSC), with the VMPCK of the VMPL it runs at, before any process can
 * open /dev/sev-guest. A launch starts with both counters of that VMPCK at
 * 0 and the kernel's message is always its first, so counters at 0 mean
 * "not booted yet": the boot happens here, before the first request of
 * any process after a launch, under the same lock and commit protocol as
 * the ioctls (intent, then outcome), so a process killed in between leaves
 * the boot done and both counters at 2. Fault injection is for the
 * requests of processes and does not apply to it (delay_ms does). A
 * failed boot is a guest that Linux terminates (GHCB_TERM_SECURE_TSC):
 * -EIO here, and the driver has disabled the VMPCK if the numbers may be
 * out of step.
 */
static int kernel_boot(struct sim_platform *p)
{
	const struct sim_params *sp = &p->st->params;
	struct sim_tsc_info_req_msg req = { 0 };
	struct sim_tsc_info_rsp_msg rsp = { 0 };
	struct sim_faults faults;
	struct snp_guest_dev kdev;
	struct sim_guest_binding kbind;
	u64 exitinfo2 = 0;
	u32 k = sp->kernel_vmpl;
	int r, s;

	if (!sp->kernel_tsc_info || k > SNP_VMPCK_MAX ||
	    snp_mem_is_zero(p->secrets->vmpck[k], SNP_VMPCK_LEN) ||
	    le32_to_cpu(p->secrets->os_msg_seqno[k]) != 0 || p->st->fw_counter[k] != 0)
		return 0;

	r = sim_guest_init(&kdev, &kbind, &sim_platform_ops, p, p->secrets, k, p->shared,
			   p->scratch);
	if (r < 0)
		return r;
	r = commit_intent(p, &kdev);
	if (r < 0)
		goto out;
	faults = p->hv.faults;
	/* only the delay, which changes no outcome (crash tests kill during it) */
	p->hv.faults = (struct sim_faults){ .delay_ms = faults.delay_ms };
	/* the caller holds p->dev's lock; kdev's own is taken for the driver */
	mutex_lock(&kdev.cmd_mutex);
	r = snp_guest_send_request(&kdev, SNP_MSG_TSC_INFO_REQ, 1, &req, sizeof(req), &rsp,
				   sizeof(rsp), &exitinfo2);
	mutex_unlock(&kdev.cmd_mutex);
	p->hv.faults = faults;
	if (r > 0) {
		log_debug("sim guest kernel: TSC_INFO_REQ: the exit was refused (%d)", r);
		r = -EIO;
	}
	if (r < 0)
		log_debug("sim guest kernel: TSC_INFO_REQ failed: %s (exitinfo2 0x%llx)",
			  strerror(-r), (unsigned long long)exitinfo2);
	else if (le32_to_cpu(rsp.status))
		log_debug("sim guest kernel: TSC_INFO status 0x%x", le32_to_cpu(rsp.status));
	if (r >= 0 && le32_to_cpu(rsp.status))
		r = -EIO;
	if (p->persist) {
		s = sim_state_save_launch(p->st, p->st->fw_counter, p->secrets);
		if (s < 0 && r >= 0)
			r = s;
	}
out:
	OPENSSL_cleanse(&rsp, sizeof(rsp));
	snp_guest_release(&kdev);
	/* the same page: the kernel's VMPCK may be the caller's, now disabled */
	p->dev.vmpck = snp_mem_is_zero(p->secrets->vmpck[p->vmpck_id], SNP_VMPCK_LEN) ?
			       NULL :
			       p->secrets->vmpck[p->vmpck_id];
	return r < 0 ? -EIO : 0;
}

static int platform_ioctl_locked(struct sim_platform *p, unsigned int cmd,
				 struct snp_ioc_guest_request *arg)
{
	int lfd = -1, r, s;

	lockdep_assert_held(&p->dev.cmd_mutex);
	if (p->persist) {
		lfd = sim_state_lock(p->st);
		if (lfd < 0)
			return lfd;
	}
	/*
	 * The device-time model counts from here, the device being ours (the
	 * lock: one device for every process), and ends after the
	 * bookkeeping below: the state files are the simulator's, which a
	 * real guest does not have, and must not make a device of N us take
	 * longer than N us.
	 */
	if (p->fw.device_ns) {
		p->hv.device_start_ns = snp_monotonic_usec() * 1000;
		p->hv.device_defer = true;
	}
	if (p->persist) {
		r = sync_in(p);
		if (r >= 0)
			r = kernel_boot(p);
		if (r >= 0)
			r = commit_intent(p, &p->dev);
		if (r < 0) {
			sim_hv_device_finish(&p->hv);
			close(lfd);
			r = r == -EBADMSG ? -EIO : r;
			goto out;
		}
	} else {
		r = kernel_boot(p);
		if (r < 0)
			goto out;
	}

	r = snp_guest_ioctl_locked(&p->dev, cmd, arg);

	if (p->persist) {
		/* the outcome, both sides in one record; the caller sees it only after */
		s = sim_state_save_launch(p->st, p->st->fw_counter, p->secrets);
		/* under the lock, as before: one device for every process */
		sim_hv_device_finish(&p->hv);
		close(lfd);
		if (s < 0 && r == 0)
			r = s;
	}
out:
	sim_hv_device_finish(&p->hv);
	p->hv.device_start_ns = 0;
	p->hv.device_defer = false;
	return r;
}

/*
 * The driver's lock covers the whole request here: the secrets page is
 * brought up to date from disk, the sequence number reserved and the
 * result written back under it, as the driver's own state.
 */
int sim_platform_ioctl(struct sim_platform *p, unsigned int cmd, struct snp_ioc_guest_request *arg)
{
	int r;

	if (!p || !arg)
		return -EINVAL;
	mutex_lock(&p->dev.cmd_mutex);
	r = platform_ioctl_locked(p, cmd, arg);
	mutex_unlock(&p->dev.cmd_mutex);
	return r;
}

struct sim_state *sim_platform_state(struct sim_platform *p)
{
	return p->st;
}

struct sim_hv *sim_platform_hv(struct sim_platform *p)
{
	return &p->hv;
}

struct snp_guest_dev *sim_platform_dev(struct sim_platform *p)
{
	return &p->dev;
}

struct snp_secrets_page *sim_platform_secrets(struct sim_platform *p)
{
	return p->secrets;
}

void sim_platform_set_capture(struct sim_platform *p, sim_capture_fn fn, void *userdata)
{
	p->hv.capture = fn;
	p->hv.capture_userdata = userdata;
}
