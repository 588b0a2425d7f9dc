/* SPDX-License-Identifier: MIT */
/* Limits: each one at its boundary (max fits, max + 1 gets a clear error)
 * and the others carry on. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sec.h"
#include "wire.h"

static broker *registered(const struct hb *b, const char *app)
{
	broker *c;
	ck_assert_int_eq(broker_open(b->socket, &c), 0);
	int r = broker_register(c, app);
	ck_assert_msg(r == 0, "register %s: %s", app, broker_last_message(c));
	return c;
}

/* Transfer a fresh socketpair end; returns the result, and the peer in
 * *peer (closed already if the transfer failed). */
static int give(broker *c, const char *id, const void *ctx, size_t ctx_len, uint32_t keepalive, int *peer)
{
	int sv[2];
	sec_pair(SOCK_STREAM, sv);
	int r = broker_transfer(c, id, sv[1], ctx, ctx_len, keepalive);
	if (r < 0) {
		close(sv[1]);
		close(sv[0]);
		sv[0] = -1;
	}
	*peer = sv[0];
	return r;
}

static void take_back(broker *c, const char *id, int peer)
{
	int fd = broker_claim(c, id, NULL);
	ck_assert_msg(fd >= 0, "claim %s: %s", id, broker_strerror(fd));
	close(fd);
	close(peer);
}

START_TEST(held_per_app_and_in_all)
{
	struct hb b;
	sec_setup(&b, "[limits]\nmax-held = 3\n");
	sec_app_simple(&b, SEC_GOOD_APP, 0, "localSocket");
	sec_app(&b, "a.conf", "[app]\nid = com.example.a\nuser = 0\ncapabilities = localSocket\n"
		"[activation]\ncommand = /bin/true\n[limits]\nmax-sockets = 2\n");
	hb_start(&b);
	broker *a = registered(&b, "com.example.a");
	broker *g = registered(&b, SEC_GOOD_APP);
	int p1, p2, p3, p4, p5;
	ck_assert_int_eq(give(a, "1", NULL, 0, 0, &p1), 0);
	ck_assert_int_eq(give(a, "2", NULL, 0, 0, &p2), 0);
	ck_assert_int_eq(give(a, "3", NULL, 0, 0, &p3), -EDQUOT);
	ck_assert_str_eq(broker_last_message(a), "app com.example.a holds 2 sockets, its limit");
	ck_assert_int_eq(give(a, "2", NULL, 0, 0, &p3), 0);   /* replacing is not holding more */
	ck_assert(sec_peer_closed(p2));                       /* the replaced one is let go */
	close(p2);
	ck_assert_int_eq(give(g, "1", NULL, 0, 0, &p4), 0);   /* 3 in all */
	ck_assert_int_eq(give(g, "2", NULL, 0, 0, &p5), -ENOSPC);
	ck_assert_str_eq(broker_last_message(g), "brokerd holds 3 sockets, its limit");
	take_back(a, "1", p1);
	ck_assert_int_eq(give(g, "2", NULL, 0, 0, &p5), 0);   /* room again */
	take_back(a, "2", p3);
	take_back(g, "1", p4);
	take_back(g, "2", p5);
	broker_close(a);
	broker_close(g);
	sec_end(&b);
}
END_TEST

