/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"

enum { F_STR = BP_ITEM_STR, F_BYTES = BP_ITEM_BYTES };

struct desc {
	const char *name;
	uint16_t fixed;
	uint8_t nfields;
	uint8_t kind[BP_FIELDS_MAX];
	uint8_t min_fds, max_fds;
	uint8_t optional;    /* how many of the last fields may be absent */
};

#define S F_STR
#define B F_BYTES
static const struct desc descs[] = {
	[BP_HELLO]         = { "HELLO", sizeof(struct bp_hello), 2, { S, S }, 0, 0, 1 },
	[BP_REGISTER]      = { "REGISTER", 0, 1, { S }, 0, 0 },
	[BP_TRANSFER]      = { "TRANSFER", sizeof(struct bp_transfer), 2, { S, B }, 1, 1 },
	[BP_LIST]          = { "LIST", sizeof(struct bp_list), 1, { S }, 0, 0 },
	[BP_SHOW]          = { "SHOW", 0, 2, { S, S }, 0, 0 },
	[BP_CLAIM]         = { "CLAIM", 0, 1, { S }, 0, 0 },
	[BP_STATUS]        = { "STATUS", 0, 0, { 0 }, 0, 0 },
	[BP_APPS]          = { "APPS", 0, 0, { 0 }, 0, 0 },
	[BP_MONITOR]       = { "MONITOR", 0, 0, { 0 }, 0, 0 },
	[BP_TRIGGER]       = { "TRIGGER", 0, 2, { S, S }, 0, 0 },
	[BP_DROP]          = { "DROP", 0, 2, { S, S }, 0, 0 },
	[BP_RELOAD]        = { "RELOAD", 0, 0, { 0 }, 0, 0 },
	[BP_ATTACH]        = { "ATTACH", 0, 0, { 0 }, 1, 1 },
	[BP_TRANSFER_MANY] = { "TRANSFER_MANY", sizeof(struct bp_many), 1, { B }, 1, BP_FDS_MAX },
	[BP_CLAIM_MANY]    = { "CLAIM_MANY", sizeof(struct bp_claim_many), 1, { B }, 0, 0 },
	[BP_OK]            = { "OK", sizeof(struct bp_ok), 0, { 0 }, 0, 0 },
	[BP_ERROR]         = { "ERROR", sizeof(struct bp_error), 1, { S }, 0, 0 },
	[BP_HELLO_REPLY]   = { "HELLO_REPLY", sizeof(struct bp_hello_reply), 1, { S }, 0, 0 },
	[BP_INFO]          = { "INFO", sizeof(struct bp_info), 5, { S, S, B, S, S }, 0, 1 },
	[BP_END]           = { "END", sizeof(struct bp_end), 0, { 0 }, 0, 0 },
	[BP_STATUS_REPLY]  = { "STATUS_REPLY", sizeof(struct bp_status), 2, { S, S }, 0, 0 },
	[BP_APP_INFO]      = { "APP_INFO", sizeof(struct bp_app_info), 8, { S, S, S, S, S, S, S, B }, 0, 0 },
	[BP_EVENT]         = { "EVENT", sizeof(struct bp_event), 3, { S, S, S }, 0, 0 },
	[BP_RESULTS]       = { "RESULTS", sizeof(struct bp_many), 1, { B }, 0, BP_FDS_MAX },
	[BP_ACT_HELLO]     = { "ACT_HELLO", sizeof(struct bp_act_hello), 0, { 0 }, 0, 0 },
	[BP_HANDBACK]      = { "HANDBACK", sizeof(struct bp_handback), 3, { S, S, B }, 1, 1 },
	[BP_BATCH_END]     = { "BATCH_END", sizeof(struct bp_end), 0, { 0 }, 0, 0 },
	[BP_HANDBACK_ACK]  = { "HANDBACK_ACK", sizeof(struct bp_handback_ack), 0, { 0 }, 0, 0 },
	[BP_HANDBACK_MANY] = { "HANDBACK_MANY", sizeof(struct bp_many), 2, { S, B }, 1, BP_FDS_MAX },
	[BP_ACK_MANY]      = { "ACK_MANY", sizeof(struct bp_many), 1, { B }, 0, 0 },
	[BP_KEEPER]        = { "KEEPER", sizeof(struct bp_keeper), 0, { 0 }, 0, 1 },
	[BP_KEEPER_CONNECT] = { "KEEPER_CONNECT", sizeof(struct bp_keeper_connect), 6, { S, S, S, S, S, S }, 0, 1 },
	[BP_KEEPER_REPLY]  = { "KEEPER_REPLY", sizeof(struct bp_keeper_reply), 7, { S, S, S, S, S, S, S }, 0, 1 },
};
#undef S
#undef B

