/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated SEV-SNP platform: chip identity and launch parameters
 * (state), the AMD Secure Processor firmware (fw), the hypervisor (hv) with
 * fault injection, and the glue that runs the kernel/ guest driver over
 * them in process (platform).
 *
 * State directory layout (directory 0700, every file 0600):
 *   params         launch and platform parameters, "key=value" lines
 *   secrets        VMPCK0-3, VCEK/VLEK seeds, VMRK (hex), firmware-only
 *   launch-state   one record of both sides of the message protocol: the
 *                  firmware's per-VMPCK counters and the guest's secrets
 *                  page (VMPCKs, OS-area sequence numbers); replaced by a
 *                  single rename, so a crash never separates them
 *                  (directories written before it had "fw-counters" and
 *                  "guest-secrets"; they are read once and removed)
 *   ark.pem ask.pem vcek.pem [asvk.pem vlek.pem] and *-key.pem; the VCEK
 *                  and VLEK keys are those of REPORTED_TCB, derived from
 *                  the seeds (written for other tools; the firmware never
 *                  signs with the files); vcek.pem and vlek.pem are the
 *                  host's copies, handed out with extended reports
 *   faults         optional fault injection, same syntax as SNP_SIM_FAULTS
 *   lock           flock()ed around every request and every change
 *
 * The certificates and reports are shaped as AMD's, names included; what
 * marks the chip as simulated is its keys (no verifier trusts the ARK
 * unless told to) and its chip id, which starts with "SIMULATD".
 */
#ifndef SNP_SIM_SIM_H
#define SNP_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kernel/snp-guest.h"
#include "lib/report.h"

#define SIM_CHIP_ID_PREFIX  "SIMULATD"
#define SIM_SEED_LEN	    48
#define SIM_VMRK_LEN	    32
#define SIM_CERT_BLOB_MAX   SNP_CERTS_MAX_LEN
#define SIM_TCB_STICK_LABEL "SIMULATED-TCB-HASH-STICK"
/* HKDF salts of the VCEK and VLEK private keys (sim_leaf_key_derive()) */
#define SIM_VCEK_KEY_LABEL "SIMULATED-VCEK-P384"
#define SIM_VLEK_KEY_LABEL "SIMULATED-VLEK-P384"

/*
 * The certificate table the host hands out with an extended report: the
 * chip's own (full), none (like most cloud hosts: the request is answered
 * like a plain one), or stale (the leaf of another, older TCB with the
 * real ASK and ARK: a host not updated after a firmware change).
 */
enum sim_host_certs {
	SIM_HOST_CERTS_NONE = 0,
	SIM_HOST_CERTS_FULL = 1,
	SIM_HOST_CERTS_STALE = 2,
};

/*
 * The latest host_crl_* time (9999-12-31T23:59:59Z; a 32-bit time_t's last
 * second where that is less): see sim_params_validate().
 */
#define SIM_CRL_TIME_MAX 253402300799ULL

