// SPDX-License-Identifier: Apache-2.0
#include <time.h>

#include "daemon/snpd.h"
#include "fs/fs.h"
#include "backend/backend.h"

json_t *snpd_status_json(struct snpd *d)
{
	struct snpd_broker_stats bs;
	struct snpd_fs_stats fst = { 0 };
	json_t *o, *lat;
	uint64_t now = 0;

	snpd_broker_get_stats(d->broker, &bs);
	if (d->fs)
		snpd_fs_get_stats(d->fs, &fst);
	sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	lat = json_array();
	for (size_t i = 0; lat && i < sizeof(bs.latency_buckets) / sizeof(bs.latency_buckets[0]);
	     i++)
		json_array_append_new(lat, json_integer((json_int_t)bs.latency_buckets[i]));
	o = json_pack("{s:s, s:s?, s:s, s:I, s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, "
		      "s:b, s:I, s:o*}, s:{s:b, s:s?, s:I, s:I, s:I, s:i, s:i}, s:I, s:I}",
		      "health", bs.dead ? "dead" : "ok", "reason", bs.dead ? bs.dead_reason : NULL,
		      "backend", snp_backend_ops(d->backend)->name, "uptime_sec",
		      (json_int_t)((now - d->started_usec) / 1000000), "reloading", d->reloading,
		      "broker", "submitted", (json_int_t)bs.submitted, "completed",
		      (json_int_t)bs.completed, "failed", (json_int_t)bs.failed, "rate_limited",
		      (json_int_t)bs.rate_limited, "queue_full", (json_int_t)bs.queue_full,
		      "busy_backoffs", (json_int_t)bs.busy_backoffs, "queue_depth",
		      (int)bs.queue_depth, "clients", (int)bs.clients, "device_busy", bs.busy,
		      "last_latency_usec", (json_int_t)bs.last_latency_usec,
		      "latency_ms_buckets_le_1_2_4_to_1024_inf", lat, "filesystem", "mounted",
		      d->fs != NULL, "mountpoint", d->fs ? d->config.mountpoint : NULL, "opens",
		      (json_int_t)fst.opens, "reads", (json_int_t)fst.reads, "errors",
		      (json_int_t)fst.errors, "open_files", (int)fst.open_files, "nonce_inodes",
		      (int)fst.nonce_inodes, "reloads", (json_int_t)d->reloads, "view_generation",
		      (json_int_t)(d->view ? d->view->generation : 0));
	json_object_set_new(json_object_get(o, "broker"), "cancelled",
			    json_integer((json_int_t)bs.cancelled));
	json_object_set_new(json_object_get(o, "broker"), "share_full",
			    json_integer((json_int_t)bs.share_full));
	return o;
}