_Static_assert(sizeof(struct bp_header) == 16, "header is 16 bytes");
_Static_assert(sizeof(struct bp_status) % 8 == 0, "fixed parts are 8-byte multiples");
_Static_assert(sizeof(struct bp_info) % 8 == 0, "fixed parts are 8-byte multiples");
_Static_assert(sizeof(struct bp_event) % 8 == 0, "fixed parts are 8-byte multiples");
_Static_assert(sizeof(struct bp_keeper_reply) % 8 == 0, "fixed parts are 8-byte multiples");
_Static_assert(sizeof(struct bp_result) % 8 == 0, "fixed parts are 8-byte multiples");

static const struct desc *lookup(unsigned type)
{
	if (type >= sizeof(descs) / sizeof(descs[0]) || !descs[type].name)
		return NULL;
	return &descs[type];
}

const char *bp_type_name(unsigned type)
{
	const struct desc *d = lookup(type);
	return d ? d->name : NULL;
}

/* Size of n fields encoded, or -EINVAL/-EMSGSIZE. */
static ssize_t fields_size(const struct bp_field *f, const uint8_t *kind, unsigned n)
{
	size_t size = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t flen = f[i].len + (kind[i] == F_STR);
		if (kind[i] == F_STR && f[i].ptr && memchr(f[i].ptr, 0, f[i].len))
			return -EINVAL;
		if (flen > BP_MSG_MAX)
			return -EMSGSIZE;
		size += sizeof(uint32_t) + flen;
	}
	return (ssize_t)size;
}

static uint8_t *fields_put(uint8_t *p, const struct bp_field *f, const uint8_t *kind, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint32_t flen = f[i].len + (kind[i] == F_STR);
		memcpy(p, &flen, sizeof(flen));
		p += sizeof(flen);
		if (f[i].len)
			memcpy(p, f[i].ptr, f[i].len);
		p += f[i].len;
		if (kind[i] == F_STR)
			*p++ = 0;
	}
	return p;
}

/* Read n fields from p[*off..len) into f, of which the last optional may
 * be absent at the end: how many were there, or -EBADMSG if they do not fit. */
static int fields_get(const uint8_t *p, size_t len, size_t *off, struct bp_field *f,
		      const uint8_t *kind, unsigned n, unsigned optional)
{
	size_t o = *off;
	unsigned i;
	for (i = 0; i < n; i++) {
		uint32_t flen;
		if (o == len && i + optional >= n)
			break;   /* the optional fields are absent */
		if (len - o < sizeof(flen))
			return -EBADMSG;
		memcpy(&flen, p + o, sizeof(flen));
		o += sizeof(flen);
		if (flen > len - o)
			return -EBADMSG;
		const char *s = (const char *)p + o;
		if (kind[i] == F_STR) {
			/* exactly one NUL, at the end */
			if (flen == 0 || s[flen - 1] != 0 || memchr(s, 0, flen - 1))
				return -EBADMSG;
			f[i] = (struct bp_field){ s, flen - 1 };
		} else {
			f[i] = (struct bp_field){ flen ? s : NULL, flen };
		}
		o += flen;
	}
	*off = o;
	return (int)i;
}

