/* SPDX-License-Identifier: MIT */
/* The hand-back exchange (cycle, no control), driven from the app's end of
 * a real SOCK_SEQPACKET pair: ACT_HELLO, a HANDBACK with the socket, its
 * id and context, BATCH_END, HANDBACK_ACK (protocol 3); HANDBACK_MANYs of
 * up to 253 sockets and ACK_MANY (protocol 4); and the ends that are
 * failures (no ack, a broken protocol), whose sockets stay held. */
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "activate.h"
#include "daemon-fixture.h"
#include "handback.h"
#include "wire.h"

static uint8_t buf[BP_MSG_MAX];

static void setup(void)
{
	daemon_setup();
	ck_assert_int_eq(activate_init(&d), 0);
	d.cfg.backoff_initial_ms = 60000;   /* a retry must not start anything here */
}

/* A triggered socket of a, and the peer's end of it. */
static struct held *triggered(struct app *a, const char *id, const char *ctx, int *peer)
{
	int sv[2];
	pair(sv);
	struct held *h = add(a, id, sv[0], ctx, 0);
	lifecycle_trigger(&d, h, BROKER_REASON_SOCKET_ACTIVITY);
	*peer = sv[1];
	return h;
}

/* The exchange's two ends: brokerd's goes to handback_open(). */
static int open_exchange(struct app *a)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert_int_eq(handback_open(&d, a, sv[0]), 0);
	lifecycle_app_state(&d, a, BROKER_APP_STARTING);
	return sv[1];
}

static void send_hello_version(int app, uint32_t version)
{
	struct bp_act_hello h = { .version = version, .pid = (uint32_t)getpid() };
	ck_assert_int_ge(bp_send_msg(app, buf, sizeof(buf), BP_ACT_HELLO, 0, &h, sizeof(h), NULL, 0, NULL, 0, 0), 0);
}

/* An app of protocol 3: one HANDBACK a socket. */
static void send_hello(int app)
{
	send_hello_version(app, 3);
}

static void send_ack(int app, uint64_t serial)
{
	struct bp_handback_ack k = { .serial = serial };
	ck_assert_int_ge(bp_send_msg(app, buf, sizeof(buf), BP_HANDBACK_ACK, 0, &k, sizeof(k), NULL, 0, NULL, 0, 0), 0);
}

/* The next message brokerd sent, running the loop until it comes. */
static void receive(int app, struct bp_msg *m)
{
	for (int i = 0; i < 1000; i++) {
		int r = bp_recv(app, buf, sizeof(buf), MSG_DONTWAIT, m, NULL, NULL);
		if (r != -EAGAIN) {
			ck_assert_int_gt(r, 0);
			return;
		}
		ev_run(d.loop, EVRUN_ONCE);
	}
	ck_abort_msg("brokerd sent nothing");
}

/* A triggered socket handed back over a fresh exchange: the HANDBACK
 * read (its fds closed), the app's end in *ret_app. */
static struct held *handed_back(struct app *a, int *ret_peer, int *ret_app)
{
	struct held *h = triggered(a, "conn", NULL, ret_peer);
	*ret_app = open_exchange(a);
	send_hello(*ret_app);
	struct bp_msg m;
	receive(*ret_app, &m);
	ck_assert_uint_eq(m.type, BP_HANDBACK);
	bp_msg_close_fds(&m);
	return h;
}

START_TEST(hello_handback_ack)
{
	struct app *a = app_with_manifest("app.hb", "[activation]\ncommand = /bin/false\n");
	int peer;
	struct held *h = triggered(a, "conn", "ctx\0bytes", &peer);
	uint64_t serial = h->serial;
	int app = open_exchange(a);
	ck_assert_uint_eq(d.nstarting, 1);
	send_hello(app);

	struct bp_msg m;
	receive(app, &m);
	ck_assert_uint_eq(m.type, BP_HANDBACK);
	ck_assert_uint_eq(m.u.handback.serial, serial);
	ck_assert_uint_eq(m.u.handback.reason, BROKER_REASON_SOCKET_ACTIVITY);
	ck_assert_uint_eq(m.u.handback.kind, BROKER_KIND_STREAM);
	ck_assert_str_eq(bp_msg_str(&m, 0), "app.hb");
	ck_assert_str_eq(bp_msg_str(&m, 1), "conn");
	ck_assert_uint_eq(m.field[2].len, 3);
	ck_assert_mem_eq(m.field[2].ptr, "ctx", 3);
	int fd = bp_msg_take_fd(&m);
	ck_assert_int_ge(fd, 0);
	bp_msg_close_fds(&m);
	receive(app, &m);
	ck_assert_uint_eq(m.type, BP_BATCH_END);
	ck_assert_uint_eq(m.u.end.count, 1);
	ck_assert_uint_eq(a->state, BROKER_APP_RUNNING);
	ck_assert_uint_eq(d.nstarting, 0);
	ck_assert_uint_eq(h->state, BROKER_STATE_HANDING_BACK);
	ck_assert_uint_eq(a->ninflight, 1);
	ck_assert(ev_is_active(&a->timer));   /* the ack deadline */

	/* brokerd keeps its copy until the ack; then lets go */
	send(peer, "x", 1, MSG_NOSIGNAL);
	send_ack(app, serial);
	while (a->nheld)
		ev_run(d.loop, EVRUN_ONCE);
	ck_assert_uint_eq(d.handbacks_total, 1);
	ck_assert_uint_eq(a->ninflight, 0);
	ck_assert(!ev_is_active(&a->timer));
	char c;
	ck_assert_int_eq(recv(fd, &c, 1, MSG_DONTWAIT), 1);   /* the app's copy works */
	close(fd);
	ck_assert(peer_sees_eof(peer));   /* it was the last copy */

	/* the app ends its activation: an ordinary end */
	close(app);
	while (a->conn)
		ev_run(d.loop, EVRUN_ONCE);
	ck_assert_uint_eq(a->state, BROKER_APP_IDLE);
	ck_assert_uint_eq(a->failures, 0);
	close(peer);
}
END_TEST