/* Launch and platform parameters. Everything the report shows. */
struct sim_params {
	enum snp_product product;
	u32 report_version; /* 2, 3 or 5 */
	u64 policy;
	u8 measurement[SNP_MEASUREMENT_SIZE];
	u8 host_data[SNP_HOST_DATA_SIZE];
	u8 family_id[SNP_FAMILY_ID_SIZE];
	u8 image_id[SNP_IMAGE_ID_SIZE];
	u8 id_key_digest[SNP_KEY_DIGEST_SIZE];
	u8 author_key_digest[SNP_KEY_DIGEST_SIZE];
	bool author_key_en;
	u32 guest_svn;
	u64 current_tcb;
	u64 committed_tcb;
	u64 launch_tcb;
	u64 reported_tcb;
	u64 platform_info;
	u8 fw_major, fw_minor, fw_build; /* current firmware */
	u8 committed_major, committed_minor, committed_build;
	u64 launch_mit_vector;
	u64 current_mit_vector;
	u8 cpuid_step;
	bool mask_chip_id;
	bool mask_chip_key;
	bool vlek;			/* a VLEK is installed */
	enum sim_host_certs host_certs; /* what the host answers extended requests with */
	/*
	 * A CRL of the ARK in the host's table (full or stale) when
	 * host_crl_next_update is not 0: empty, signed by the ARK, valid from
	 * host_crl_this_update to host_crl_next_update (seconds since the epoch).
	 */
	u64 host_crl_this_update;
	u64 host_crl_next_update;
	char csp_id[64]; /* VLEK cspId */
	u8 chip_id[SNP_CHIP_ID_SIZE];
	u8 report_id[SNP_REPORT_ID_SIZE];
	u8 report_id_ma[SNP_REPORT_ID_SIZE];
	u32 tsc_factor;
	/*
	 * Secure TSC (SEV_FEATURES SecureTsc): the firmware answers
	 * TSC_INFO_REQ with these values (TSC_FACTOR is tsc_factor above).
	 */
	bool secure_tsc;
	u64 tsc_scale;	/* GUEST_TSC_SCALE, 8.32 fixed point (1 << 32 = 1.0) */
	u64 tsc_offset; /* GUEST_TSC_OFFSET */
	/*
	 * The guest kernel sends TSC_INFO_REQ at boot with the VMPCK of
	 * kernel_vmpl (Linux >= 6.14 with Secure TSC), before any process can
	 * open /dev/sev-guest: that VMPCK's first user request is 3, not 1.
	 */
	bool kernel_tsc_info;
	u32 kernel_vmpl;
};

/* MSG_TSC_INFO_REQ / MSG_TSC_INFO_RSP bodies (snp-abi.md §2.5). */
#define SIM_TSC_INFO_MSG_SIZE 0x80
struct sim_tsc_info_req_msg {
	u8 rsvd[SIM_TSC_INFO_MSG_SIZE]; /* all zero */
} __packed;

struct sim_tsc_info_rsp_msg {
	__le32 status;		 /* 0x00 */
	__le32 rsvd1;		 /* 0x04 */
	__le64 guest_tsc_scale;	 /* 0x08 */
	__le64 guest_tsc_offset; /* 0x10 */
	__le32 tsc_factor;	 /* 0x18 */
	u8 rsvd2[0x64];		 /* 0x1c..0x7f */
} __packed;
SNP_ASSERT_SIZE(struct sim_tsc_info_req_msg, SIM_TSC_INFO_MSG_SIZE);
SNP_ASSERT_SIZE(struct sim_tsc_info_rsp_msg, SIM_TSC_INFO_MSG_SIZE);
SNP_ASSERT_OFFSET(struct sim_tsc_info_rsp_msg, guest_tsc_offset, 0x10);
SNP_ASSERT_OFFSET(struct sim_tsc_info_rsp_msg, tsc_factor, 0x18);

/* Firmware-only secrets. Wiped on every path. */
struct sim_secrets {
	u8 vmpck[4][SNP_VMPCK_LEN];
	u8 vcek_seed[SIM_SEED_LEN];
	u8 vlek_seed[SIM_SEED_LEN];
	u8 vmrk[SIM_VMRK_LEN];
};

/* Chip identity and launch: what a state directory holds. */
struct sim_state {
	char *dir; /* NULL for a purely in-memory state */
	struct sim_params params;
	struct sim_secrets secrets;
	EVP_PKEY *ark_key, *ask_key, *vcek_key, *asvk_key, *vlek_key;
	X509 *ark, *ask, *vcek, *asvk, *vlek;
	u64 fw_counter[4];
};

/* CPUID of the simulated product. */
u8 sim_product_family(enum snp_product p);
u8 sim_product_model(enum snp_product p);
/* CPUID Fn0000_0001 EAX as in the secrets page. */
u32 sim_product_fms(enum snp_product p, u8 stepping);
size_t sim_product_chip_id_len(enum snp_product p);
/* The VCEK/VLEK productName extension as KDS spells it (identity.c). */
const char *sim_product_name_ext(enum snp_product p, bool vlek);

/* Defaults for @product (TCBs, firmware version, policy, ...). */
void sim_params_default(struct sim_params *p, enum snp_product product);

