/* SPDX-License-Identifier: MIT */
/* Protocol encode/decode: round trips of every message type, boundary
 * sizes, and every kind of malformed packet. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "testutil.h"
#include "util.h"

static uint8_t buf[BP_MSG_MAX + 64];

enum { S = 1, B = 2 };

/* The protocol as proto.h's comments describe it, written out again here so
 * that a change to the descriptor table in proto.c must be a deliberate one. */
static const struct spec {
	unsigned type;
	const char *name;
	size_t fixed;
	unsigned nfields;
	uint8_t kind[BP_FIELDS_MAX];
	unsigned min_fds, max_fds;
	unsigned optional;   /* trailing fields that may be absent */
} specs[] = {
	{ BP_HELLO, "HELLO", sizeof(struct bp_hello), 2, { S, S }, 0, 0, 1 },
	{ BP_REGISTER, "REGISTER", 0, 1, { S }, 0, 0 },
	{ BP_TRANSFER, "TRANSFER", sizeof(struct bp_transfer), 2, { S, B }, 1, 1 },
	{ BP_LIST, "LIST", sizeof(struct bp_list), 1, { S }, 0, 0 },
	{ BP_SHOW, "SHOW", 0, 2, { S, S }, 0, 0 },
	{ BP_CLAIM, "CLAIM", 0, 1, { S }, 0, 0 },
	{ BP_STATUS, "STATUS", 0, 0, { 0 }, 0, 0 },
	{ BP_APPS, "APPS", 0, 0, { 0 }, 0, 0 },
	{ BP_MONITOR, "MONITOR", 0, 0, { 0 }, 0, 0 },
	{ BP_TRIGGER, "TRIGGER", 0, 2, { S, S }, 0, 0 },
	{ BP_DROP, "DROP", 0, 2, { S, S }, 0, 0 },
	{ BP_RELOAD, "RELOAD", 0, 0, { 0 }, 0, 0 },
	{ BP_ATTACH, "ATTACH", 0, 0, { 0 }, 1, 1 },
	{ BP_TRANSFER_MANY, "TRANSFER_MANY", sizeof(struct bp_many), 1, { B }, 1, BP_FDS_MAX },
	{ BP_CLAIM_MANY, "CLAIM_MANY", sizeof(struct bp_claim_many), 1, { B }, 0, 0 },
	{ BP_OK, "OK", sizeof(struct bp_ok), 0, { 0 }, 0, 0 },
	{ BP_ERROR, "ERROR", sizeof(struct bp_error), 1, { S }, 0, 0 },
	{ BP_HELLO_REPLY, "HELLO_REPLY", sizeof(struct bp_hello_reply), 1, { S }, 0, 0 },
	{ BP_INFO, "INFO", sizeof(struct bp_info), 5, { S, S, B, S, S }, 0, 1 },
	{ BP_END, "END", sizeof(struct bp_end), 0, { 0 }, 0, 0 },
	{ BP_STATUS_REPLY, "STATUS_REPLY", sizeof(struct bp_status), 2, { S, S }, 0, 0 },
	{ BP_APP_INFO, "APP_INFO", sizeof(struct bp_app_info), 8, { S, S, S, S, S, S, S, B }, 0, 0 },
	{ BP_EVENT, "EVENT", sizeof(struct bp_event), 3, { S, S, S }, 0, 0 },
	{ BP_RESULTS, "RESULTS", sizeof(struct bp_many), 1, { B }, 0, BP_FDS_MAX },
	{ BP_ACT_HELLO, "ACT_HELLO", sizeof(struct bp_act_hello), 0, { 0 }, 0, 0 },
	{ BP_HANDBACK, "HANDBACK", sizeof(struct bp_handback), 3, { S, S, B }, 1, 1 },
	{ BP_BATCH_END, "BATCH_END", sizeof(struct bp_end), 0, { 0 }, 0, 0 },
	{ BP_HANDBACK_MANY, "HANDBACK_MANY", sizeof(struct bp_many), 2, { S, B }, 1, BP_FDS_MAX },
	{ BP_ACK_MANY, "ACK_MANY", sizeof(struct bp_many), 1, { B }, 0, 0 },
	{ BP_HANDBACK_ACK, "HANDBACK_ACK", sizeof(struct bp_handback_ack), 0, { 0 }, 0, 0 },
};
#define NSPECS ((int)ARRAY_SIZE(specs))

