/* SPDX-License-Identifier: MIT */
/*
 * The bulk verbs through libbroker: broker_transfer_many() of more sockets
 * and more context than one message takes, then broker_claim_many() of a
 * list (in its order, a missing id among them) and of all: every socket
 * back is the very one handed over (its port, its bytes), with its
 * context, and brokerd keeps no copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define APP "org.test.bulk"
#define N 700            /* three messages by fds; more by bytes */

/* Socket i's context: its number, a NUL, then up to 900 bytes of it. */
static size_t context_of(unsigned i, char *buf)
{
	size_t len = (size_t)snprintf(buf, 32, "ctx-%u", i) + 1 + (i % 7) * 150;
	memset(buf + strlen(buf) + 1, 'a' + (int)(i % 26), len - strlen(buf) - 1);
	return len;
}

static int held[N], peer[N];
static uint16_t port[N];
static char ids[N][16];

static void hand_over(struct hb *b, broker *c)
{
	static char ctx[N][1024];
	broker_transfer_item items[N];
	for (unsigned i = 0; i < N; i++) {
		hb_tcp_pair(&held[i], &peer[i]);
		port[i] = hb_local_port(held[i]);
		snprintf(ids[i], sizeof(ids[i]), "c%u", i);
		items[i] = (broker_transfer_item){ ids[i], held[i], ctx[i], context_of(i, ctx[i]), i % 3 ? 0 : 60 };
	}
	broker_result *res;
	ck_assert_int_eq(broker_transfer_many(c, items, N, &res), N);
	for (unsigned i = 0; i < N; i++) {
		ck_assert_int_eq(res[i].error, 0);
		ck_assert_str_eq(res[i].id, ids[i]);
		ck_assert_str_eq(res[i].message, "");
		ck_assert_int_eq(res[i].fd, -1);
		ck_assert_int_eq(fcntl(held[i], F_GETFD), -1);   /* closed once brokerd held it */
	}
	broker_results_free(res, N);
	hb_assert_fds(b, b->base_fds + 1 + N);
}

/* Result r is socket i, the very one, with its context and keep-alive. */
static void expect_socket(const broker_result *r, unsigned i)
{
	char ctx[1024];
	size_t len = context_of(i, ctx);
	ck_assert_int_eq(r->error, 0);
	ck_assert_str_eq(r->id, ids[i]);
	ck_assert_int_ge(r->fd, 0);
	ck_assert_ptr_nonnull(r->info);
	ck_assert_str_eq(r->info->app_id, APP);
	ck_assert_str_eq(r->info->id, ids[i]);
	ck_assert_uint_eq(r->info->context_len, len);
	ck_assert_mem_eq(r->info->context, ctx, len);
	ck_assert_uint_eq(r->info->keepalive_sec, i % 3 ? 0 : 60);
	ck_assert_int_eq(r->info->kind, BROKER_KIND_STREAM);
	ck_assert_uint_eq(hb_local_port(r->fd), port[i]);
	char msg[16];
	int n = snprintf(msg, sizeof(msg), "to %u", i);
	hb_send(peer[i], msg, (size_t)n);
	ck_assert(hb_recv_is(r->fd, msg, (size_t)n));
	hb_send(r->fd, "back", 4);
	ck_assert(hb_recv_is(peer[i], "back", 4));
}