/* The app said hello and went without acknowledging: the socket is
 * pending again, brokerd's copy intact, and the attempt a failure. */
START_TEST(no_ack_requeues)
{
	struct app *a = app_with_manifest("app.hb", "[activation]\ncommand = /bin/false\n");
	int peer, app;
	struct held *h = handed_back(a, &peer, &app);
	close(app);
	while (a->conn)
		ev_run(d.loop, EVRUN_ONCE);
	ck_assert_uint_eq(h->state, BROKER_STATE_TRIGGERED);
	ck_assert_ptr_eq(TAILQ_FIRST(&a->pending), h);
	ck_assert_uint_eq(a->npending, 1);
	ck_assert_uint_eq(a->ninflight, 0);
	ck_assert_uint_eq(a->state, BROKER_APP_BACKOFF);
	ck_assert_uint_eq(a->failures, 1);
	ck_assert_uint_gt(a->retry_at, 0);
	ck_assert_uint_eq(d.handbacks_total, 0);
	ck_assert(!peer_sees_eof(peer));
	close(peer);
}
END_TEST

/* A second hello breaks the protocol: the exchange ends as a failure. */
START_TEST(protocol_broken)
{
	struct app *a = app_with_manifest("app.hb", "[activation]\ncommand = /bin/false\n");
	int app = open_exchange(a);
	send_hello(app);
	struct bp_msg m;
	receive(app, &m);
	ck_assert_uint_eq(m.type, BP_BATCH_END);   /* nothing pending: an empty batch all the same */
	ck_assert_uint_eq(m.u.end.count, 0);
	send_hello(app);
	while (a->conn)
		ev_run(d.loop, EVRUN_ONCE);
	ck_assert_uint_eq(a->state, BROKER_APP_BACKOFF);
	ck_assert_uint_eq(a->failures, 1);
	char c;
	ck_assert_int_eq(recv(app, &c, 1, MSG_DONTWAIT), 0);   /* brokerd closed its end */
	close(app);
}
END_TEST

/* Dropping a socket in flight: nothing is left to acknowledge in time. */
START_TEST(drop_in_flight_stops_deadline)
{
	struct app *a = app_with_manifest("app.hb", "[activation]\ncommand = /bin/false\n");
	int peer, app;
	struct held *h = handed_back(a, &peer, &app);
	struct bp_msg m;
	receive(app, &m);
	ck_assert(ev_is_active(&a->timer));
	lifecycle_remove(&d, &(struct event){ .type = EVENT_DROP, .held = h });
	ck_assert_uint_eq(a->ninflight, 0);
	ck_assert(!ev_is_active(&a->timer));
	send_ack(app, 1);   /* late: ignored */
	spin();
	ck_assert_ptr_nonnull(a->conn);
	close(app);
	close(peer);
	spin();
}
END_TEST

/* ACK_MANY of serials[0..n). */
static void send_acks(int app, const uint64_t *serials, uint32_t n, uint32_t count)
{
	struct bp_many k = { .count = count };
	struct bp_field f = { serials, n * (uint32_t)sizeof(uint64_t) };
	ck_assert_int_ge(bp_send_msg(app, buf, sizeof(buf), BP_ACK_MANY, 0, &k, sizeof(k), &f, 1, NULL, 0, 0), 0);
}

static const uint8_t item_kind[] = { BP_ITEM_STR, BP_ITEM_BYTES };

/* A HANDBACK_MANY read: each item's serial, id and context checked
 * against held[first..), its fds closed; how many it carried. */
