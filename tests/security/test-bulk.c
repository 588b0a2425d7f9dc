/* SPDX-License-Identifier: MIT */
/* Hostile input to the bulk verbs, TRANSFER_MANY and CLAIM_MANY, sent raw
 * (libbroker would not send it): wrong fd counts and item counts, more fds
 * than SCM_RIGHTS can say, a non-socket among many, a socket held for
 * another app, another app's ids, and an app's limit reached in the middle
 * of a batch.  Which sockets succeed and which fail is checked one by
 * one, and every socket brokerd does not keep is closed in brokerd. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sec.h"
#include "wire.h"

#define LIMITED_APP "com.example.limited"
#define OTHER_APP "com.example.other"

static uint8_t buf[BP_MSG_MAX];
static uint8_t items[BP_MSG_MAX];

static void begin(struct hb *b)
{
	sec_setup(b, NULL);
	sec_app_simple(b, SEC_GOOD_APP, 0, "localSocket");
	sec_app_simple(b, OTHER_APP, 0, "localSocket");
	sec_app(b, "limited.conf", "[app]\nid = " LIMITED_APP "\nuser = 0\ncapabilities = localSocket\n"
		"[activation]\ncommand = /bin/true\n[limits]\nmax-sockets = 4\n");
	hb_start(b);
	sec_good_client(b, SEC_GOOD_APP);
}

/* A TRANSFER_MANY of n items named PREFIX-i (the last cut short after
 * its head if cut), its header saying nfds and its count saying count. */
static size_t many_packet_cut(uint32_t seq, const char *prefix, unsigned n, unsigned count, unsigned nfds,
			      bool cut)
{
	static const uint8_t kind[] = { BP_ITEM_STR, BP_ITEM_BYTES };
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		if (cut && i == n - 1) {
			struct bp_transfer t = { 0 };
			memcpy(items + off, &t, sizeof(t));
			off += sizeof(t);
			break;
		}
		char id[64];
		snprintf(id, sizeof(id), "%s-%u", prefix, i);
		struct bp_transfer t = { 0 };
		struct bp_field f[2] = { { id, (uint32_t)strlen(id) }, { "ctx", 3 } };
		ck_assert_int_eq(bp_item_put(items, sizeof(items), &off, &t, sizeof(t), f, kind, 2), 0);
	}
	struct bp_many many = { .count = count };
	struct bp_field f = { items, (uint32_t)off };
	size_t len = sec_encode(buf, sizeof(buf), BP_TRANSFER_MANY, seq, &many, sizeof(many), &f, 1,
				nfds > BP_FDS_MAX || nfds == 0 ? 1 : nfds);
	struct bp_header h;
	memcpy(&h, buf, sizeof(h));
	h.nfds = (uint16_t)nfds;
	memcpy(buf, &h, sizeof(h));
	return len;
}

static size_t many_packet(uint32_t seq, const char *prefix, unsigned n, unsigned count, unsigned nfds)
{
	return many_packet_cut(seq, prefix, n, count, nfds, false);
}

/* Read the RESULTS of seq (one message, no fds) into errors[0..n). */
static void expect_results(int c, uint32_t seq, unsigned n, int *errors)
{
	static const uint8_t kind[] = { BP_ITEM_STR, BP_ITEM_BYTES, BP_ITEM_STR };
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(c, &m), 1);
	ck_assert_uint_eq(m.type, BP_RESULTS);
	ck_assert_uint_eq(m.seq, seq);
	ck_assert_uint_eq(m.u.many.count, n);
	ck_assert_uint_eq(m.u.many.flags, 0);
	ck_assert_uint_eq(m.nfds, 0);
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		struct bp_result head;
		struct bp_field f[3];
		ck_assert_int_eq(bp_item_get(&m.field[0], &off, &head, sizeof(head), f, kind, 3), 0);
		ck_assert_uint_eq(head.nfds, 0);
		errors[i] = head.error;
	}
	ck_assert_int_eq(bp_item_get(&m.field[0], &off, NULL, 0, NULL, kind, 0), 1);
}

static void pairs(int (*sv)[2], unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sec_pair(SOCK_STREAM, sv[i]);
}

