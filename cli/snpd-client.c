// SPDX-License-Identifier: Apache-2.0
/* GET from snpd's HTTP API over its unix socket (libcurl). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/snpctl.h"

struct buf {
	char *data;
	size_t len;
	size_t max;
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;
	size_t add = size * n;
	char *d;

	if (add > b->max - b->len)
		return 0; /* too large: curl fails the transfer */
	d = realloc(b->data, b->len + add + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, add);
	b->len += add;
	d[b->len] = '\0';
	b->data = d;
	return add;
}

int snpctl_snpd_get(const char *sock, const char *path, long timeout_sec, size_t max,
		    long *ret_status, char **ret_body, size_t *ret_len, char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "", url[512];
	struct buf body = { .max = max };
	long status = 0;
	CURLcode cr;
	CURL *c;

	if ((size_t)snprintf(url, sizeof(url), "http://snpd%s", path) >= sizeof(url)) {
		snprintf(err, errlen, "request path too long");
		return -ENAMETOOLONG;
	}
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "out of memory (curl_easy_init)");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_sec);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (cr != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(cr));
		free(body.data);
		return -ECONNREFUSED;
	}
	*ret_status = status;
	*ret_body = body.data;
	*ret_len = body.len;
	return 0;
}