/* A message of spec s: a fixed part of recognisable bytes, and fields whose
 * contents name the field (bytes fields hold a NUL, which they may). */
struct sample {
	uint8_t fixed[128];
	char text[BP_FIELDS_MAX][16];
	struct bp_field f[BP_FIELDS_MAX];
};

static void make_sample(const struct spec *s, struct sample *x)
{
	for (size_t i = 0; i < sizeof(x->fixed); i++)
		x->fixed[i] = (uint8_t)(0x11 * (i % 15) + s->type);
	for (unsigned i = 0; i < s->nfields; i++) {
		int n = snprintf(x->text[i], sizeof(x->text[i]), "f%u-%s", i, s->name);
		if (s->kind[i] == B)
			x->text[i][2] = 0;
		x->f[i] = (struct bp_field){ x->text[i], (uint32_t)(n > 15 ? 15 : n) };
	}
}

static int encode_sample(const struct spec *s, struct sample *x, unsigned nfds)
{
	make_sample(s, x);
	return bp_encode(buf, sizeof(buf), s->type, 0x01020304u + s->type, x->fixed, s->fixed,
			 x->f, s->nfields, nfds);
}

static void fill_sentinel(struct bp_msg *m)
{
	memset(m, 0xa5, sizeof(*m));
}

static void assert_untouched(const struct bp_msg *m)
{
	struct bp_msg sentinel;
	fill_sentinel(&sentinel);
	ck_assert_mem_eq(m, &sentinel, sizeof(*m));
}

/* Decode must fail with want and leave the output alone. */
static void expect_fail(size_t len, unsigned nfds, int want)
{
	struct bp_msg m;
	fill_sentinel(&m);
	ck_assert_int_eq(bp_decode(buf, len, nfds, &m), want);
	assert_untouched(&m);
}

static void set_header(size_t off, const void *v, size_t n)
{
	memcpy(buf + off, v, n);
}

/* Every type, every fd count it allows: fixed part, fields and seq come
 * back exactly, and the packet is exactly as long as the layout says. */
START_TEST(round_trip_every_type)
{
	const struct spec *s = &specs[_i];
	for (unsigned nfds = s->min_fds; nfds <= s->max_fds; nfds++) {
		struct sample x;
		int n = encode_sample(s, &x, nfds);
		size_t want = sizeof(struct bp_header) + s->fixed;
		for (unsigned i = 0; i < s->nfields; i++)
			want += 4 + x.f[i].len + (s->kind[i] == S);
		ck_assert_int_eq(n, (int)want);

		struct bp_header h;
		memcpy(&h, buf, sizeof(h));
		ck_assert_uint_eq(h.type, s->type);
		ck_assert_uint_eq(h.nfds, nfds);
		ck_assert_uint_eq(h.size, want);
		ck_assert_uint_eq(h.reserved, 0);

		struct bp_msg m;
		ck_assert_int_eq(bp_decode(buf, (size_t)n, nfds, &m), 0);
		ck_assert_uint_eq(m.type, s->type);
		ck_assert_uint_eq(m.seq, 0x01020304u + s->type);
		ck_assert_uint_eq(m.nfields, s->nfields);
		ck_assert_uint_eq(m.nfds, 0);   /* the caller attaches fds */
		ck_assert_mem_eq(m.u.raw, x.fixed, s->fixed);
		for (unsigned i = 0; i < s->nfields; i++) {
			ck_assert_uint_eq(m.field[i].len, x.f[i].len);
			ck_assert_mem_eq(m.field[i].ptr, x.f[i].ptr, x.f[i].len);
			if (s->kind[i] == S) {
				ck_assert_str_eq(bp_msg_str(&m, i), x.text[i]);
				ck_assert_uint_eq(((const char *)m.field[i].ptr)[m.field[i].len], 0);
			} else {
				ck_assert_str_eq(bp_msg_str(&m, i), "");   /* not a string field */
			}
		}
		ck_assert_str_eq(bp_msg_str(&m, s->nfields), "");
		for (unsigned i = 0; i < BP_FDS_MAX; i++)
			ck_assert_int_eq(m.fds[i], -1);
	}
}
END_TEST