/*
 * Set one parameter by name ("policy", "measurement", "current_tcb",
 * "tcb" for all four TCBs, "fw_version" as MAJOR.MINOR.BUILD, ...), as in
 * the params file and `snpctl sim init --NAME VALUE`. Returns 0, -ENOENT
 * for an unknown name, -EINVAL/-ERANGE for a bad value.
 */
int sim_params_set(struct sim_params *p, const char *name, const char *value);
/* The names sim_params_set() knows, NULL-terminated; and a help line each. */
extern const char *const sim_param_names[];
const char *sim_param_help(const char *name);
/* Write every parameter as "key=value" lines. */
int sim_params_write(const struct sim_params *p, FILE *f);
/* Range checks across fields (TCB layout, report version, ...). */
int sim_params_validate(const struct sim_params *p, char *err, size_t errlen);

/*
 * Create a new state: fresh keys and certificates, secrets and launch
 * values. With @dir, it is written there (the directory is created 0700;
 * -EEXIST when it already holds a state and !@force). Returns 0 and a new
 * state in *ret (free with sim_state_free()).
 */
int sim_state_create(const char *dir, const struct sim_params *params, bool force,
		     struct sim_state **ret, char *err, size_t errlen);
/* Load the state from @dir; when @create and there is none, create it with defaults. */
int sim_state_load(const char *dir, bool create, struct sim_state **ret, char *err, size_t errlen);
struct sim_state *sim_state_free(struct sim_state *st);
/*
 * "Relaunch" the guest: new VMPCKs, VMRK and report id, both message
 * counters back to zero, the guest's secrets page recreated. Keys and
 * certificates stay.
 */
int sim_state_relaunch(struct sim_state *st, char *err, size_t errlen);
/*
 * The launch record, under sim_state_lock(): load fills st->fw_counter and
 * (unless NULL) the guest's secrets page, converting an older directory and
 * finishing a relaunch whose writer died (st->secrets must have been read
 * under the same lock); save writes @fw_counter and @page as one atomic
 * replacement (no-op for in-memory states).
 */
int sim_state_load_launch(struct sim_state *st, struct snp_secrets_page *page);
int sim_state_save_launch(const struct sim_state *st, const u64 fw_counter[4],
			  const struct snp_secrets_page *page);
/* Reload the firmware secrets (VMPCKs, seeds, VMRK) from the directory. */
int sim_state_load_secrets(struct sim_state *st);
/*
 * A firmware update (or a host that changed its certificate table) made on
 * disk while the state is open: take the current, committed and reported
 * TCB, the firmware versions, host_certs and host_crl_* from the params
 * file; the launch TCB and everything that identifies the chip stay. A new
 * REPORTED_TCB takes its own VCEK (VLEK) key and certificate, as the
 * firmware after an update. Returns 1 when something
 * changed, 0 when not (or the file is not a firmware update of this chip),
 * or a negative errno. A file that does not parse or whose values
 * sim_params_validate() refuses is not taken (0): then why is in @ret_why
 * (may be NULL), else "". Call with the state locked.
 */
int sim_state_sync_firmware(struct sim_state *st, char *ret_why, size_t why_len);
/* Write the guest's initial view of the secrets page. */
void sim_state_make_secrets_page(const struct sim_state *st, struct snp_secrets_page *page);
/* Certificate (PEM) of the chain into @f: "ark", "ask", "vcek", "asvk", "vlek". */
X509 *sim_state_cert(const struct sim_state *st, const char *name);
/* Path helper: "<dir>/<name>" into a new string. */
char *sim_state_path(const struct sim_state *st, const char *name);
/* Atomic 0600 write / bounded read of a file in the state directory. */
int sim_state_write_file(const struct sim_state *st, const char *name, const void *data,
			 size_t len);
int sim_state_read_file(const struct sim_state *st, const char *name, size_t max, u8 **ret,
			size_t *ret_len);
/* flock() the state directory; returns the fd to close() for unlocking. */
int sim_state_lock(const struct sim_state *st);

/* ---- firmware ---------------------------------------------------------- */

struct sim_presigned;