START_TEST(context_id_and_keepalive)
{
	struct hb b;
	sec_setup(&b, "[limits]\nmax-context = 100\nmax-id-length = 10\nmax-keepalive-sec = 60\n");
	sec_app_simple(&b, SEC_GOOD_APP, 0, "localSocket");
	sec_app(&b, "small.conf", "[app]\nid = com.example.small\nuser = 0\ncapabilities = localSocket\n"
		"[activation]\ncommand = /bin/true\n[limits]\nmax-context = 50\n");
	hb_start(&b);
	broker *c = registered(&b, SEC_GOOD_APP);
	static char ctx[200];
	int p;
	ck_assert_int_eq(give(c, "c100", ctx, 100, 0, &p), 0);
	take_back(c, "c100", p);
	ck_assert_int_eq(give(c, "c101", ctx, 101, 0, &p), -E2BIG);
	ck_assert_str_eq(broker_last_message(c), "context of 101 bytes is over the limit of 100");
	ck_assert_int_eq(give(c, "0123456789", NULL, 0, 0, &p), 0);
	take_back(c, "0123456789", p);
	ck_assert_int_eq(give(c, "0123456789a", NULL, 0, 0, &p), -ENAMETOOLONG);
	ck_assert_str_eq(broker_last_message(c), "id is longer than 10 bytes");
	static const char *const bad_ids[] = { "", ".x", "-x", "a/b", "a:b", "a b", "\xc3\xa9" };
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		ck_assert_msg(give(c, bad_ids[i], NULL, 0, 0, &p) == -EINVAL, "id '%s'", bad_ids[i]);
	ck_assert_int_eq(give(c, "k60", NULL, 0, 60, &p), 0);
	take_back(c, "k60", p);
	ck_assert_int_eq(give(c, "k61", NULL, 0, 61, &p), -EINVAL);
	ck_assert_str_eq(broker_last_message(c), "keep-alive of 61 s is over the limit of 60 s");
	int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&(struct sockaddr_un){ .sun_family = AF_UNIX }, sizeof(sa_family_t)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(broker_transfer(c, "listener", l, NULL, 0, 5), -EINVAL);
	ck_assert_str_eq(broker_last_message(c), "listeners take no keep-alive");
	close(l);
	broker_close(c);

	c = registered(&b, "com.example.small");   /* the manifest's own, lower, cap */
	ck_assert_int_eq(give(c, "c51", ctx, 51, 0, &p), -E2BIG);
	ck_assert_str_eq(broker_last_message(c), "context of 51 bytes is over the limit of 50");
	ck_assert_int_eq(give(c, "c50", ctx, 50, 0, &p), 0);
	take_back(c, "c50", p);
	broker_close(c);
	sec_end(&b);
}
END_TEST

START_TEST(limits_clamped)
{
	/* max-context beyond what max-message carries, max-held beyond the fd limit */
	struct hb b;
	sec_setup(&b, "[limits]\nmax-message = 4096\nmax-context = 60000\nmax-held = 1000000\n");
	sec_app_simple(&b, SEC_GOOD_APP, 0, "localSocket");
	hb_start(&b);
	broker *c = registered(&b, SEC_GOOD_APP);
	/* header 16 + transfer 8 + two lengths 8 + id of up to 128 with its NUL */
	size_t max_ctx = 4096 - 16 - 8 - 8 - 128 - 1;
	static char ctx[8192];
	int p;
	ck_assert_int_eq(give(c, "x", ctx, max_ctx, 0, &p), 0);
	take_back(c, "x", p);
	ck_assert_int_eq(give(c, "x", ctx, max_ctx + 1, 0, &p), -E2BIG);

	broker_status st;
	ck_assert_int_eq(broker_get_status(c, &st), 0);
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	/* room is left for clients (1024), activations (2 x 64) and 64 more */
	ck_assert_msg(st.max_held + 1024 + 128 + 64 <= rl.rlim_max && st.max_held >= 1000,
		      "max-held %u with a hard fd limit of %lu", st.max_held, (unsigned long)rl.rlim_max);
	ck_assert_uint_le(st.max_held_per_app, st.max_held);
	broker_close(c);
	sec_end(&b);
}
END_TEST

static void one_monitor_each(const struct hb *b, void *arg)
{
	(void)arg;
	broker *m1, *m2;
	ck_assert_int_eq(broker_open(b->socket, &m1), 0);
	ck_assert_int_eq(broker_monitor(m1), 0);
	ck_assert_int_eq(broker_open(b->socket, &m2), 0);
	ck_assert_int_eq(broker_monitor(m2), -EUSERS);
	ck_assert_str_eq(broker_last_message(m2), "uid 65534 already has 1 monitors, its limit");
	broker_close(m2);
	broker_close(m1);
}

