/* SPDX-License-Identifier: MIT */
/* Hostile input, message level: every malformed packet gets an ERROR reply
 * that echoes its seq, the connection goes on, nobody else notices. */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sec.h"
#include "wire.h"

static uint8_t buf[256 * 1024];

static void patch_header(size_t len, void (*fn)(struct bp_header *h))
{
	struct bp_header h;
	ck_assert_uint_ge(len, sizeof(h));
	memcpy(&h, buf, sizeof(h));
	fn(&h);
	memcpy(buf, &h, sizeof(h));
}

/* The connection still works after whatever came before. */
static void still_served(int fd, uint32_t seq)
{
	sec_raw_msg(fd, BP_STATUS, seq, NULL, 0, NULL, 0, NULL, 0);
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(fd, &m), 1);
	ck_assert_uint_eq(m.type, BP_STATUS_REPLY);
	ck_assert_uint_eq(m.seq, seq);
}

START_TEST(truncated_messages)
{
	struct hb b;
	sec_begin(&b, NULL);
	int fd = sec_raw_hello(&b);
	int sv[2];
	sec_pair(SOCK_STREAM, sv);

	struct bp_transfer t = { 0 };
	struct bp_field f[2] = { { "sock-1", 6 }, { "context", 7 } };
	size_t n = sec_encode(buf, sizeof(buf), BP_TRANSFER, 77, &t, sizeof(t), f, 2, 1);
	/* every length but 0 (a zero-length packet reads as EOF; see below) and the whole */
	for (size_t len = 1; len < n; len++) {
		sec_raw_send(fd, buf, len, &sv[1], 1);
		sec_expect_error(fd, len >= sizeof(struct bp_header) ? 77 : 0, -EBADMSG);
	}
	/* brokerd closed every copy of the socket that came with them */
	sec_expect_released(sv);
	still_served(fd, 78);
	sec_good_client(&b, SEC_GOOD_APP);
	close(fd);
	sec_end(&b);
}
END_TEST

static void size_plus(struct bp_header *h) { h->size++; }
static void size_minus(struct bp_header *h) { h->size--; }
static void size_zero(struct bp_header *h) { h->size = 0; }
static void size_huge(struct bp_header *h) { h->size = 0xffffffffu; }
static void reserved(struct bp_header *h) { h->reserved = 1; }

START_TEST(bad_headers)
{
	struct hb b;
	sec_begin(&b, NULL);
	int fd = sec_raw_hello(&b);
	void (*patches[])(struct bp_header *) = { size_plus, size_minus, size_zero, size_huge, reserved };
	for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
		struct bp_field f = { "com.example.good", 16 };
		size_t n = sec_encode(buf, sizeof(buf), BP_REGISTER, 10 + i, NULL, 0, &f, 1, 0);
		patch_header(n, patches[i]);
		sec_raw_send(fd, buf, n, NULL, 0);
		sec_expect_error(fd, 10 + i, -EBADMSG);
	}
	still_served(fd, 99);
	close(fd);
	sec_end(&b);
}
END_TEST

/* A REGISTER whose one string field is given as raw bytes with length flen. */
static size_t register_raw(const void *field, size_t field_len, uint32_t flen, uint32_t seq)
{
	struct bp_header h = { .type = BP_REGISTER, .seq = seq };
	size_t n = sizeof(h);
	memcpy(buf + n, &flen, sizeof(flen));
	n += sizeof(flen);
	memcpy(buf + n, field, field_len);
	n += field_len;
	h.size = (uint32_t)n;
	memcpy(buf, &h, sizeof(h));
	return n;
}