struct sim_fw {
	struct sim_state *st;
	u8 scratch[SNP_PAGE_SIZE]; /* plaintext, wiped after use */
	u64 nr_requests;
	u64 nr_rejected;
	/*
	 * Device-time model, for benchmarks only (both off unless set):
	 * every guest message that reaches the firmware takes device_ns of
	 * wall time without using CPU for it (struct sim_hv: from when the
	 * device is the caller's, the simulator's own bookkeeping included),
	 * and a report whose signed part equals one
	 * of @presigned's byte for byte takes that report's signature instead
	 * of signing again (sim_presigned_load()).
	 */
	u64 device_ns;
	const struct sim_presigned *presigned;
	u64 nr_presigned; /* reports that took a signature made ahead */
	u64 nr_signed;	  /* reports signed when asked */
};

void sim_fw_init(struct sim_fw *fw, struct sim_state *st);

/*
 * Reports signed ahead, for the device-time model of benchmarks: a file of
 * whole signed reports (SNP_REPORT_SIZE bytes each, at most
 * SIM_PRESIGNED_MAX), made by this simulator for the nonces a benchmark
 * will send. A lookup matches only a report whose signed part is the one
 * the firmware just built, byte for byte (REPORT_DATA, VMPL and every
 * other field), so the signature handed out is the genuine signature of
 * exactly that report. 0 or -errno with a message in @err.
 */
#define SIM_PRESIGNED_MAX 65536
int sim_presigned_load(const char *path, struct sim_presigned **ret, char *err, size_t errlen);
struct sim_presigned *sim_presigned_free(struct sim_presigned *ps);
/* The signature for the signed part of @r, or NULL when none was made ahead. */
const struct snp_ecdsa_sig *sim_presigned_find(const struct sim_presigned *ps,
					       const struct snp_report *r);
/*
 * Process one guest message exactly as snp-abi.md §2.1 says. @req is the
 * firmware's copy of the request page. Returns the firmware status
 * (0 = a response was written to @resp and the counter moved by 2).
 */
u32 sim_fw_guest_request(struct sim_fw *fw, const struct snp_msg *req, struct snp_msg *resp);

/* Build and sign a report (used by the request path and tests). */
u32 sim_fw_make_report(struct sim_fw *fw, const u8 report_data[64], u32 vmpl, u32 key_sel,
		       struct snp_report *out);
/* MSG_KEY_REQ body -> status and key; @msg_vmpck is the VMPCK the message used. */
u32 sim_fw_derive_key(struct sim_fw *fw, const struct snp_key_req_msg *req, u32 msg_vmpck,
		      u8 key[SNP_DERIVED_KEY_LEN]);
/*
 * The MSG_TSC_INFO_RSP body for a TSC_INFO_REQ body of @in_len bytes:
 * INVALID_PARAM (no response) unless Secure TSC is on and the body is 128
 * bytes; a status INVALID_PARAM inside the response for non-zero bytes.
 */
u32 sim_fw_tsc_info(struct sim_fw *fw, const u8 *in, size_t in_len,
		    struct sim_tsc_info_rsp_msg *rsp);
/* The MIX_DATA of a request (for tests and the known-answer oracle). */
u32 sim_fw_mix_data(struct sim_fw *fw, const struct snp_key_req_msg *req, u32 msg_vmpck,
		    struct snp_key_mix_data *mix, u8 root[SIM_SEED_LEN], size_t *root_len);

/* ---- hypervisor -------------------------------------------------------- */

/*
 * Fault injection. Counters count down: "busy=3" answers BUSY three times.
 * "after=N" lets the first N exits through untouched.
 */