START_TEST(type_names)
{
	for (int i = 0; i < NSPECS; i++)
		ck_assert_str_eq(bp_type_name(specs[i].type), specs[i].name);
	static const unsigned unknown[] = { 0, 16, 63, 73, 95, 102, 1000, 65535, 1u << 20 };
	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++)
		ck_assert_ptr_null(bp_type_name(unknown[i]));
}
END_TEST

/* Empty strings travel as a lone NUL, empty bytes as nothing at all. */
START_TEST(empty_fields)
{
	const struct spec *s = &specs[_i];
	struct bp_field f[BP_FIELDS_MAX] = { { 0 } };
	for (unsigned i = 0; i < s->nfields; i++)
		f[i] = (struct bp_field){ i % 2 ? NULL : "", 0 };
	uint8_t fixed[128] = { 0 };
	int n = bp_encode(buf, sizeof(buf), s->type, 1, fixed, s->fixed, f, s->nfields, s->min_fds);
	size_t want = sizeof(struct bp_header) + s->fixed;
	for (unsigned i = 0; i < s->nfields; i++)
		want += 4 + (s->kind[i] == S);
	ck_assert_int_eq(n, (int)want);
	struct bp_msg m;
	ck_assert_int_eq(bp_decode(buf, (size_t)n, s->min_fds, &m), 0);
	for (unsigned i = 0; i < s->nfields; i++) {
		ck_assert_uint_eq(m.field[i].len, 0);
		if (s->kind[i] == S)
			ck_assert_str_eq(bp_msg_str(&m, i), "");
		else
			ck_assert_ptr_null(m.field[i].ptr);
	}
}
END_TEST

/* REGISTER with a string that makes the packet exactly `size` bytes. */
static int encode_register_of_size(size_t size, size_t cap)
{
	static char big[BP_MSG_MAX];
	size_t len = size - sizeof(struct bp_header) - 4 - 1;
	memset(big, 'a', len);
	struct bp_field f = { big, (uint32_t)len };
	return bp_encode(buf, cap, BP_REGISTER, 9, NULL, 0, &f, 1, 0);
}

START_TEST(max_message_size)
{
	int n = encode_register_of_size(BP_MSG_MAX, sizeof(buf));
	ck_assert_int_eq(n, BP_MSG_MAX);
	struct bp_msg m;
	ck_assert_int_eq(bp_decode(buf, BP_MSG_MAX, 0, &m), 0);
	ck_assert_uint_eq(m.field[0].len, BP_MSG_MAX - 16 - 4 - 1);

	/* one byte over: the encoder refuses, whatever room it has */
	ck_assert_int_eq(encode_register_of_size(BP_MSG_MAX + 1, sizeof(buf)), -EMSGSIZE);
	/* and the decoder refuses such a packet made by hand */
	struct bp_header h = { .type = BP_REGISTER, .size = BP_MSG_MAX + 1 };
	uint32_t flen = BP_MSG_MAX + 1 - 16 - 4;
	memset(buf, 'a', BP_MSG_MAX + 1);
	set_header(0, &h, sizeof(h));
	set_header(16, &flen, 4);
	buf[BP_MSG_MAX] = 0;
	expect_fail(BP_MSG_MAX + 1, 0, -EBADMSG);
}
END_TEST

START_TEST(encode_limits)
{
	/* cap: exactly enough, and one byte short */
	struct bp_field f = { "app", 3 };
	ck_assert_int_eq(bp_encode(buf, 16 + 4 + 4, BP_REGISTER, 1, NULL, 0, &f, 1, 0), 24);
	ck_assert_int_eq(bp_encode(buf, 16 + 4 + 3, BP_REGISTER, 1, NULL, 0, &f, 1, 0), -EMSGSIZE);
	/* a single field longer than any message */
	static char big[BP_MSG_MAX + 1];
	memset(big, 'a', sizeof(big));
	struct bp_field huge = { big, BP_MSG_MAX + 1 };
	ck_assert_int_eq(bp_encode(buf, sizeof(buf), BP_REGISTER, 1, NULL, 0, &huge, 1, 0), -EMSGSIZE);
	/* a bytes field's length alone is checked before anything is read */
	struct bp_field huge2[2] = { { "id", 2 }, { big, UINT32_MAX } };
	struct bp_transfer t = { 0 };
	ck_assert_int_eq(bp_encode(buf, sizeof(buf), BP_TRANSFER, 1, &t, sizeof(t), huge2, 2, 1), -EMSGSIZE);
}
END_TEST