START_TEST(wrong_counts)
{
	struct hb b;
	begin(&b);
	int c = sec_raw_registered(&b, SEC_GOOD_APP);
	int sv[BP_FDS_MAX][2], fds[BP_FDS_MAX];
	pairs(sv, BP_FDS_MAX);
	for (unsigned i = 0; i < BP_FDS_MAX; i++)
		fds[i] = sv[i][1];

	size_t n = many_packet(10, "x", 3, 3, 3);     /* says 3, sends 2 */
	sec_raw_send(c, buf, n, fds, 2);
	sec_expect_error(c, 10, -ETOOMANYREFS);
	n = many_packet(11, "x", 3, 3, 2);            /* says 2, sends 3 */
	sec_raw_send(c, buf, n, fds, 3);
	sec_expect_error(c, 11, -ETOOMANYREFS);
	n = many_packet(12, "x", 2, 3, 3);            /* 3 fds, a count of 3, 2 items */
	sec_raw_send(c, buf, n, fds, 3);
	sec_expect_error(c, 12, -EBADMSG);
	n = many_packet(13, "x", 3, 2, 3);            /* 3 fds, 3 items, a count of 2 */
	sec_raw_send(c, buf, n, fds, 3);
	sec_expect_error(c, 13, -EBADMSG);
	n = many_packet(14, "x", 0, 0, 0);            /* none at all */
	sec_raw_send(c, buf, n, NULL, 0);
	sec_expect_error(c, 14, -ETOOMANYREFS);
	/* more than any message may say: 253 arrive, the header says 254 or 65535 */
	n = many_packet(15, "x", BP_FDS_MAX, BP_FDS_MAX, BP_FDS_MAX + 1);
	sec_raw_send(c, buf, n, fds, BP_FDS_MAX);
	sec_expect_error(c, 15, -ETOOMANYREFS);
	n = many_packet(16, "x", BP_FDS_MAX, BP_FDS_MAX, 65535);
	sec_raw_send(c, buf, n, fds, BP_FDS_MAX);
	sec_expect_error(c, 16, -ETOOMANYREFS);
	/* a malformed item among good ones */
	n = many_packet_cut(17, "x", 3, 3, 3, true);
	sec_raw_send(c, buf, n, fds, 3);
	sec_expect_error(c, 17, -EBADMSG);

	for (unsigned i = 0; i < BP_FDS_MAX; i++)
		sec_expect_released(sv[i]);
	close(c);
	sec_end(&b);
}
END_TEST

/* 253 sockets, of which one is a pipe, one is the same socket again and
 * one is held for another app: each gets its own result. */
START_TEST(bad_sockets_among_many)
{
	struct hb b;
	begin(&b);
	int other = sec_raw_registered(&b, OTHER_APP), c = sec_raw_registered(&b, SEC_GOOD_APP);
	int theirs[2];
	sec_pair(SOCK_STREAM, theirs);
	size_t n = many_packet(5, "theirs", 1, 1, 1);
	sec_raw_send(other, buf, n, &theirs[1], 1);
	int err[BP_FDS_MAX];
	expect_results(other, 5, 1, err);
	ck_assert_int_eq(err[0], 0);

	int sv[BP_FDS_MAX][2], fds[BP_FDS_MAX], pp[2];
	pairs(sv, BP_FDS_MAX);
	ck_assert_int_eq(pipe(pp), 0);
	for (unsigned i = 0; i < BP_FDS_MAX; i++)
		fds[i] = sv[i][1];
	fds[7] = pp[0];
	fds[100] = sv[99][1];           /* the socket of item 99 again, under another id */
	fds[200] = theirs[1];
	n = many_packet(6, "mine", BP_FDS_MAX, BP_FDS_MAX, BP_FDS_MAX);
	sec_raw_send(c, buf, n, fds, BP_FDS_MAX);
	expect_results(c, 6, BP_FDS_MAX, err);
	for (unsigned i = 0; i < BP_FDS_MAX; i++) {
		int want = i == 7 ? -ENOTSOCK : i == 100 || i == 200 ? -EEXIST : 0;
		ck_assert_msg(err[i] == want, "item %u: %d, expected %d", i, err[i], want);
	}
	hb_assert_fds(&b, b.base_fds + 2 + 1 + BP_FDS_MAX - 3);
	/* brokerd closed the pipe: nothing but us holds its read end now */
	close(pp[0]);
	ck_assert_int_eq(write(pp[1], "x", 1), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(pp[1]);

	/* another app's ids are not ours to claim; ours are */
	static const uint8_t kind[] = { BP_ITEM_STR };
	size_t off = 0;
	const char *ids[] = { "theirs-0", "mine-0", "mine-7" };
	for (unsigned i = 0; i < 3; i++) {
		struct bp_field f = { ids[i], (uint32_t)strlen(ids[i]) };
		ck_assert_int_eq(bp_item_put(items, sizeof(items), &off, NULL, 0, &f, kind, 1), 0);
	}
	struct bp_claim_many cm = { 0 };
	struct bp_field f = { items, (uint32_t)off };
	sec_raw_msg(c, BP_CLAIM_MANY, 7, &cm, sizeof(cm), &f, 1, NULL, 0);
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(c, &m), 1);
	ck_assert_uint_eq(m.type, BP_RESULTS);
	ck_assert_uint_eq(m.u.many.count, 3);
	ck_assert_uint_eq(m.nfds, 1);
	static const uint8_t rkind[] = { BP_ITEM_STR, BP_ITEM_BYTES, BP_ITEM_STR };
	struct bp_result head;
	struct bp_field rf[3];
	off = 0;
	static const int want[] = { -ENOENT, 0, -ENOENT };
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(bp_item_get(&m.field[0], &off, &head, sizeof(head), rf, rkind, 3), 0);
		ck_assert_int_eq(head.error, want[i]);
		ck_assert_str_eq(rf[0].ptr, ids[i]);
	}
	/* the socket of mine-0, and no other */
	ck_assert_int_eq(write(sv[0][0], "0", 1), 1);
	char ch;
	ck_assert_int_eq(read(m.fds[0], &ch, 1), 1);
	ck_assert_int_eq(ch, '0');
	bp_msg_close_fds(&m);
	ck_assert_int_eq(hb_held_state(&b, OTHER_APP, "theirs-0"), BROKER_STATE_WATCHING);

	/* CLAIM_ALL with ids, and unknown flags: refused as a whole */
	cm.flags = BP_CLAIM_ALL;
	sec_raw_msg(c, BP_CLAIM_MANY, 8, &cm, sizeof(cm), &f, 1, NULL, 0);
	sec_expect_error(c, 8, -EINVAL);
	cm.flags = 2;
	sec_raw_msg(c, BP_CLAIM_MANY, 9, &cm, sizeof(cm), &(struct bp_field){ NULL, 0 }, 1, NULL, 0);
	sec_expect_error(c, 9, -EINVAL);

	close(c);
	close(other);
	broker *g = hb_open(&b, SEC_GOOD_APP), *o = hb_open(&b, OTHER_APP);
	broker_result *res;
	ck_assert_int_eq(broker_claim_many(g, NULL, 0, &res), BP_FDS_MAX - 4);
	for (unsigned i = 0; i < BP_FDS_MAX - 4; i++)
		close(res[i].fd);
	broker_results_free(res, BP_FDS_MAX - 4);
	ck_assert_int_eq(broker_claim_many(o, NULL, 0, &res), 1);
	close(res[0].fd);
	broker_results_free(res, 1);
	broker_close(g);
	broker_close(o);
	for (unsigned i = 0; i < BP_FDS_MAX; i++)
		sec_expect_released(sv[i]);
	sec_expect_released(theirs);
	sec_end(&b);
}
END_TEST