struct sim_faults {
	u32 after;
	u32 busy;
	u32 certs_small;
	/*
	 * with certs_small: the pages the host asks for (a table of that
	 * size; fewer than the area given: a host contradicting itself);
	 * 0: the table's own size, at least one page more than given.
	 * 1 to SIM_CERTS_PAGES_MAX, so that the bytes fit the u32 certs_len.
	 */
	u32 certs_pages;
	u32 fw_error;	   /* number of times */
	u32 fw_error_code; /* default INVALID_PARAM */
	u32 replay;
	u32 tamper;
	u32 tamper_bit; /* bit of the response page to flip; default in the payload */
	u32 drop;
	u32 delay_ms; /* every exit */
	/*
	 * refuse_exit: refuse the exit itself (SW_EXITINFO1 = 1, nothing
	 * forwarded) N times, with SW_EXITINFO2 = refuse_info2: an event the
	 * guest is asked to take (Linux: a valid #GP/#UD exception,
	 * 0x80000b0d / 0x80000306, is ES_EXCEPTION; anything else,
	 * ES_VMM_ERROR). Linux's guest driver returns that positive value from
	 * its ioctl with errno untouched.
	 */
	u32 refuse_exit;
	u32 refuse_info2;
};

#define SIM_CERTS_PAGES_MAX (UINT32_MAX / SNP_PAGE_SIZE)

/*
 * "busy=2,tamper=1,tamper_bit=800,delay_ms=5" -> faults (added to @f).
 * -ENOENT an unknown name, -EINVAL a bad value (certs_pages 0 or more than
 * SIM_CERTS_PAGES_MAX).
 */
int sim_faults_parse(const char *s, struct sim_faults *f);

typedef void (*sim_capture_fn)(void *userdata, u64 exit_code, const struct snp_msg *req,
			       const struct snp_msg *resp, u64 exitinfo2);

struct sim_hv {
	struct sim_fw *fw;
	struct sim_faults faults;
	void *guest_shared; /* the only guest memory the hv may touch */
	size_t guest_shared_len;
	u8 *certs; /* cert table + blobs the host hands out */
	size_t certs_len;
	struct snp_msg fw_req, fw_resp; /* firmware pages */
	struct snp_msg last_resp;
	bool have_last;
	void (*sleep_ms)(unsigned int ms);
	/*
	 * Device-time model (fw->device_ns), set by the platform around one
	 * request: @device_start_ns, the caller's start (CLOCK_MONOTONIC),
	 * counts for the first message that reaches the firmware instead of
	 * its arrival here; with @device_defer, the wait of a message is left
	 * to the platform (sim_hv_device_finish()), which waits after its own
	 * bookkeeping (state files): that work then falls within the device
	 * time, as none of it exists on a real guest.
	 */
	u64 device_start_ns;
	u64 device_due_ns; /* a deferred wait: the answer is ready then; 0: none */
	bool device_defer;
	sim_capture_fn capture;
	void *capture_userdata;
	u64 nr_exits, nr_faults;
};

int sim_hv_init(struct sim_hv *hv, struct sim_fw *fw, void *shared, size_t shared_len);
void sim_hv_release(struct sim_hv *hv);
/* Rebuild the host's certificate table after the firmware or host_certs changed. */
int sim_hv_refresh_certs(struct sim_hv *hv);
/* Handle a VMGEXIT of the guest whose GHCB is @ghcb (in shared memory). */
int sim_hv_vmgexit(struct sim_hv *hv, struct snp_ghcb *ghcb);
/* Wait for a deferred device time (hv->device_due_ns), if any, and clear it. */
void sim_hv_device_finish(struct sim_hv *hv);

/* ---- crypto used by the platform and the firmware ---------------------- */

int sim_aes_gcm_encrypt(const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len, const u8 *in,
			size_t len, u8 *out, u8 *tag);
int sim_aes_gcm_decrypt(const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len, const u8 *in,
			size_t len, u8 *out, const u8 *tag);
/* SP 800-108 counter-mode HMAC-SHA256 of snp-abi.md §6.2. */
int sim_kdf(const u8 *root, size_t root_len, const struct snp_key_mix_data *mix,
	    u8 out[SNP_DERIVED_KEY_LEN]);
