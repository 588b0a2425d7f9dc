/* SPDX-License-Identifier: MIT */
/* libFuzzer: libbroker-ws's HTTP response head parser and the handshake
 * checks on any bytes.  Every field it hands out must lie inside the head
 * (ASan checks the reads), the head length must be bounded, and a verdict
 * must be one of the documented errors. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so reading past it is caught. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	ssize_t head = ws_head_length(buf, size);
	if (head > WS_MAX_HEAD || (head < 0 && head != -EMSGSIZE) || head > (ssize_t)size)
		__builtin_trap();
	size_t len = head > 0 ? (size_t)head : size;   /* also whole inputs that are not a head */
	struct ws_response r;
	const char *why = NULL;
	if (ws_parse_response(buf, len, &r, &why) == 0) {
		if (r.n_fields > WS_MAX_HEADERS || r.status < 100 || r.status > 599)
			__builtin_trap();
		for (size_t i = 0; i < r.n_fields; i++) {
			const struct ws_field *f = &r.fields[i];
			if (f->name < buf || f->name + f->name_len > buf + len || f->value < buf ||
			    f->value + f->value_len > buf + len || !f->name_len)
				__builtin_trap();
			ws_value_has_token(f, "upgrade");
		}
		char *protocols[] = { (char *)"chat", (char *)"superchat" };
		struct ws_verdict v;
		ws_check_upgrade(&r, "dGhlIHNhbXBsZSBub25jZQ==", protocols, 2, &v);
		if (v.err != 0 && v.err != -EPROTO && v.err != -EPROTONOSUPPORT && v.err != -EACCES)
			__builtin_trap();
		if (v.err == 0 && r.status != 101)
			__builtin_trap();
		if (strlen(v.protocol) >= sizeof(v.protocol) || strlen(v.server_protocol) >= sizeof(v.server_protocol))
			__builtin_trap();
	} else if (!why) {
		__builtin_trap();
	}
	free(buf);
	return 0;
}