/* Caller bugs: the descriptor decides type, fixed size, field count, fds. */
START_TEST(encode_rejects_mismatches)
{
	const struct spec *s = &specs[_i];
	struct sample x;
	make_sample(s, &x);
	ck_assert_int_eq(bp_encode(buf, sizeof(buf), s->type, 1, x.fixed, s->fixed + 8, x.f, s->nfields, s->min_fds), -EINVAL);
	if (s->fixed)
		ck_assert_int_eq(bp_encode(buf, sizeof(buf), s->type, 1, x.fixed, s->fixed - 8, x.f, s->nfields, s->min_fds), -EINVAL);
	ck_assert_int_eq(bp_encode(buf, sizeof(buf), s->type, 1, x.fixed, s->fixed, x.f, s->nfields + 1, s->min_fds), -EINVAL);
	for (unsigned k = 1; k <= s->optional; k++)   /* an optional field may stay away */
		ck_assert_int_gt(bp_encode(buf, sizeof(buf), s->type, 1, x.fixed, s->fixed, x.f, s->nfields - k, s->min_fds), 0);
	if (s->nfields > s->optional)
		ck_assert_int_eq(bp_encode(buf, sizeof(buf), s->type, 1, x.fixed, s->fixed, x.f,
					   s->nfields - s->optional - 1, s->min_fds), -EINVAL);
	ck_assert_int_eq(bp_encode(buf, sizeof(buf), s->type, 1, x.fixed, s->fixed, x.f, s->nfields, s->max_fds + 1), -EINVAL);
	if (s->min_fds)
		ck_assert_int_eq(bp_encode(buf, sizeof(buf), s->type, 1, x.fixed, s->fixed, x.f, s->nfields, s->min_fds - 1), -EINVAL);
	/* a string field may not carry a NUL of its own; a bytes field may */
	for (unsigned i = 0; i < s->nfields; i++) {
		struct bp_field saved = x.f[i];
		x.f[i] = (struct bp_field){ "a\0b", 3 };
		int r = bp_encode(buf, sizeof(buf), s->type, 1, x.fixed, s->fixed, x.f, s->nfields, s->min_fds);
		if (s->kind[i] == S)
			ck_assert_int_eq(r, -EINVAL);
		else
			ck_assert_int_gt(r, 0);
		x.f[i] = saved;
	}
}
END_TEST

START_TEST(encode_rejects_unknown_types)
{
	static const unsigned unknown[] = { 0, 16, 63, 73, 95, 102, 65535 };
	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++)
		ck_assert_int_eq(bp_encode(buf, sizeof(buf), unknown[i], 1, NULL, 0, NULL, 0, 0), -EINVAL);
}
END_TEST

START_TEST(truncated_at_every_length)
{
	const struct spec *s = &specs[_i];
	struct sample x;
	int n = encode_sample(s, &x, s->min_fds);
	ck_assert_int_gt(n, 0);
	for (int len = 0; len < n; len++)
		expect_fail((size_t)len, s->min_fds, -EBADMSG);
	/* the header's size no longer matching is enough on its own */
	uint32_t size = (uint32_t)n - 1;
	set_header(4, &size, 4);
	expect_fail((size_t)n, s->min_fds, -EBADMSG);
	size = (uint32_t)n + 1;
	set_header(4, &size, 4);
	expect_fail((size_t)n, s->min_fds, -EBADMSG);
}
END_TEST

/* One more byte after the last field, with the header's size agreeing. */
START_TEST(trailing_bytes)
{
	const struct spec *s = &specs[_i];
	struct sample x;
	int n = encode_sample(s, &x, s->min_fds);
	for (int extra = 1; extra <= 8; extra++) {
		memset(buf + n, 0, (size_t)extra);
		uint32_t size = (uint32_t)(n + extra);
		set_header(4, &size, 4);
		expect_fail((size_t)n + (size_t)extra, s->min_fds, -EBADMSG);
	}
}
END_TEST