/* The VCEK/VLEK root for @tcb: HMAC-SHA384(seed, SIM_TCB_STICK_LABEL || tcb LE64). */
int sim_tcb_root(const u8 seed[SIM_SEED_LEN], u64 tcb, u8 out[SIM_SEED_LEN]);
/*
 * The VCEK (@vlek: the VLEK) private key of @tcb, a function of the chip's
 * (the CSP's) @seed and the TCB alone, as on hardware, where the firmware
 * derives a different VCEK for every TCB: HKDF-SHA384 with IKM @seed, salt
 * SIM_VCEK_KEY_LABEL (SIM_VLEK_KEY_LABEL), info @tcb LE64, 64 bytes of
 * output OKM; the P-384 scalar d = 1 + (OKM mod (n - 1)). 0 and a new key
 * in *ret, or -errno.
 */
int sim_leaf_key_derive(const u8 seed[SIM_SEED_LEN], bool vlek, u64 tcb, EVP_PKEY **ret);
/* ECDSA P-384/SHA-384 over @len bytes, R/S as 72-byte little-endian fields. */
int sim_sign_report(EVP_PKEY *key, const u8 *data, size_t len, struct snp_ecdsa_sig *sig);

/* ---- identity (certificates) -------------------------------------------- */

/*
 * A new chip identity: ARK, ASK (ASVK) keys and certificates, and the
 * VCEK (VLEK) of REPORTED_TCB; st->secrets' seeds must be set.
 */
int sim_identity_generate(struct sim_state *st, char *err, size_t errlen);
/*
 * st->vcek_key (and st->vlek_key with a VLEK) as the keys of REPORTED_TCB,
 * derived from the seeds (sim_leaf_key_derive()). 0 or -errno.
 */
int sim_identity_derive_keys(struct sim_state *st);
/* The VCEK/VLEK keys and certificates again, of REPORTED_TCB (after a TCB change). */
int sim_identity_reissue_leaf(struct sim_state *st, char *err, size_t errlen);
/* Are the VCEK (and VLEK) certificates of @st's REPORTED_TCB? */
bool sim_identity_leaf_is_current(const struct sim_state *st);
/*
 * A VCEK (VLEK) certificate of the chip, same hwID, issued by the same ASK
 * (ASVK), for another TCB, with that TCB's key: every non-zero SPL of
 * REPORTED_TCB one lower (or, when all are zero, the bootloader SPL 1).
 * What a host not updated since a firmware change hands out; its key does
 * not verify the reports of the current TCB. New; NULL on failure.
 */
X509 *sim_identity_stale_leaf(const struct sim_state *st);
/*
 * A VCEK (VLEK with @vlek) certificate of the chip with @key, for @tcb
 * (NULL: REPORTED_TCB), issued by the ASK (ASVK), as the chip's are: for
 * tests of what a verifier makes of a leaf of any key and TCB. New; NULL
 * on failure.
 */
X509 *sim_identity_make_leaf(const struct sim_state *st, EVP_PKEY *key, bool vlek,
			     const struct snp_tcb_parts *tcb);
/*
 * An empty CRL of @st's ARK, signed by it as KDS's are (RSASSA-PSS,
 * SHA-384, MGF1-SHA-384, salt 48), with thisUpdate @this_update and
 * nextUpdate @next_update (seconds since the epoch). New; NULL on failure.
 */
X509_CRL *sim_identity_crl(const struct sim_state *st, time_t this_update, time_t next_update);

/* ---- the whole platform with the guest driver ---------------------------- */

/*
 * The simulator's side of the driver's link-time platform functions
 * (kernel/snp-guest.h: snp_guest_plat_*): one process holds several
 * platforms (the persistent one, the booted guest, tests), so
 * sim/guest-platform.c dispatches each call through the table bound to
 * the device. Userspace only: the kernel module calls straight through.
 */