static unsigned read_many(int app, struct held **held, unsigned first)
{
	struct bp_msg m;
	receive(app, &m);
	ck_assert_uint_eq(m.type, BP_HANDBACK_MANY);
	ck_assert_str_eq(bp_msg_str(&m, 0), "app.hb");
	ck_assert_uint_eq(m.u.many.count, m.nfds);
	struct bp_handback w;
	struct bp_field f[2];
	size_t off = 0;
	unsigned n = 0;
	while (bp_item_get(&m.field[1], &off, &w, sizeof(w), f, item_kind, 2) == 0) {
		struct held *h = held[first + n];
		ck_assert_uint_eq(w.serial, h->serial);
		ck_assert_uint_eq(w.reason, BROKER_REASON_SOCKET_ACTIVITY);
		ck_assert_str_eq(f[0].ptr, held_id(h));
		ck_assert_uint_eq(f[1].len, h->ctx_len);
		ck_assert_mem_eq(f[1].ptr, held_ctx(h), h->ctx_len);
		struct stat a, b;   /* the item's fd is the socket it names */
		ck_assert_int_eq(fstat(m.fds[n], &a), 0);
		ck_assert_int_eq(fstat(held_fd(h), &b), 0);
		ck_assert_uint_eq(a.st_ino, b.st_ino);
		n++;
	}
	ck_assert_uint_eq(off, m.field[1].len);
	ck_assert_uint_eq(n, m.u.many.count);
	bp_msg_close_fds(&m);
	return n;
}

#define NMANY 300

/* Protocol 4: 300 sockets go in two messages (253, 47) and one batch end,
 * and two ACK_MANYs let go of them all, each counted once. */
START_TEST(many_handback_and_acks)
{
	struct app *a = app_with_manifest("app.hb", "[activation]\ncommand = /bin/false\n");
	static struct held *held[NMANY];
	static int peers[NMANY];
	static uint64_t serials[NMANY];
	for (unsigned i = 0; i < NMANY; i++) {
		char id[16], ctx[16];
		snprintf(id, sizeof(id), "c%u", i);
		snprintf(ctx, sizeof(ctx), "ctx%u", i);
		held[i] = triggered(a, id, ctx, &peers[i]);
		serials[i] = held[i]->serial;
	}
	int app = open_exchange(a);
	send_hello_version(app, 4);
	ck_assert_uint_eq(read_many(app, held, 0), BP_FDS_MAX);
	ck_assert_uint_eq(read_many(app, held, BP_FDS_MAX), NMANY - BP_FDS_MAX);
	struct bp_msg m;
	receive(app, &m);
	ck_assert_uint_eq(m.type, BP_BATCH_END);
	ck_assert_uint_eq(m.u.end.count, NMANY);
	ck_assert_uint_eq(a->ninflight, NMANY);
	ck_assert(ev_is_active(&a->timer));

	uint64_t backwards[100];   /* in any order: each is looked up by serial */
	for (unsigned i = 0; i < 100; i++)
		backwards[i] = serials[99 - i];
	send_acks(app, backwards, 100, 100);
	while (a->nheld > NMANY - 100)
		ev_run(d.loop, EVRUN_ONCE);
	ck_assert(ev_is_active(&a->timer));   /* 200 still to acknowledge */
	ck_assert(peer_sees_eof(peers[0]) && peer_sees_eof(peers[99]) && !peer_sees_eof(peers[100]));
	send_acks(app, serials + 100, NMANY - 100, NMANY - 100);
	while (a->nheld)
		ev_run(d.loop, EVRUN_ONCE);
	ck_assert_uint_eq(d.handbacks_total, NMANY);
	ck_assert_uint_eq(a->ninflight, 0);
	ck_assert(!ev_is_active(&a->timer));
	for (unsigned i = 0; i < NMANY; i++) {
		ck_assert(peer_sees_eof(peers[i]));
		close(peers[i]);
	}
	close(app);
	while (a->conn)
		ev_run(d.loop, EVRUN_ONCE);
	ck_assert_uint_eq(a->state, BROKER_APP_IDLE);
	ck_assert_uint_eq(a->failures, 0);
}
END_TEST

/* Contexts that fill a message: a HANDBACK_MANY takes what fits, the
 * rest go in the next. */