START_TEST(bad_fields)
{
	struct hb b;
	sec_begin(&b, NULL);
	int fd = sec_raw_hello(&b);
	static const struct {
		const char *bytes;
		size_t len;
		uint32_t flen;
	} t[] = {
		{ "abc", 3, 3 },                 /* unterminated */
		{ "a\0b\0", 4, 4 },              /* embedded NUL */
		{ "", 0, 0 },                    /* a string field needs at least its NUL */
		{ "abc\0", 4, 1000 },            /* length past the end */
		{ "abc\0", 4, 0xffffffffu },     /* length past everything */
		{ "abc\0xyz", 7, 4 },            /* trailing bytes after the last field */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = register_raw(t[i].bytes, t[i].len, t[i].flen, 20 + i);
		sec_raw_send(fd, buf, n, NULL, 0);
		sec_expect_error(fd, 20 + i, -EBADMSG);
	}
	/* a field missing entirely: a bare header */
	struct bp_header h = { .type = BP_REGISTER, .size = sizeof(h), .seq = 30 };
	sec_raw_send(fd, &h, sizeof(h), NULL, 0);
	sec_expect_error(fd, 30, -EBADMSG);
	/* a fixed part cut short */
	h = (struct bp_header){ .type = BP_HELLO, .size = sizeof(h) + 4, .seq = 31 };
	memcpy(buf, &h, sizeof(h));
	memset(buf + sizeof(h), 0, 4);
	sec_raw_send(fd, buf, sizeof(h) + 4, NULL, 0);
	sec_expect_error(fd, 31, -EBADMSG);
	still_served(fd, 32);
	close(fd);
	sec_end(&b);
}
END_TEST

START_TEST(unknown_types)
{
	struct hb b;
	sec_begin(&b, NULL);
	int fd = sec_raw_hello(&b);
	static const uint16_t types[] = { 0, BP_CLAIM_MANY + 1, 63, BP_RESULTS + 1, 95, BP_ACK_MANY + 1, 0x7fff, 0xffff };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct bp_header h = { .type = types[i], .size = sizeof(h), .seq = 40 + i };
		sec_raw_send(fd, &h, sizeof(h), NULL, 0);
		sec_expect_error(fd, 40 + i, -EOPNOTSUPP);
	}
	/* well-formed messages of types brokerd sends, or that belong on an activation */
	struct bp_ok ok = { 0 };
	sec_raw_msg(fd, BP_OK, 50, &ok, sizeof(ok), NULL, 0, NULL, 0);
	ck_assert_str_eq(sec_expect_error(fd, 50, -EOPNOTSUPP), "OK is not a request");
	struct bp_act_hello ah = { .version = BP_VERSION };
	sec_raw_msg(fd, BP_ACT_HELLO, 51, &ah, sizeof(ah), NULL, 0, NULL, 0);
	ck_assert_str_eq(sec_expect_error(fd, 51, -EOPNOTSUPP), "ACT_HELLO is not a request");
	struct bp_handback_ack ack = { .serial = 1 };
	sec_raw_msg(fd, BP_HANDBACK_ACK, 52, &ack, sizeof(ack), NULL, 0, NULL, 0);
	sec_expect_error(fd, 52, -EOPNOTSUPP);
	struct bp_many many = { .count = 1 };
	uint64_t serial = 1;
	struct bp_field serials = { &serial, sizeof(serial) };
	sec_raw_msg(fd, BP_ACK_MANY, 53, &many, sizeof(many), &serials, 1, NULL, 0);
	ck_assert_str_eq(sec_expect_error(fd, 53, -EOPNOTSUPP), "ACK_MANY is not a request");
	still_served(fd, 54);
	close(fd);
	sec_end(&b);
}
END_TEST

