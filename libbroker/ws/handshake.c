/* SPDX-License-Identifier: MIT */
/* The opening handshake (RFC 6455 section 4): the key and its accept value,
 * Basic credentials, and the checks of the server's answer.  No I/O here,
 * so the fuzz target can drive the checks too. */
#include <errno.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ws.h"

static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void ws_accept_for(const char *key, char *accept)
{
	struct sha1_ctx c;
	uint8_t digest[SHA1_DIGEST_SIZE];
	sha1_init(&c);
	sha1_update(&c, strlen(key), (const uint8_t *)key);
	sha1_update(&c, sizeof(guid) - 1, (const uint8_t *)guid);
	sha1_digest(&c, sizeof(digest), digest);
	base64_encode_raw(accept, sizeof(digest), digest);
	accept[WS_ACCEPT_LEN] = 0;
}

char *ws_basic_auth(const char *user, const char *password)
{
	size_t ulen = strlen(user), plen = password ? strlen(password) : 0;
	size_t raw = ulen + 1 + plen;
	char *pair = malloc(raw + 1);
	char *out = malloc(6 + BASE64_ENCODE_RAW_LENGTH(raw) + 1);
	if (!pair || !out) {
		free(pair);
		free(out);
		return NULL;
	}
	snprintf(pair, raw + 1, "%s:%s", user, password ? password : "");
	memcpy(out, "Basic ", 6);
	base64_encode_raw(out + 6, raw, (const uint8_t *)pair);
	out[6 + BASE64_ENCODE_RAW_LENGTH(raw)] = 0;
	explicit_bzero(pair, raw);
	free(pair);
	return out;
}

static void copy_value(char *dst, size_t size, const struct ws_field *f)
{
	size_t n = f->value_len < size - 1 ? f->value_len : size - 1;
	memcpy(dst, f->value, n);
	dst[n] = 0;
}

static void refuse(struct ws_verdict *v, int err, const char *why)
{
	v->err = err;
	v->why = why;
}

/* The one value of name, or NULL (none, or more than one: refused). */
static const struct ws_field *single(const struct ws_response *r, const char *name, bool *ret_many)
{
	const struct ws_field *f = NULL;
	size_t n = ws_field_count(r, name, &f);
	*ret_many = n > 1;
	return n == 1 ? f : NULL;
}

static void check_protocol(const struct ws_response *r, char *const *protocols, size_t n,
			   struct ws_verdict *v)
{
	bool many;
	const struct ws_field *f = single(r, "Sec-WebSocket-Protocol", &many);
	if (many)
		return refuse(v, -EPROTO, "more than one Sec-WebSocket-Protocol in the answer");
	if (!f) {
		if (n)
			refuse(v, -EPROTONOSUPPORT, "the server chose none of the protocols offered");
		return;
	}
	copy_value(v->server_protocol, sizeof(v->server_protocol), f);
	for (size_t i = 0; i < n; i++)
		if (strlen(protocols[i]) == f->value_len &&
		    memcmp(protocols[i], f->value, f->value_len) == 0) {
			copy_value(v->protocol, sizeof(v->protocol), f);
			v->server_protocol[0] = 0;
			return;
		}
	refuse(v, -EPROTONOSUPPORT, n ? "the server chose a protocol that was not offered"
				      : "the server chose a protocol, and none was offered");
}

void ws_check_upgrade(const struct ws_response *r, const char *key, char *const *protocols,
		      size_t n_protocols, struct ws_verdict *ret)
{
	struct ws_verdict v = { .http_status = r->status };
	bool many;
	const struct ws_field *f;
	if (r->status != 101) {
		/* A refusal may still name the protocol the server wants. */
		if ((f = single(r, "Sec-WebSocket-Protocol", &many)))
			copy_value(v.server_protocol, sizeof(v.server_protocol), f);
		if (r->status == 401 || r->status == 403)
			refuse(&v, -EACCES, r->status == 401 ? "the server wants credentials (401)"
							     : "the server refused access (403)");
		else if (*v.server_protocol || r->status == 400)
			refuse(&v, *v.server_protocol ? -EPROTONOSUPPORT : -EPROTO,
			       "the server refused the upgrade (400)");
		else
			refuse(&v, -EPROTO, "the server did not switch protocols");
		*ret = v;
		return;
	}
	if (r->minor != 1)
		refuse(&v, -EPROTO, "a 101 answer that is not HTTP/1.1");
	else if (!(f = single(r, "Upgrade", &many)) || f->value_len != 9 ||
		 strncasecmp(f->value, "websocket", 9) != 0)
		refuse(&v, -EPROTO, "no Upgrade: websocket in the answer");
	else if (!(f = single(r, "Connection", &many)) || !ws_value_has_token(f, "upgrade"))
		refuse(&v, -EPROTO, "no Connection: Upgrade in the answer");
	else if (ws_field_count(r, "Sec-WebSocket-Extensions", NULL))
		refuse(&v, -EPROTO, "the server chose an extension, and none was offered");
	else {
		char accept[WS_ACCEPT_LEN + 1];
		ws_accept_for(key, accept);
		if (!(f = single(r, "Sec-WebSocket-Accept", &many)) || f->value_len != WS_ACCEPT_LEN ||
		    memcmp(f->value, accept, WS_ACCEPT_LEN) != 0)
			refuse(&v, -EPROTO, "a wrong or missing Sec-WebSocket-Accept");
		else
			check_protocol(r, protocols, n_protocols, &v);
	}
	*ret = v;
}