START_TEST(many_split_by_size)
{
	struct app *a = app_with_manifest("app.hb", "[activation]\ncommand = /bin/false\n");
	static char ctx[30000];
	memset(ctx, 'c', sizeof(ctx) - 1);
	struct held *held[3];
	int peers[3];
	for (unsigned i = 0; i < 3; i++)
		held[i] = triggered(a, i == 0 ? "a" : i == 1 ? "b" : "c", ctx, &peers[i]);
	int app = open_exchange(a);
	send_hello_version(app, 4);
	ck_assert_uint_eq(read_many(app, held, 0), 2);
	ck_assert_uint_eq(read_many(app, held, 2), 1);
	struct bp_msg m;
	receive(app, &m);
	ck_assert_uint_eq(m.type, BP_BATCH_END);
	uint64_t serials[3] = { held[0]->serial, held[1]->serial, held[2]->serial };
	send_acks(app, serials, 3, 3);
	while (a->nheld)
		ev_run(d.loop, EVRUN_ONCE);
	for (unsigned i = 0; i < 3; i++)
		close(peers[i]);
	close(app);
	spin();
}
END_TEST

/* ACK_MANYs that do not add up, or from an app of protocol 3, break the
 * protocol: a failure, nothing let go, every socket pending again. */
START_TEST(ack_many_malformed)
{
	static const struct { uint32_t version, n, count, flags; } cases[] = {
		{ 4, 2, 3, 0 },   /* count says more than the serials */
		{ 4, 2, 1, 0 },   /* and fewer */
		{ 4, 0, 0, 0 },   /* nothing */
		{ 4, 2, 2, 1 },   /* flags */
		{ 3, 2, 2, 0 },   /* protocol 3 knows no ACK_MANY */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char id[16];   /* an app each: one in back-off stays until the teardown */
		snprintf(id, sizeof(id), "app.hb%zu", i);
		struct app *a = app_with_manifest(id, "[activation]\ncommand = /bin/false\n");
		int peers[2];
		struct held *held[2] = { triggered(a, "x", NULL, &peers[0]), triggered(a, "y", NULL, &peers[1]) };
		uint64_t serials[2] = { held[0]->serial, held[1]->serial };
		int app = open_exchange(a);
		send_hello_version(app, cases[i].version);
		struct bp_msg m;
		do {
			receive(app, &m);
			bp_msg_close_fds(&m);
		} while (m.type != BP_BATCH_END);
		struct bp_many k = { .count = cases[i].count, .flags = cases[i].flags };
		struct bp_field f = { serials, cases[i].n * (uint32_t)sizeof(uint64_t) };
		ck_assert_int_ge(bp_send_msg(app, buf, sizeof(buf), BP_ACK_MANY, 0, &k, sizeof(k), &f, 1, NULL, 0, 0), 0);
		while (a->conn)
			ev_run(d.loop, EVRUN_ONCE);
		ck_assert_msg(a->state == BROKER_APP_BACKOFF, "case %zu: state %u", i, a->state);
		ck_assert_uint_eq(a->npending, 2);
		ck_assert_uint_eq(a->ninflight, 0);
		ck_assert_uint_eq(d.handbacks_total, 0);
		ck_assert(!peer_sees_eof(peers[0]) && !peer_sees_eof(peers[1]));
		close(app);
		lifecycle_remove(&d, &(struct event){ .type = EVENT_DROP, .held = held[0] });
		lifecycle_remove(&d, &(struct event){ .type = EVENT_DROP, .held = held[1] });
		close(peers[0]);
		close(peers[1]);
		spin();
	}
}
END_TEST

/* Versions brokerd does not speak end the exchange at the hello. */
START_TEST(hello_versions)
{
	static const uint32_t bad[] = { 0, 1, BP_VERSION + 1, 1000 };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char id[16];
		snprintf(id, sizeof(id), "app.hb%zu", i);
		struct app *a = app_with_manifest(id, "[activation]\ncommand = /bin/false\n");
		int app = open_exchange(a);
		send_hello_version(app, bad[i]);
		while (a->conn)
			ev_run(d.loop, EVRUN_ONCE);
		ck_assert_uint_eq(a->state, BROKER_APP_BACKOFF);
		close(app);
	}
	/* 2 is served still, one HANDBACK a socket */
	struct app *a = app_with_manifest("app.hb", "[activation]\ncommand = /bin/false\n");
	int peer;
	triggered(a, "conn", NULL, &peer);
	int app = open_exchange(a);
	send_hello_version(app, 2);
	struct bp_msg m;
	receive(app, &m);
	ck_assert_uint_eq(m.type, BP_HANDBACK);
	bp_msg_close_fds(&m);
	close(app);
	close(peer);
	spin();
}
END_TEST

static void teardown(void)
{
	activate_shutdown(&d);
	daemon_teardown();
}

static Suite *suite(void)
{
	Suite *s = suite_create("handback");
	TCase *tc = tcase_create("handback");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hello_handback_ack);
	tcase_add_test(tc, no_ack_requeues);
	tcase_add_test(tc, protocol_broken);
	tcase_add_test(tc, drop_in_flight_stops_deadline);
	tcase_add_test(tc, many_handback_and_acks);
	tcase_add_test(tc, many_split_by_size);
	tcase_add_test(tc, ack_many_malformed);
	tcase_add_test(tc, hello_versions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
