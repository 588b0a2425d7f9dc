/* SPDX-License-Identifier: MIT */
/* Protocol encode/decode: round trips and every kind of malformed packet. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "proto.h"

static uint8_t buf[BP_MSG_MAX + 64];

START_TEST(transfer_round_trip)
{
	struct bp_transfer t = { .keepalive_sec = 30 };
	struct bp_field f[2] = { { "sock-1", 6 }, { "\x00\x01ctx", 5 } };
	int n = bp_encode(buf, sizeof(buf), BP_TRANSFER, 7, &t, sizeof(t), f, 2, 1);
	ck_assert_int_eq(n, 16 + 8 + 4 + 7 + 4 + 5);

	struct bp_msg m;
	ck_assert_int_eq(bp_decode(buf, (size_t)n, 1, &m), 0);
	ck_assert_uint_eq(m.type, BP_TRANSFER);
	ck_assert_uint_eq(m.seq, 7);
	ck_assert_uint_eq(m.u.transfer.keepalive_sec, 30);
	ck_assert_str_eq(bp_msg_str(&m, 0), "sock-1");
	ck_assert_uint_eq(m.field[0].len, 6);
	ck_assert_uint_eq(m.field[1].len, 5);
	ck_assert_mem_eq(m.field[1].ptr, "\x00\x01ctx", 5);
}
END_TEST

START_TEST(truncated_at_every_length)
{
	struct bp_transfer t = { 0 };
	struct bp_field f[2] = { { "id", 2 }, { "context", 7 } };
	int n = bp_encode(buf, sizeof(buf), BP_TRANSFER, 1, &t, sizeof(t), f, 2, 1);
	ck_assert_int_gt(n, 0);
	struct bp_msg m, sentinel;
	memset(&sentinel, 0xa5, sizeof(sentinel));
	for (int len = 0; len < n; len++) {
		m = sentinel;
		ck_assert_int_eq(bp_decode(buf, (size_t)len, 1, &m), -EBADMSG);
		ck_assert_mem_eq(&m, &sentinel, sizeof(m));   /* untouched on failure */
	}
}
END_TEST

START_TEST(unterminated_string)
{
	struct bp_field f = { "app", 3 };
	int n = bp_encode(buf, sizeof(buf), BP_REGISTER, 1, NULL, 0, &f, 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n - 1] = 'x';   /* overwrite the NUL */
	struct bp_msg m;
	ck_assert_int_eq(bp_decode(buf, (size_t)n, 0, &m), -EBADMSG);
}
END_TEST

START_TEST(wrong_fd_count)
{
	struct bp_field f = { "app", 3 };
	int n = bp_encode(buf, sizeof(buf), BP_REGISTER, 1, NULL, 0, &f, 1, 0);
	struct bp_msg m;
	ck_assert_int_eq(bp_decode(buf, (size_t)n, 1, &m), -ETOOMANYREFS);
}
END_TEST

START_TEST(unknown_type)
{
	struct bp_header h = { .type = 999, .size = sizeof(h) };
	memcpy(buf, &h, sizeof(h));
	struct bp_msg m;
	ck_assert_int_eq(bp_decode(buf, sizeof(h), 0, &m), -EOPNOTSUPP);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, transfer_round_trip);
	tcase_add_test(tc, truncated_at_every_length);
	tcase_add_test(tc, unterminated_string);
	tcase_add_test(tc, wrong_fd_count);
	tcase_add_test(tc, unknown_type);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