/* Offset of field i's length word in a packet made by encode_sample(). */
static size_t field_offset(const struct spec *s, const struct sample *x, unsigned i)
{
	size_t off = sizeof(struct bp_header) + s->fixed;
	for (unsigned k = 0; k < i; k++)
		off += 4 + x->f[k].len + (s->kind[k] == S);
	return off;
}

START_TEST(bad_field_lengths)
{
	const struct spec *s = &specs[_i];
	for (unsigned i = 0; i < s->nfields; i++) {
		struct sample x;
		int n = encode_sample(s, &x, s->min_fds);
		size_t off = field_offset(s, &x, i);
		uint32_t flen;
		memcpy(&flen, buf + off, 4);
		/* past the end: by one, by a lot, the largest value */
		uint32_t bad[] = { (uint32_t)(n - off - 4) + 1, 1u << 20, UINT32_MAX };
		for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
			set_header(off, &bad[k], 4);
			expect_fail((size_t)n, s->min_fds, -EBADMSG);
		}
		/* shorter than written: the rest becomes trailing garbage, or
		 * a string loses its NUL */
		if (flen > 0) {
			uint32_t shorter = flen - 1;
			set_header(off, &shorter, 4);
			expect_fail((size_t)n, s->min_fds, -EBADMSG);
		}
	}
}
END_TEST

START_TEST(string_field_defects)
{
	const struct spec *s = &specs[_i];
	for (unsigned i = 0; i < s->nfields; i++) {
		if (s->kind[i] != S)
			continue;
		struct sample x;
		int n = encode_sample(s, &x, s->min_fds);
		size_t off = field_offset(s, &x, i);
		uint32_t flen;
		memcpy(&flen, buf + off, 4);
		/* unterminated: the NUL overwritten */
		buf[off + 4 + flen - 1] = 'x';
		expect_fail((size_t)n, s->min_fds, -EBADMSG);
		/* embedded NUL, terminator intact */
		n = encode_sample(s, &x, s->min_fds);
		buf[off + 4] = 0;
		expect_fail((size_t)n, s->min_fds, -EBADMSG);
		/* a string of length 0 has no room even for its NUL */
		n = encode_sample(s, &x, s->min_fds);
		uint32_t zero = 0;
		size_t rest = (size_t)n - (off + 4 + flen);
		memmove(buf + off + 4, buf + off + 4 + flen, rest);
		set_header(off, &zero, 4);
		uint32_t size = (uint32_t)(n - (int)flen);
		set_header(4, &size, 4);
		expect_fail(size, s->min_fds, -EBADMSG);
	}
}
END_TEST

START_TEST(nonzero_reserved_header)
{
	const struct spec *s = &specs[_i];
	struct sample x;
	int n = encode_sample(s, &x, s->min_fds);
	static const uint32_t values[] = { 1, 0x100, 0x80000000u };
	for (size_t k = 0; k < ARRAY_SIZE(values); k++) {
		set_header(12, &values[k], 4);
		expect_fail((size_t)n, s->min_fds, -EBADMSG);
	}
}
END_TEST

/* The header's nfds, the fds that arrived and the type's limits must agree. */
START_TEST(wrong_nfds)
{
	const struct spec *s = &specs[_i];
	struct sample x;
	int n = encode_sample(s, &x, s->min_fds);
	/* arrived differs from the header */
	expect_fail((size_t)n, s->min_fds + 1, -ETOOMANYREFS);
	if (s->min_fds)
		expect_fail((size_t)n, s->min_fds - 1, -ETOOMANYREFS);
	/* header and arrival agree, but the type does not allow that many */
	for (unsigned k = 0; k <= BP_FDS_MAX + 2; k++) {
		if (k >= s->min_fds && k <= s->max_fds)
			continue;
		uint16_t nfds = (uint16_t)k;
		set_header(2, &nfds, 2);
		expect_fail((size_t)n, k, -ETOOMANYREFS);
	}
}
END_TEST

START_TEST(unknown_types)
{
	static const uint16_t unknown[] = { 0, 16, 20, 63, 73, 80, 95, 102, 200, 65535 };
	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
		struct bp_header h = { .type = unknown[i], .size = sizeof(h) };
		set_header(0, &h, sizeof(h));
		expect_fail(sizeof(h), 0, -EOPNOTSUPP);
		/* with a body too */
		h.size = sizeof(h) + 8;
		set_header(0, &h, sizeof(h));
		memset(buf + sizeof(h), 0, 8);
		expect_fail(sizeof(h) + 8, 0, -EOPNOTSUPP);
	}
}
END_TEST