/* max-sockets = 4 and a batch of 7: the first four are held, the rest
 * refused with -EDQUOT, and brokerd keeps no copy of those. */
START_TEST(limit_in_the_middle)
{
	struct hb b;
	begin(&b);
	int c = sec_raw_registered(&b, LIMITED_APP);
	int sv[7][2], fds[7];
	pairs(sv, 7);
	for (unsigned i = 0; i < 7; i++)
		fds[i] = sv[i][1];
	size_t n = many_packet(3, "s", 7, 7, 7);
	sec_raw_send(c, buf, n, fds, 7);
	int err[7];
	expect_results(c, 3, 7, err);
	for (unsigned i = 0; i < 7; i++)
		ck_assert_int_eq(err[i], i < 4 ? 0 : -EDQUOT);
	hb_assert_fds(&b, b.base_fds + 1 + 4);
	for (unsigned i = 4; i < 7; i++)
		sec_expect_released(sv[i]);
	/* a replacement of a held id takes no more room */
	n = many_packet(4, "s", 2, 2, 2);
	int again[2][2];
	pairs(again, 2);
	int two[2] = { again[0][1], again[1][1] };
	sec_raw_send(c, buf, n, two, 2);
	expect_results(c, 4, 2, err);
	ck_assert_int_eq(err[0], 0);
	ck_assert_int_eq(err[1], 0);
	sec_expect_released(sv[0]);     /* s-0 replaced: its old socket let go */
	sec_expect_released(sv[1]);
	close(c);
	broker *l = hb_open(&b, LIMITED_APP);
	broker_result *res;
	ck_assert_int_eq(broker_claim_many(l, NULL, 0, &res), 4);
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_int_eq(res[i].error, 0);
		close(res[i].fd);
	}
	broker_results_free(res, 4);
	broker_close(l);
	for (unsigned i = 2; i < 4; i++)
		sec_expect_released(sv[i]);
	sec_expect_released(again[0]);
	sec_expect_released(again[1]);
	sec_end(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bulk");
	TCase *tc = tcase_create("bulk");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, wrong_counts);
	tcase_add_test(tc, bad_sockets_among_many);
	tcase_add_test(tc, limit_in_the_middle);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