int bp_encode(void *buf, size_t cap, unsigned type, uint32_t seq,
	      const void *fixed, size_t fixed_size,
	      const struct bp_field *fields, unsigned nfields, unsigned nfds)
{
	const struct desc *d = lookup(type);
	if (!d || fixed_size != d->fixed || nfields > d->nfields || nfields + d->optional < d->nfields ||
	    nfds < d->min_fds || nfds > d->max_fds)
		return -EINVAL;

	ssize_t fsize = fields_size(fields, d->kind, nfields);
	if (fsize < 0)
		return (int)fsize;
	size_t size = sizeof(struct bp_header) + fixed_size + (size_t)fsize;
	if (size > cap || size > BP_MSG_MAX)
		return -EMSGSIZE;

	uint8_t *p = buf;
	struct bp_header h = { .type = type, .nfds = nfds, .size = size, .seq = seq };
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	if (fixed_size) {
		memcpy(p, fixed, fixed_size);
		p += fixed_size;
	}
	fields_put(p, fields, d->kind, nfields);
	return (int)size;
}

int bp_item_put(void *buf, size_t cap, size_t *off, const void *head, size_t head_size,
		const struct bp_field *f, const uint8_t *kind, unsigned nfields)
{
	ssize_t fsize = fields_size(f, kind, nfields);
	if (fsize < 0)
		return (int)fsize;
	if (*off > cap || head_size + (size_t)fsize > cap - *off)
		return -EMSGSIZE;
	uint8_t *p = (uint8_t *)buf + *off;
	if (head_size)
		memcpy(p, head, head_size);
	p = fields_put(p + head_size, f, kind, nfields);
	*off = (size_t)(p - (uint8_t *)buf);
	return 0;
}

int bp_item_get(const struct bp_field *list, size_t *off, void *head, size_t head_size,
		struct bp_field *f, const uint8_t *kind, unsigned nfields)
{
	const uint8_t *p = list->ptr;
	size_t o = *off;
	if (o == list->len)
		return 1;
	if (o > list->len || list->len - o < head_size)
		return -EBADMSG;
	if (head_size)
		memcpy(head, p + o, head_size);
	o += head_size;
	int r = fields_get(p, list->len, &o, f, kind, nfields, 0);
	if (r < 0)
		return r;
	*off = o;
	return 0;
}

int bp_decode(const void *buf, size_t len, unsigned nfds, struct bp_msg *ret)
{
	const uint8_t *p = buf;
	struct bp_header h;

	if (len < sizeof(h) || len > BP_MSG_MAX)
		return -EBADMSG;
	memcpy(&h, p, sizeof(h));
	if (h.size != len || h.reserved != 0)
		return -EBADMSG;
	const struct desc *d = lookup(h.type);
	if (!d)
		return -EOPNOTSUPP;
	if (h.nfds != nfds || nfds < d->min_fds || nfds > d->max_fds)
		return -ETOOMANYREFS;
	if (len - sizeof(h) < d->fixed)
		return -EBADMSG;

	/* Validate into a small local list; *ret is written whole at the end
	 * (every decode pays for this: no zeroing or copying of a whole bp_msg). */
	struct bp_field field[BP_FIELDS_MAX];
	size_t off = sizeof(h) + d->fixed;
	int got = fields_get(p, len, &off, field, d->kind, d->nfields, d->optional);
	if (got < 0)
		return -EBADMSG;
	unsigned i = (unsigned)got;
	if (off != len)
		return -EBADMSG;

	ret->type = h.type;
	ret->seq = h.seq;
	memcpy(ret->u.raw, p + sizeof(h), d->fixed);
	ret->nfields = i;
	memcpy(ret->field, field, i * sizeof(field[0]));
	ret->nfds = 0;
	for (unsigned k = 0; k < BP_FDS_MAX; k++)
		ret->fds[k] = -1;
	return 0;
}

void bp_msg_close_fds(struct bp_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

int bp_msg_take_fd(struct bp_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0) {
			int fd = m->fds[i];
			m->fds[i] = -1;
			return fd;
		}
	return -1;
}

const char *bp_msg_str(const struct bp_msg *m, unsigned i)
{
	const struct desc *d = lookup(m->type);
	if (!d || i >= m->nfields || d->kind[i] != F_STR)
		return "";
	return m->field[i].ptr;
}

int bp_check_id(const char *id, size_t max)
{
	size_t n = strlen(id);
	if (n == 0 || id[0] == '.' || id[0] == '-')
		return -EINVAL;
	if (n > max)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '@'))
			return -EINVAL;
	}
	return 0;
}
