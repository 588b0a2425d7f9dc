/* SPDX-License-Identifier: MIT */
/* The hand-back exchange (cycle, no control), driven from the app's end of
 * a real SOCK_SEQPACKET pair: ACT_HELLO, a HANDBACK with the socket, its
 * id and context, BATCH_END, HANDBACK_ACK; and the ends that are failures
 * (no ack, a broken protocol), whose sockets stay held. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

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

static void send_hello(int app)
{
	struct bp_act_hello h = { .version = BP_VERSION, .pid = (uint32_t)getpid() };
	ck_assert_int_ge(bp_send_msg(app, buf, sizeof(buf), BP_ACT_HELLO, 0, &h, sizeof(h), NULL, 0, NULL, 0, 0), 0);
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
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