START_TEST(oversized_messages)
{
	struct hb b;
	sec_begin(&b, "[limits]\nmax-message = 4096\n");
	int fd = sec_raw_hello(&b);
	static const size_t sizes[] = { 4097, 65536, 150000 };
	for (size_t i = 0; i < 3; i++) {
		/* a REGISTER with an id of the size needed, header consistent */
		size_t idlen = sizes[i] - sizeof(struct bp_header) - 4 - 1;
		memset(buf + sizeof(struct bp_header) + 4, 'a', idlen);
		buf[sizeof(struct bp_header) + 4 + idlen] = 0;
		uint32_t flen = (uint32_t)idlen + 1;
		memcpy(buf + sizeof(struct bp_header), &flen, 4);
		struct bp_header h = { .type = BP_REGISTER, .size = (uint32_t)sizes[i], .seq = 60 + i };
		memcpy(buf, &h, sizeof(h));
		sec_raw_send(fd, buf, sizes[i], NULL, 0);
		sec_expect_error(fd, 60 + i, -EMSGSIZE);
	}
	/* at the limit exactly: well-formed, so judged on its merits */
	size_t idlen = 4096 - sizeof(struct bp_header) - 4 - 1;
	struct bp_field f = { buf + 200000, (uint32_t)idlen };
	memset(buf + 200000, 'a', idlen);
	sec_raw_msg(fd, BP_REGISTER, 70, NULL, 0, &f, 1, NULL, 0);
	sec_expect_error(fd, 70, -ENOENT);
	still_served(fd, 71);
	close(fd);
	sec_end(&b);
}
END_TEST

START_TEST(hello_rules)
{
	struct hb b;
	sec_begin(&b, NULL);
	int fd = sec_raw_connect(&b);
	sec_raw_msg(fd, BP_STATUS, 1, NULL, 0, NULL, 0, NULL, 0);
	ck_assert_str_eq(sec_expect_error(fd, 1, -EPROTO), "say hello first");
	struct bp_field name = { "x", 1 };
	struct bp_hello h = { .version = BP_VERSION + 1 };
	sec_raw_msg(fd, BP_HELLO, 2, &h, sizeof(h), &name, 1, NULL, 0);
	sec_expect_error(fd, 2, -EPROTONOSUPPORT);
	h.version = BP_VERSION;
	sec_raw_msg(fd, BP_HELLO, 3, &h, sizeof(h), &name, 1, NULL, 0);
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(fd, &m), 1);
	ck_assert_uint_eq(m.type, BP_HELLO_REPLY);
	sec_raw_msg(fd, BP_HELLO, 4, &h, sizeof(h), &name, 1, NULL, 0);
	sec_expect_error(fd, 4, -EPROTO);
	still_served(fd, 5);
	close(fd);
	sec_end(&b);
}
END_TEST

/* HELLO's app id, the one optional field (version 3): it is the last,
 * a version-2 HELLO may not have it, and a bad one is refused whole. */