/* A header that claims a type and the fixed part is cut short. */
START_TEST(short_fixed_part)
{
	const struct spec *s = &specs[_i];
	if (!s->fixed)
		return;
	for (size_t have = 0; have < s->fixed; have += 4) {
		struct bp_header h = { .type = (uint16_t)s->type, .nfds = (uint16_t)s->min_fds,
				       .size = (uint32_t)(sizeof(h) + have) };
		memset(buf, 0, 256);
		set_header(0, &h, sizeof(h));
		expect_fail(sizeof(h) + have, s->min_fds, -EBADMSG);
	}
}
END_TEST

static int count_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

START_TEST(msg_fd_helpers)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	struct bp_msg m = { .type = BP_INFO, .nfds = 1, .fds = { p[0] } };
	ck_assert_int_eq(bp_msg_take_fd(&m), p[0]);
	ck_assert_int_eq(m.fds[0], -1);
	ck_assert_int_eq(bp_msg_take_fd(&m), -1);   /* nothing left to take */
	bp_msg_close_fds(&m);                        /* and nothing closed twice */
	ck_assert(count_open(p[0]));

	m = (struct bp_msg){ .type = BP_INFO, .nfds = 1, .fds = { p[0] } };
	bp_msg_close_fds(&m);
	ck_assert_uint_eq(m.nfds, 0);
	ck_assert(!count_open(p[0]));
	bp_msg_close_fds(&m);                        /* idempotent */
	ck_assert_int_eq(bp_msg_take_fd(&m), -1);
	close(p[1]);
}
END_TEST

/* HELLO's app id (version 3) is its one optional field: absent, it reads
 * as ""; a field cut short or one field too many is still malformed. */
START_TEST(hello_optional_app_id)
{
	struct bp_hello h = { .version = 3 };
	struct bp_field f[3] = { { "cli", 3 }, { "org.example.a", 13 }, { "x", 1 } };
	struct bp_msg m;

	int n1 = bp_encode(buf, sizeof(buf), BP_HELLO, 1, &h, sizeof(h), f, 1, 0);
	ck_assert_int_eq(n1, 16 + 8 + 4 + 4);
	ck_assert_int_eq(bp_decode(buf, (size_t)n1, 0, &m), 0);
	ck_assert_uint_eq(m.nfields, 1);
	ck_assert_str_eq(bp_msg_str(&m, 0), "cli");
	ck_assert_str_eq(bp_msg_str(&m, 1), "");

	int n2 = bp_encode(buf, sizeof(buf), BP_HELLO, 1, &h, sizeof(h), f, 2, 0);
	ck_assert_int_eq(n2, n1 + 4 + 14);
	ck_assert_int_eq(bp_decode(buf, (size_t)n2, 0, &m), 0);
	ck_assert_uint_eq(m.nfields, 2);
	ck_assert_str_eq(bp_msg_str(&m, 1), "org.example.a");

	ck_assert_int_eq(bp_encode(buf, sizeof(buf), BP_HELLO, 1, &h, sizeof(h), f, 0, 0), -EINVAL);
	ck_assert_int_eq(bp_encode(buf, sizeof(buf), BP_HELLO, 1, &h, sizeof(h), f, 3, 0), -EINVAL);

	/* a third field, made by hand: trailing bytes to the decoder */
	uint32_t flen = 2, size = (uint32_t)n2 + 4 + 2;
	memcpy(buf + n2, &flen, 4);
	memcpy(buf + n2 + 4, "x", 2);
	set_header(4, &size, 4);
	expect_fail(size, 0, -EBADMSG);

	/* only part of the app id's length word, or a length past the end */
	for (uint32_t cut = 1; cut < 4; cut++) {
		bp_encode(buf, sizeof(buf), BP_HELLO, 1, &h, sizeof(h), f, 2, 0);
		size = (uint32_t)n1 + cut;
		set_header(4, &size, 4);
		expect_fail(size, 0, -EBADMSG);
	}
	bp_encode(buf, sizeof(buf), BP_HELLO, 1, &h, sizeof(h), f, 2, 0);
	size = (uint32_t)n1 + 4 + 13;   /* the app id without its NUL */
	set_header(4, &size, 4);
	expect_fail(size, 0, -EBADMSG);
	flen = 0;   /* a string field of length 0 has no NUL either */
	memcpy(buf + n1, &flen, 4);
	size = (uint32_t)n1 + 4;
	set_header(4, &size, 4);
	expect_fail(size, 0, -EBADMSG);
}
END_TEST