struct snp_platform_ops {
	int (*vmgexit)(void *priv, struct snp_ghcb *ghcb);
	/*
	 * Sleep @ms between BUSY retries, or less with a fatal signal pending
	 * (Linux: schedule_timeout_killable()); 0 after the whole sleep,
	 * -EINTR with a fatal signal pending. A process here has no such
	 * state (a fatal signal ends it): the simulator's platforms always
	 * sleep and return 0; a test's platform injects the signal.
	 */
	int (*sleep_killable)(void *priv, unsigned int ms);
	/*
	 * A monotonic clock in nanoseconds that times the BUSY retry budget:
	 * ktime_get_ns() (CLOCK_MONOTONIC), or a test's virtual clock, which
	 * sleep_killable and vmgexit then advance.
	 */
	u64 (*clock_ns)(void *priv);
	int (*aead_encrypt)(void *priv, const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len,
			    const u8 *in, size_t len, u8 *out, u8 *tag);
	int (*aead_decrypt)(void *priv, const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len,
			    const u8 *in, size_t len, u8 *out, const u8 *tag);
	/* Optional. */
	void (*event)(void *priv, enum snp_guest_event ev, u32 vmpck_id, u64 info);
};

/* Storage for the binding; lives as long as the device. */
struct sim_guest_binding {
	const struct snp_platform_ops *ops;
	void *priv;
};

/*
 * snp_guest_init() with @ops and @priv bound through @b. Returns 0, or
 * -EINVAL for a missing argument or operation (event is optional).
 */
int sim_guest_init(struct snp_guest_dev *dev, struct sim_guest_binding *b,
		   const struct snp_platform_ops *ops, void *priv, struct snp_secrets_page *secrets,
		   u32 vmpck_id, struct snp_guest_shared *shared,
		   struct snp_guest_private *scratch);
/* The table a device was bound to. */
const struct snp_platform_ops *sim_guest_ops(const struct snp_guest_dev *dev);

struct sim_platform;

struct sim_open_opts {
	u32 vmpck_id;
	bool create;			/* create the state if the dir has none */
	unsigned int retry_interval_ms; /* 0: driver default (2 s) */
	unsigned int retry_timeout_ms;	/* 0: driver default (60 s) */
	const char *faults;		/* fault string, or NULL */
	bool faults_from_env;		/* also read SNP_SIM_FAULTS and <dir>/faults */
	unsigned int device_us;		/* benchmarks: device time per guest message */
	const char *presigned;		/* benchmarks: file of reports signed ahead */
};

/*
 * Fill @opts from the environment of the guest side: SNP_SIM_VMPCK (0..3)
 * and SNP_SIM_RETRY_MS ("INTERVAL,TIMEOUT" of the BUSY retry); for
 * benchmarks only, SNP_SIM_DEVICE_US (device time per guest message, at
 * most 10 s) and SNP_SIM_PRESIGNED (a file of reports signed ahead, see
 * sim_presigned_load()). 0 or -EINVAL with a message in @err.
 */
int sim_open_opts_from_env(struct sim_open_opts *opts, char *err, size_t errlen);

/*
 * Open the platform of state directory @dir, or an in-memory platform
 * around @st when @dir is NULL (@st is then borrowed and nothing is
 * written). With a directory, every request runs under the directory lock
 * and reloads the firmware secrets and the launch record, so processes
 * take turns and never reuse a sequence number. Before the request is sent
 * the record is committed as if it had succeeded (both counters past it),
 * after it the real outcome: a process killed at any point leaves both
 * sides in step, as on hardware, where neither counter dies with a process.
 * *ret is new; free it with sim_platform_free().
 */
int sim_platform_open(const char *dir, struct sim_state *st, const struct sim_open_opts *opts,
		      struct sim_platform **ret, char *err, size_t errlen);
struct sim_platform *sim_platform_free(struct sim_platform *p);
/*
 * The /dev/sev-guest ioctl over the simulated platform: 0, -errno, or as
 * Linux the positive ES_VMM_ERROR (2) / ES_EXCEPTION (4) of an exit the
 * hypervisor refused (fault refuse_exit).
 */
int sim_platform_ioctl(struct sim_platform *p, unsigned int cmd, struct snp_ioc_guest_request *arg);

struct sim_state *sim_platform_state(struct sim_platform *p);
struct sim_hv *sim_platform_hv(struct sim_platform *p);
struct snp_guest_dev *sim_platform_dev(struct sim_platform *p);
struct snp_secrets_page *sim_platform_secrets(struct sim_platform *p);
void sim_platform_set_capture(struct sim_platform *p, sim_capture_fn fn, void *userdata);

#endif /* SNP_SIM_SIM_H */