START_TEST(hello_app_id_field)
{
	struct hb b;
	sec_begin(&b, NULL);
	int fd = sec_raw_connect(&b);
	struct bp_field f[2] = { { "x", 1 }, { SEC_GOOD_APP, sizeof(SEC_GOOD_APP) - 1 } };
	struct bp_hello h = { .version = 1 };
	sec_raw_msg(fd, BP_HELLO, 1, &h, sizeof(h), f, 1, NULL, 0);
	ck_assert_str_eq(sec_expect_error(fd, 1, -EPROTONOSUPPORT), "protocol version 1 is not one brokerd speaks (2 to 4)");
	h.version = 2;
	sec_raw_msg(fd, BP_HELLO, 2, &h, sizeof(h), f, 2, NULL, 0);
	ck_assert_str_eq(sec_expect_error(fd, 2, -EBADMSG), "a version-2 HELLO has one field, the client name");
	h.version = 3;
	f[1] = (struct bp_field){ "", 0 };
	sec_raw_msg(fd, BP_HELLO, 3, &h, sizeof(h), f, 2, NULL, 0);
	ck_assert_str_eq(sec_expect_error(fd, 3, -EINVAL),
			 "the app id in HELLO is empty (leave the field out to register later)");

	/* made by hand: the app id unterminated, cut short, or a third field */
	size_t base = sec_encode(buf, sizeof(buf), BP_HELLO, 4, &h, sizeof(h), f, 1, 0);
	static const struct { const char *bytes; size_t len; uint32_t flen; } t[] = {
		{ SEC_GOOD_APP, sizeof(SEC_GOOD_APP) - 1, sizeof(SEC_GOOD_APP) - 1 },
		{ SEC_GOOD_APP, sizeof(SEC_GOOD_APP), sizeof(SEC_GOOD_APP) + 1 },
		{ "a\0b", 4, 4 },
		{ SEC_GOOD_APP "\0\2\0\0\0y", sizeof(SEC_GOOD_APP) + 6, sizeof(SEC_GOOD_APP) },
		{ "\1\0", 2, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint32_t seq = 10 + (uint32_t)i;
		memcpy(buf + base, &t[i].flen, 4);
		memcpy(buf + base + 4, t[i].bytes, t[i].len);
		size_t n = base + 4 + t[i].len;
		struct bp_header hd;
		memcpy(&hd, buf, sizeof(hd));
		hd.size = (uint32_t)n;
		hd.seq = seq;
		memcpy(buf, &hd, sizeof(hd));
		sec_raw_send(fd, buf, n, NULL, 0);
		ck_assert_str_eq(sec_expect_error(fd, seq, -EBADMSG), "malformed message (or, at activation, malformed "
				 "LISTEN_FDS, LISTEN_PID or LISTEN_FDNAMES) in HELLO");
	}
	/* none of that said hello */
	sec_raw_msg(fd, BP_STATUS, 20, NULL, 0, NULL, 0, NULL, 0);
	ck_assert_str_eq(sec_expect_error(fd, 20, -EPROTO), "say hello first");

	/* a version-2 client is still served: its version back, then REGISTER */
	h.version = 2;
	sec_raw_msg(fd, BP_HELLO, 21, &h, sizeof(h), f, 1, NULL, 0);
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(fd, &m), 1);
	ck_assert_uint_eq(m.type, BP_HELLO_REPLY);
	ck_assert_uint_eq(m.u.hello_reply.version, 2);
	f[0] = (struct bp_field){ SEC_GOOD_APP, sizeof(SEC_GOOD_APP) - 1 };
	sec_raw_msg(fd, BP_REGISTER, 22, NULL, 0, f, 1, NULL, 0);
	ck_assert_int_eq(sec_raw_recv(fd, &m), 1);
	ck_assert_uint_eq(m.type, BP_OK);
	still_served(fd, 23);
	close(fd);

	/* version 3 with the app id: registered by the hello, in one reply */
	fd = sec_raw_connect(&b);
	f[0] = (struct bp_field){ "x", 1 };
	f[1] = (struct bp_field){ SEC_GOOD_APP, sizeof(SEC_GOOD_APP) - 1 };
	h.version = 3;
	sec_raw_msg(fd, BP_HELLO, 1, &h, sizeof(h), f, 2, NULL, 0);
	ck_assert_int_eq(sec_raw_recv(fd, &m), 1);
	ck_assert_uint_eq(m.type, BP_HELLO_REPLY);
	ck_assert_uint_eq(m.u.hello_reply.version, 3);
	struct bp_list l = { 0 };
	struct bp_field own = { "", 0 };
	sec_raw_msg(fd, BP_LIST, 2, &l, sizeof(l), &own, 1, NULL, 0);
	ck_assert_int_eq(sec_raw_recv(fd, &m), 1);
	ck_assert_uint_eq(m.type, BP_END);   /* not -EDESTADDRREQ: it acts as the app */
	close(fd);
	hb_assert_fds(&b, b.base_fds);
	sec_end(&b);
}
END_TEST

START_TEST(zero_length_packet)
{
	/* SOCK_SEQPACKET cannot tell an empty packet from the end of the
	 * connection: brokerd takes it as the client leaving. */
	struct hb b;
	sec_begin(&b, NULL);
	int fd = sec_raw_hello(&b);
	ck_assert_int_eq(send(fd, "", 0, MSG_NOSIGNAL), 0);
	sec_expect_eof(fd);
	close(fd);
	sec_end(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("malformed");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, truncated_messages);
	tcase_add_test(tc, bad_headers);
	tcase_add_test(tc, bad_fields);
	tcase_add_test(tc, unknown_types);
	tcase_add_test(tc, oversized_messages);
	tcase_add_test(tc, hello_rules);
	tcase_add_test(tc, hello_app_id_field);
	tcase_add_test(tc, zero_length_packet);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return hb_run_suite(suite());
}