START_TEST(monitors)
{
	struct hb b;
	sec_begin(&b, "[limits]\nmax-monitors = 2\nmax-monitors-per-uid = 1\n");
	ck_assert_int_eq(sec_as_user(65534, 65534, one_monitor_each, &b, NULL), 0);
	broker *m[3];
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(broker_open(b.socket, &m[i]), 0);
	ck_assert_int_eq(broker_monitor(m[0]), 0);   /* root: no per-uid cap, only the total */
	ck_assert_int_eq(broker_monitor(m[1]), 0);
	ck_assert_int_eq(broker_monitor(m[2]), -EUSERS);
	ck_assert_str_eq(broker_last_message(m[2]), "brokerd already has 2 monitors, its limit");
	sec_good_client(&b, SEC_GOOD_APP);
	for (int i = 0; i < 3; i++)
		broker_close(m[i]);
	sec_end(&b);
}
END_TEST

static const char *app_state(broker *c, const char *id)
{
	broker_app **apps;
	ck_assert_int_ge(broker_list_apps(c, &apps), 1);
	const char *state = "absent";
	for (broker_app **a = apps; *a; a++)
		if (strcmp((*a)->id, id) == 0)
			state = broker_app_state_name((*a)->state);
	broker_app_list_free(apps);
	return state;
}

START_TEST(pending_activations)
{
	struct hb b;
	sec_setup(&b, "[limits]\nmax-pending-activations = 1\nbackoff-initial-ms = 60000\n");
	sec_app_simple(&b, SEC_GOOD_APP, 0, "localSocket");
	/* apps that never open their activation: each start times out */
	for (int i = 1; i <= 2; i++) {
		char file[32], text[512];
		snprintf(file, sizeof(file), "p%d.conf", i);
		snprintf(text, sizeof(text), "[app]\nid = com.example.p%d\nuser = 0\ncapabilities = localSocket\n"
			 "[activation]\ncommand = /bin/sleep 30\ntimeout-ms = 1000\n", i);
		sec_app(&b, file, text);
	}
	hb_start(&b);
	broker *p1 = registered(&b, "com.example.p1"), *p2 = registered(&b, "com.example.p2");
	int peer1, peer2;
	ck_assert_int_eq(give(p1, "s", NULL, 0, 0, &peer1), 0);
	ck_assert_int_eq(give(p2, "s", NULL, 0, 0, &peer2), 0);
	ck_assert_int_eq(write(peer1, "x", 1), 1);
	ck_assert(sec_log_has(&b, "com.example.p1: activating", 1));
	ck_assert_int_eq(write(peer2, "x", 1), 1);
	ck_assert(sec_log_has(&b, "com.example.p2: waiting: 1 activations are already starting", 1));
	ck_assert_str_eq(app_state(p1, "com.example.p1"), "starting");
	ck_assert_str_eq(app_state(p2, "com.example.p2"), "idle");
	sec_good_client(&b, SEC_GOOD_APP);   /* the control side is not held up */
	/* p1's start times out; its slot goes to p2 */
	ck_assert(sec_log_has(&b, "com.example.p2: activating", 1));
	ck_assert(sec_log_has(&b, "com.example.p2: activation failed", 1));
	take_back(p1, "s", peer1);
	take_back(p2, "s", peer2);
	broker_close(p1);
	broker_close(p2);
	sec_end(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, held_per_app_and_in_all);
	tcase_add_test(tc, context_id_and_keepalive);
	tcase_add_test(tc, limits_clamped);
	tcase_add_test(tc, monitors);
	tcase_add_test(tc, pending_activations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return hb_run_suite(suite());
}