START_TEST(transfer_many_claim_list_and_all)
{
	hb_raise_nofile(4 * N);
	struct hb b;
	hb_init(&b, "bulk", NULL);
	hb_testapp(&b, APP, "%s", "");
	hb_start(&b);
	broker *c = hb_open(&b, APP);
	hand_over(&b, c);
	broker_info **list;
	ck_assert_int_eq(broker_list(c, NULL, &list), N);
	broker_info_list_free(list);

	/* half of them by name, backwards, with an id nobody holds in the middle */
	const char *want[N / 2 + 1];
	unsigned k = 0;
	for (unsigned i = N; i-- > N / 2;) {
		if (k == N / 4)
			want[k++] = "nobody";
		want[k++] = ids[i];
	}
	broker_result *res;
	ck_assert_int_eq(broker_claim_many(c, want, k, &res), (int)k);
	unsigned i = N;
	for (unsigned j = 0; j < k; j++) {
		if (j == N / 4) {
			ck_assert_str_eq(res[j].id, "nobody");
			ck_assert_int_eq(res[j].error, -ENOENT);
			ck_assert_int_eq(res[j].fd, -1);
			ck_assert_ptr_null(res[j].info);
			ck_assert_ptr_nonnull(strstr(res[j].message, "holds no socket nobody"));
			continue;
		}
		expect_socket(&res[j], --i);
		close(res[j].fd);
	}
	broker_results_free(res, k);
	hb_assert_fds(&b, b.base_fds + 1 + N / 2);

	/* and the rest, all of them, in the order they were held */
	ck_assert_int_eq(broker_claim_many(c, NULL, 0, &res), N / 2);
	for (unsigned j = 0; j < N / 2; j++) {
		expect_socket(&res[j], j);
		close(res[j].fd);
	}
	broker_results_free(res, N / 2);
	ck_assert_int_eq(broker_claim_many(c, NULL, 0, &res), 0);
	broker_results_free(res, 0);
	hb_assert_fds(&b, b.base_fds + 1);
	for (unsigned j = 0; j < N; j++)
		close(peer[j]);
	broker_close(c);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* What the library refuses itself, and what brokerd refuses, per socket. */
START_TEST(per_socket_errors)
{
	struct hb b;
	hb_init(&b, "bulk-errors", NULL);
	hb_testapp(&b, APP, "%s", "");
	hb_start(&b);
	broker *c = hb_open(&b, APP);
	int s[3], p[3], pp[2];
	for (int i = 0; i < 3; i++)
		hb_tcp_pair(&s[i], &p[i]);
	ck_assert_int_eq(pipe2(pp, O_CLOEXEC), 0);
	broker_transfer_item items[] = {
		{ "a", s[0], NULL, 0, 0 },
		{ "pipe", pp[0], NULL, 0, 0 },
		{ "bad id", s[1], NULL, 0, 0 },
		{ NULL, s[1], NULL, 0, 0 },
		{ "b", s[2], "x", 1, 0 },
		{ "a-again", s[0], NULL, 0, 0 },   /* the same socket under another id */
	};
	broker_result *res;
	ck_assert_int_eq(broker_transfer_many(c, items, 6, &res), 2);
	static const int want[] = { 0, -ENOTSOCK, -EINVAL, -EINVAL, 0, -EEXIST };
	for (int i = 0; i < 6; i++)
		ck_assert_msg(res[i].error == want[i], "item %d: %s", i, res[i].message);
	ck_assert_ptr_nonnull(strstr(res[2].message, "id must be"));
	broker_results_free(res, 6);
	ck_assert_int_eq(fcntl(s[1], F_GETFD), FD_CLOEXEC);   /* refused: still ours */
	ck_assert_int_eq(fcntl(pp[0], F_GETFD), FD_CLOEXEC);
	hb_assert_fds(&b, b.base_fds + 1 + 2);
	/* not registered: the whole call fails */
	broker *u;
	ck_assert_int_eq(broker_open(b.socket, &u), 0);
	ck_assert_int_eq(broker_claim_many(u, NULL, 0, &res), -EDESTADDRREQ);
	broker_close(u);
	/* an id named twice: the first takes the socket, the second finds none */
	const char *twice[] = { "b", "b" };
	ck_assert_int_eq(broker_claim_many(c, twice, 2, &res), 2);
	ck_assert_int_eq(res[0].error, 0);
	ck_assert_int_ge(res[0].fd, 0);
	ck_assert_int_eq(res[1].error, -ENOENT);
	ck_assert_int_eq(res[1].fd, -1);
	ck_assert_ptr_nonnull(strstr(res[1].message, "named twice"));
	close(res[0].fd);
	broker_results_free(res, 2);
	hb_assert_fds(&b, b.base_fds + 1 + 1);
	ck_assert_int_eq(broker_claim_many(c, NULL, 0, &res), 1);
	ck_assert_str_eq(res[0].id, "a");
	close(res[0].fd);
	broker_results_free(res, 1);
	broker_close(c);
	close(s[1]);
	close(pp[0]);
	close(pp[1]);
	for (int i = 0; i < 3; i++)
		close(p[i]);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bulk");
	TCase *tc = tcase_create("bulk");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, transfer_many_claim_list_and_all);
	tcase_add_test(tc, per_socket_errors);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