START_TEST(msg_str_of_unknown)
{
	struct bp_msg m = { .type = 999, .nfields = 1, .field = { { "x", 1 } } };
	ck_assert_str_eq(bp_msg_str(&m, 0), "");
}
END_TEST

START_TEST(check_id_boundaries)
{
	char id[300];
	ck_assert_int_eq(bp_check_id("", 255), -EINVAL);
	ck_assert_int_eq(bp_check_id("a", 255), 0);
	ck_assert_int_eq(bp_check_id("a", 1), 0);
	ck_assert_int_eq(bp_check_id("ab", 1), -ENAMETOOLONG);
	memset(id, 'x', 255);
	id[255] = 0;
	ck_assert_int_eq(bp_check_id(id, 255), 0);
	ck_assert_int_eq(bp_check_id(id, 254), -ENAMETOOLONG);
	memset(id, 'x', 256);
	id[256] = 0;
	ck_assert_int_eq(bp_check_id(id, 255), -ENAMETOOLONG);
	/* every allowed character, in one id */
	ck_assert_int_eq(bp_check_id("com.Example_app-1@host.0-9Z", 255), 0);
	ck_assert_int_eq(bp_check_id("a.", 255), 0);
	ck_assert_int_eq(bp_check_id("a-", 255), 0);
	ck_assert_int_eq(bp_check_id("_a", 255), 0);
	ck_assert_int_eq(bp_check_id("@a", 255), 0);
	/* not at the start */
	ck_assert_int_eq(bp_check_id(".a", 255), -EINVAL);
	ck_assert_int_eq(bp_check_id("-a", 255), -EINVAL);
	ck_assert_int_eq(bp_check_id(".", 255), -EINVAL);
	ck_assert_int_eq(bp_check_id("..", 255), -EINVAL);
	/* never: ':' would split LISTEN_FDNAMES, '/' a path, and the rest */
	static const char *const bad[] = {
		"a:b", "a/b", "a b", "a\tb", "a\nb", "a\\b", "a*", "a?", "a=b", "a,b",
		"a;b", "a'b", "a\"b", "a$b", "a%b", "a+b", "a~b", "\xc3\xa9", "a\x7f", "a\x01",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(bp_check_id(bad[i], 255) == -EINVAL, "accepted \"%s\"", bad[i]);
	/* a forbidden character in an id that is also too long: length first */
	memset(id, 'x', 256);
	id[10] = ':';
	id[256] = 0;
	ck_assert_int_eq(bp_check_id(id, 255), -ENAMETOOLONG);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("encode-decode");
	tcase_add_loop_test(tc, round_trip_every_type, 0, NSPECS);
	tcase_add_test(tc, type_names);
	tcase_add_loop_test(tc, empty_fields, 0, NSPECS);
	tcase_add_test(tc, max_message_size);
	tcase_add_test(tc, encode_limits);
	tcase_add_loop_test(tc, encode_rejects_mismatches, 0, NSPECS);
	tcase_add_test(tc, encode_rejects_unknown_types);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_loop_test(tc, truncated_at_every_length, 0, NSPECS);
	tcase_add_loop_test(tc, trailing_bytes, 0, NSPECS);
	tcase_add_loop_test(tc, bad_field_lengths, 0, NSPECS);
	tcase_add_loop_test(tc, string_field_defects, 0, NSPECS);
	tcase_add_loop_test(tc, nonzero_reserved_header, 0, NSPECS);
	tcase_add_loop_test(tc, wrong_nfds, 0, NSPECS);
	tcase_add_test(tc, unknown_types);
	tcase_add_loop_test(tc, short_fixed_part, 0, NSPECS);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_test(tc, msg_fd_helpers);
	tcase_add_test(tc, msg_str_of_unknown);
	tcase_add_test(tc, hello_optional_app_id);
	tcase_add_test(tc, check_id_boundaries);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
