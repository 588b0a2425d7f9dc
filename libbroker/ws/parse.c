/* SPDX-License-Identifier: MIT */
/* The HTTP/1.x response head that a WebSocket server or an HTTP proxy
 * answers with (RFC 9112), parsed strictly and within fixed bounds: CRLF
 * line ends only, no obsolete line folding, no control characters, tokens
 * for field names, at most WS_MAX_HEADERS fields in WS_MAX_HEAD bytes.
 * This is the code the libFuzzer target fuzz-ws-head drives. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "ws.h"

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool ws_is_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

ssize_t ws_head_length(const char *buf, size_t len)
{
	size_t limit = len < WS_MAX_HEAD ? len : WS_MAX_HEAD;
	for (size_t i = 3; i < limit; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return (ssize_t)i + 1;
	return len >= WS_MAX_HEAD ? -EMSGSIZE : 0;
}

static int fail(const char **ret_why, const char *why)
{
	*ret_why = why;
	return -EPROTO;
}

/* "HTTP/1.x NNN reason" (reason: visible characters, blanks, obs-text). */
static int status_line(const char *p, size_t len, struct ws_response *r, const char **why)
{
	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
		return fail(why, "not an HTTP/1.x status line");
	for (int i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return fail(why, "the status code is not three digits");
	r->minor = p[7] - '0';
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (r->status < 100 || r->status > 599)
		return fail(why, "the status code is out of range");
	if (len > 12 && p[12] != ' ')
		return fail(why, "no space after the status code");
	for (size_t i = 13; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(why, "a control character in the reason phrase");
	}
	return 0;
}

static int field_line(const char *p, size_t len, struct ws_response *r, const char **why)
{
	const char *colon = memchr(p, ':', len);
	if (!colon)
		return fail(why, "a header line without a colon");
	size_t nlen = (size_t)(colon - p);
	if (nlen == 0)
		return fail(why, "an empty header name");
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)p[i]))
			return fail(why, p[0] == ' ' || p[0] == '\t' ? "an obsolete folded header line"
								      : "a header name that is not a token");
	const char *v = colon + 1, *end = p + len;
	for (const char *q = v; q < end; q++) {
		unsigned char c = (unsigned char)*q;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(why, "a control character in a header value");
	}
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (r->n_fields == WS_MAX_HEADERS)
		return fail(why, "too many header lines");
	r->fields[r->n_fields++] = (struct ws_field){ p, v, nlen, (size_t)(end - v) };
	return 0;
}

int ws_parse_response(const char *head, size_t len, struct ws_response *ret, const char **ret_why)
{
	struct ws_response r = { 0 };
	const char *p = head, *end = head + len;
	bool first = true;
	if (len < 4 || len > WS_MAX_HEAD || memcmp(end - 4, "\r\n\r\n", 4) != 0)
		return fail(ret_why, "the head does not end with an empty line");
	for (;;) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf || lf == p || lf[-1] != '\r')
			return fail(ret_why, "a line that does not end with CRLF");
		size_t llen = (size_t)(lf - 1 - p);
		if (memchr(p, '\r', llen) || memchr(p, '\0', llen))
			return fail(ret_why, "a stray CR or NUL inside a line");
		if (llen == 0) {
			if (first)
				return fail(ret_why, "no status line");
			break;
		}
		int e = first ? status_line(p, llen, &r, ret_why) : field_line(p, llen, &r, ret_why);
		if (e < 0)
			return e;
		first = false;
		p = lf + 1;
	}
	if (p + 2 != end)
		return fail(ret_why, "bytes after the empty line");
	*ret = r;
	return 0;
}

size_t ws_field_count(const struct ws_response *r, const char *name, const struct ws_field **ret_first)
{
	size_t n = 0, nlen = strlen(name);
	for (size_t i = 0; i < r->n_fields; i++)
		if (r->fields[i].name_len == nlen && strncasecmp(r->fields[i].name, name, nlen) == 0)
			if (n++ == 0 && ret_first)
				*ret_first = &r->fields[i];
	return n;
}

bool ws_value_has_token(const struct ws_field *f, const char *token)
{
	size_t tlen = strlen(token);
	const char *p = f->value, *end = f->value + f->value_len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *s = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if ((size_t)(p - s) == tlen && strncasecmp(s, token, tlen) == 0)
			return true;
		while (p < end && *p != ',')
			p++;
	}
	return false;
}
