/* SPDX-License-Identifier: MIT */
/* libbroker-ws's HTTP head parser and handshake checks (parse.c,
 * handshake.c): the RFC 6455 example key, every refusal, and the bounds at
 * 0, max and max+1. */
#include <errno.h>
#include <string.h>

#include "testutil.h"
#include "util.h"
#include "ws.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="   /* RFC 6455 section 1.3 */

static int parse(const char *head, struct ws_response *r)
{
	const char *why = NULL;
	int e = ws_parse_response(head, strlen(head), r, &why);
	ck_assert(e == 0 || why);
	return e;
}

static struct ws_verdict check(const char *fields, char *const *protocols, size_t n)
{
	char head[1024];
	snprintf(head, sizeof(head), "HTTP/1.1 101 Switching Protocols\r\n%s\r\n", fields);
	struct ws_response r;
	ck_assert_int_eq(parse(head, &r), 0);
	struct ws_verdict v;
	ws_check_upgrade(&r, KEY, protocols, n, &v);
	return v;
}

#define GOOD "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n"

START_TEST(accept_value)
{
	char accept[WS_ACCEPT_LEN + 1];
	ws_accept_for(KEY, accept);
	ck_assert_str_eq(accept, ACCEPT);
	char *auth = ws_basic_auth("Aladdin", "open sesame");   /* RFC 7617 section 2 */
	ck_assert_str_eq(auth, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
	free(auth);
}
END_TEST

START_TEST(upgrade_checks)
{
	char *protocols[] = { "chat", "superchat" };
	struct ws_verdict v = check(GOOD "Sec-WebSocket-Protocol: superchat\r\n", protocols, 2);
	ck_assert_int_eq(v.err, 0);
	ck_assert_str_eq(v.protocol, "superchat");
	v = check("upgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: " ACCEPT "\r\n",
		  NULL, 0);
	ck_assert_int_eq(v.err, 0);
	ck_assert_int_eq(check(GOOD, protocols, 2).err, -EPROTONOSUPPORT);
	v = check(GOOD "Sec-WebSocket-Protocol: mqtt\r\n", protocols, 2);
	ck_assert_int_eq(v.err, -EPROTONOSUPPORT);
	ck_assert_str_eq(v.server_protocol, "mqtt");
	ck_assert_int_eq(check(GOOD "Sec-WebSocket-Protocol: chat\r\n", NULL, 0).err, -EPROTONOSUPPORT);
	ck_assert_int_eq(check(GOOD "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n",
			       protocols, 2).err, -EPROTO);
	ck_assert_int_eq(check("Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n", NULL, 0).err, -EPROTO);
	ck_assert_int_eq(check("Upgrade: websocket\r\nSec-WebSocket-Accept: " ACCEPT "\r\n", NULL, 0).err, -EPROTO);
	ck_assert_int_eq(check("Upgrade: websocket\r\nConnection: Upgrade\r\n", NULL, 0).err, -EPROTO);
	ck_assert_int_eq(check("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x" ACCEPT "\r\n",
			       NULL, 0).err, -EPROTO);
	ck_assert_int_eq(check(GOOD "Sec-WebSocket-Extensions: permessage-deflate\r\n", NULL, 0).err, -EPROTO);

	struct ws_response r;
	struct ws_verdict w;
	ck_assert_int_eq(parse("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n", &r), 0);
	ws_check_upgrade(&r, KEY, NULL, 0, &w);
	ck_assert_int_eq(w.err, -EACCES);
	ck_assert_int_eq(w.http_status, 401);
	ck_assert_int_eq(parse("HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Protocol: chat.v2\r\n\r\n", &r), 0);
	ws_check_upgrade(&r, KEY, protocols, 2, &w);
	ck_assert_int_eq(w.err, -EPROTONOSUPPORT);
	ck_assert_str_eq(w.server_protocol, "chat.v2");
	ck_assert_int_eq(parse("HTTP/1.0 101 Switching Protocols\r\n" GOOD "\r\n", &r), 0);
	ws_check_upgrade(&r, KEY, NULL, 0, &w);
	ck_assert_int_eq(w.err, -EPROTO);
}
END_TEST

START_TEST(strict_heads)
{
	struct ws_response r;
	static const char *const bad[] = {
		"HTTP/1.1 101 OK\n\n",                    /* bare LF */
		"HTTP/1.1 101 OK\r\nA: b\n\r\n",
		"HTTP/2 101 OK\r\n\r\n",
		"HTTP/1.1 1O1 OK\r\n\r\n",
		"HTTP/1.1 099 OK\r\n\r\n",
		"HTTP/1.1 101OK\r\n\r\n",
		"HTTP/1.1 101 O\001K\r\n\r\n",
		"HTTP/1.1 101 OK\r\n folded: x\r\n\r\n",
		"HTTP/1.1 101 OK\r\nNo colon\r\n\r\n",
		"HTTP/1.1 101 OK\r\n: empty\r\n\r\n",
		"HTTP/1.1 101 OK\r\nBad name: x\r\n\r\n",
		"HTTP/1.1 101 OK\r\nA: x\ry\r\n\r\n",
		"HTTP/1.1 101 OK\r\nA: x\001\r\n\r\n",
		"\r\n\r\n",
		"HTTP/1.1 101 OK\r\n\r\nextra\r\n\r\n",
		"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(parse(bad[i], &r) == -EPROTO, "accepted %s", bad[i]);
	ck_assert_int_eq(parse("HTTP/1.1 200\r\nA:\r\nB: \t v \t\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.n_fields, 2);
	ck_assert_int_eq(r.fields[0].value_len, 0);
	ck_assert_int_eq(r.fields[1].value_len, 1);
	ck_assert_int_eq(r.fields[1].value[0], 'v');
}
END_TEST

START_TEST(bounds)
{
	static char buf[WS_MAX_HEAD + 2];
	struct ws_response r;
	ck_assert_int_eq(ws_head_length(buf, 0), 0);
	/* A head of exactly WS_MAX_HEAD bytes, and one byte more. */
	const char *status = "HTTP/1.1 200 OK\r\nX: ";
	size_t sl = strlen(status);
	memcpy(buf, status, sl);
	memset(buf + sl, 'a', WS_MAX_HEAD - sl - 4);
	memcpy(buf + WS_MAX_HEAD - 4, "\r\n\r\n", 4);
	ck_assert_int_eq(ws_head_length(buf, WS_MAX_HEAD), WS_MAX_HEAD);
	const char *why;
	ck_assert_int_eq(ws_parse_response(buf, WS_MAX_HEAD, &r, &why), 0);
	memmove(buf + sl + 1, buf + sl, WS_MAX_HEAD - sl);
	ck_assert_int_eq(ws_head_length(buf, WS_MAX_HEAD + 1), -EMSGSIZE);
	ck_assert_int_eq(ws_parse_response(buf, WS_MAX_HEAD + 1, &r, &why), -EPROTO);
	ck_assert_int_eq(ws_head_length("HTTP/1.1 200 OK\r\n\r", 18), 0);

	/* WS_MAX_HEADERS fields, and one more. */
	char head[4096];
	size_t n = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < WS_MAX_HEADERS; i++)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "F%d: v\r\n", i);
	snprintf(head + n, sizeof(head) - n, "\r\n");
	ck_assert_int_eq(parse(head, &r), 0);
	ck_assert_int_eq(r.n_fields, WS_MAX_HEADERS);
	snprintf(head + n, sizeof(head) - n, "Extra: v\r\n\r\n");
	ck_assert_int_eq(parse(head, &r), -EPROTO);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ws-head");
	TCase *tc = tcase_create("head");
	tcase_add_test(tc, accept_value);
	tcase_add_test(tc, upgrade_checks);
	tcase_add_test(tc, strict_heads);
	tcase_add_test(tc, bounds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
