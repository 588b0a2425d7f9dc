/* SPDX-License-Identifier: MIT */
/*
 * libbroker's side of a hand-back, against a stand-in brokerd on the other
 * end of a real SOCK_SEQPACKET pair: its ACT_HELLO says protocol 4; the
 * sockets of a HANDBACK_MANY come out one at a time, each accept
 * acknowledged at once, or many at a time (receive_many), acknowledged in
 * one ACK_MANY (accept_many), per-socket errors where one cannot be; while
 * sockets wait in the library its fd stays readable; dispatch, a single
 * HANDBACK, close and take_fd; a malformed HANDBACK_MANY ends the
 * connection with every fd it brought closed.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <socket-broker/broker.h>
#include "testutil.h"
#include "wire.h"

static uint8_t buf[BP_MSG_MAX];
static const uint8_t item_kind[] = { BP_ITEM_STR, BP_ITEM_BYTES };

struct stand_in {
	int fd;                 /* brokerd's end */
	broker_activation *a;
	int socks[8], peers[8]; /* the sockets handed back (brokerd's copies) and their peers */
	unsigned n;
};

/* Open the activation on a fresh pair and read its hello. */
static void open_pair(struct stand_in *s)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	*s = (struct stand_in){ .fd = sv[0] };
	ck_assert_int_eq(broker_activation_open_fd(sv[1], &s->a), 0);
	struct bp_msg m;
	ck_assert_int_eq(bp_recv(s->fd, buf, sizeof(buf), 0, &m, NULL, NULL), 1);
	ck_assert_uint_eq(m.type, BP_ACT_HELLO);
	ck_assert_uint_eq(m.u.act_hello.version, BP_VERSION);
	ck_assert_uint_eq(m.u.act_hello.pid, (uint32_t)getpid());
}

static void new_socket(struct stand_in *s)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->socks[s->n] = sv[0];
	s->peers[s->n++] = sv[1];
}

/* One HANDBACK_MANY of n new sockets, serials first.., count as said. */
static void send_many(struct stand_in *s, unsigned n, uint64_t first, uint32_t count)
{
	static uint8_t items[BP_MSG_MAX / 2];
	size_t off = 0;
	int fds[8];
	for (unsigned i = 0; i < n; i++) {
		new_socket(s);
		char id[16];
		snprintf(id, sizeof(id), "s%llu", (unsigned long long)(first + i));
		struct bp_handback w = { .kind = BROKER_KIND_STREAM, .reason = BROKER_REASON_SOCKET_ACTIVITY,
					 .serial = first + i };
		struct bp_field f[2] = { { id, (uint32_t)strlen(id) }, { "ctx", 3 } };
		ck_assert_int_eq(bp_item_put(items, sizeof(items), &off, &w, sizeof(w), f, item_kind, 2), 0);
		fds[i] = s->socks[s->n - 1];
	}
	struct bp_many many = { .count = count };
	struct bp_field f[2] = { { "app.lib", 7 }, { items, (uint32_t)off } };
	ck_assert_int_eq(bp_send_msg(s->fd, buf, sizeof(buf), BP_HANDBACK_MANY, 0, &many, sizeof(many), f, 2,
				     fds, n, 0), 0);
}

static void send_end(struct stand_in *s)
{
	struct bp_end end = { 0 };
	ck_assert_int_eq(bp_send_msg(s->fd, buf, sizeof(buf), BP_BATCH_END, 0, &end, sizeof(end), NULL, 0,
				     NULL, 0, 0), 0);
}

/* Nothing from the app yet. */
static void expect_nothing(struct stand_in *s)
{
	struct bp_msg m;
	ck_assert_int_eq(bp_recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT, &m, NULL, NULL), -EAGAIN);
}

/* The next message acknowledges exactly serials[0..n). */
static void expect_acks(struct stand_in *s, const uint64_t *serials, unsigned n)
{
	struct bp_msg m;
	ck_assert_int_eq(bp_recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT, &m, NULL, NULL), 1);
	if (n == 1) {
		ck_assert_uint_eq(m.type, BP_HANDBACK_ACK);
		ck_assert_uint_eq(m.u.handback_ack.serial, serials[0]);
		return;
	}
	ck_assert_uint_eq(m.type, BP_ACK_MANY);
	ck_assert_uint_eq(m.u.many.count, n);
	ck_assert_uint_eq(m.u.many.flags, 0);
	ck_assert_uint_eq(m.field[0].len, n * sizeof(uint64_t));
	ck_assert_mem_eq(m.field[0].ptr, serials, n * sizeof(uint64_t));
}

/* The next handback: serial as said, its fd the socket brokerd sent. */
static broker_handback *next(struct stand_in *s, uint64_t serial, unsigned index)
{
	broker_handback *h;
	ck_assert_int_eq(broker_activation_receive(s->a, 1000, &h), 1);
	ck_assert_uint_eq(h->serial, serial);
	char id[16];
	snprintf(id, sizeof(id), "s%llu", (unsigned long long)serial);
	ck_assert_str_eq(h->id, id);
	ck_assert_str_eq(h->app_id, "app.lib");
	ck_assert_uint_eq(h->context_len, 3);
	ck_assert_mem_eq(h->context, "ctx", 3);
	struct stat a, b;
	ck_assert_int_eq(fstat(h->fd, &a), 0);
	ck_assert_int_eq(fstat(s->socks[index], &b), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	return h;
}

static void accept_close(struct stand_in *s, broker_handback *h)
{
	int fd = broker_handback_accept(s->a, h);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(h->fd, -1);
	close(fd);
	broker_handback_free(h);
}

static void finish(struct stand_in *s)
{
	broker_activation_close(s->a);
	for (unsigned i = 0; i < s->n; i++) {
		close(s->socks[i]);
		close(s->peers[i]);
	}
	if (s->fd >= 0)
		close(s->fd);
}

/* One by one: each accept is its own acknowledgement, at once. */
START_TEST(one_by_one)
{
	int fds = count_fds();
	struct stand_in s;
	open_pair(&s);
	send_many(&s, 3, 10, 3);
	send_end(&s);
	for (unsigned i = 0; i < 3; i++) {
		accept_close(&s, next(&s, 10 + i, i));
		const uint64_t want[] = { 10 + i };
		expect_acks(&s, want, 1);
	}
	broker_handback *h;
	ck_assert_int_eq(broker_activation_receive(s.a, 1000, &h), 0);   /* the batch end */
	finish(&s);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

/* receive_many gives a message's sockets together (up to max), and
 * accept_many acknowledges them in one message before any fd is the
 * caller's.  While sockets wait in the library, its fd stays readable. */
START_TEST(together)
{
	int fds = count_fds();
	struct stand_in s;
	open_pair(&s);
	int afd = broker_activation_get_fd(s.a);
	ck_assert(!readable(afd));
	send_many(&s, 5, 20, 5);
	broker_handback *h[8];
	ck_assert_int_eq(broker_activation_receive_many(s.a, 1000, h, 3), 3);   /* max 3 */
	ck_assert(readable(afd));   /* two still queued, nothing in the kernel */
	expect_nothing(&s);
	int got[3];
	ck_assert_int_eq(broker_handback_accept_many(s.a, h, 3, got), 3);
	const uint64_t want[] = { 20, 21, 22 };
	expect_acks(&s, want, 3);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_uint_eq(h[i]->serial, 20 + i);
		ck_assert_int_eq(h[i]->fd, -1);
		struct stat x, y;
		ck_assert_int_eq(fstat(got[i], &x), 0);
		ck_assert_int_eq(fstat(s.socks[i], &y), 0);
		ck_assert_uint_eq(x.st_ino, y.st_ino);
		close(got[i]);
		broker_handback_free(h[i]);
	}
	/* the rest, and then the batch end */
	ck_assert_int_eq(broker_activation_receive_many(s.a, 1000, h, 8), 2);
	ck_assert(!readable(afd));
	send_end(&s);
	ck_assert_uint_eq(h[0]->serial, 23);
	ck_assert_uint_eq(h[1]->serial, 24);
	/* refused among them: NULL, and one named twice (acknowledged once) */
	broker_handback *mixed[4] = { h[0], NULL, h[1], h[0] };
	int got4[4];
	ck_assert_int_eq(broker_handback_accept_many(s.a, mixed, 4, got4), 2);
	ck_assert_int_ge(got4[0], 0);
	ck_assert_int_eq(got4[1], -EINVAL);
	ck_assert_int_ge(got4[2], 0);
	ck_assert_int_eq(got4[3], -EINVAL);
	const uint64_t rest[] = { 23, 24 };
	expect_acks(&s, rest, 2);
	close(got4[0]);
	close(got4[2]);
	ck_assert_int_eq(broker_handback_accept_many(s.a, mixed, 1, got), 0);
	ck_assert_int_eq(got[0], -EINVAL);   /* accepted already */
	expect_nothing(&s);
	broker_handback_free(h[0]);
	broker_handback_free(h[1]);
	ck_assert_int_eq(broker_activation_receive_many(s.a, 1000, h, 8), 0);
	ck_assert(!readable(afd));
	ck_assert_int_eq(broker_activation_receive_many(s.a, 0, h, 0), -EINVAL);
	finish(&s);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* Sockets whose connection went: -EPIPE each, and nothing sent. */
START_TEST(together_after_the_connection_went)
{
	int fds = count_fds();
	struct stand_in s;
	open_pair(&s);
	send_many(&s, 2, 30, 2);
	broker_handback *h[2];
	ck_assert_int_eq(broker_activation_receive_many(s.a, 1000, h, 2), 2);
	close(s.fd);   /* brokerd goes */
	s.fd = -1;
	broker_handback *more;
	ck_assert_int_eq(broker_activation_receive(s.a, 1000, &more), -EPIPE);
	int got[2];
	ck_assert_int_eq(broker_handback_accept_many(s.a, h, 2, got), 0);
	ck_assert_int_eq(got[0], -EPIPE);
	ck_assert_int_eq(got[1], -EPIPE);
	ck_assert_int_ge(h[0]->fd, 0);   /* still the handbacks' */
	broker_handback_free(h[0]);
	broker_handback_free(h[1]);
	finish(&s);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static void accept_cb(broker_activation *a, broker_handback *h, void *userdata)
{
	unsigned *calls = userdata;
	(*calls)++;
	int fd = broker_handback_accept(a, h);
	ck_assert_int_ge(fd, 0);
	close(fd);
	broker_handback_free(h);
}

START_TEST(dispatch_single_and_take)
{
	int fds = count_fds();
	struct stand_in s;
	open_pair(&s);
	/* dispatch: the three of a message, each acknowledged as accepted */
	send_many(&s, 3, 40, 3);
	send_end(&s);
	unsigned calls = 0;
	ck_assert_int_eq(broker_activation_dispatch(s.a, accept_cb, &calls), 3);
	ck_assert_uint_eq(calls, 3);
	for (uint64_t k = 40; k < 43; k++)
		expect_acks(&s, &k, 1);
	/* a single HANDBACK (an older brokerd's way) */
	new_socket(&s);
	struct bp_handback w = { .kind = BROKER_KIND_STREAM, .serial = 50 };
	struct bp_field f[3] = { { "app.lib", 7 }, { "s50", 3 }, { "ctx", 3 } };
	ck_assert_int_eq(bp_send_msg(s.fd, buf, sizeof(buf), BP_HANDBACK, 0, &w, sizeof(w), f, 3,
				     &s.socks[3], 1, 0), 0);
	accept_close(&s, next(&s, 50, 3));
	const uint64_t fifty[] = { 50 };
	expect_acks(&s, fifty, 1);
	/* queued handbacks not accepted at close: closed, not acknowledged */
	send_many(&s, 2, 60, 2);
	accept_close(&s, next(&s, 60, 4));
	const uint64_t sixty[] = { 60 };
	expect_acks(&s, sixty, 1);
	broker_activation_close(s.a);
	s.a = NULL;
	struct bp_msg m;
	ck_assert_int_eq(bp_recv(s.fd, buf, sizeof(buf), 0, &m, NULL, NULL), 0);   /* the end, no ack */
	finish(&s);

	/* take_fd: the connection changes hands */
	open_pair(&s);
	int fd = broker_activation_take_fd(s.a);
	ck_assert_int_ge(fd, 0);
	s.a = NULL;
	close(fd);
	finish(&s);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* A HANDBACK_MANY whose count is not its items: the connection ends,
 * nothing is delivered, every fd it brought is closed. */
START_TEST(malformed_many)
{
	int fds = count_fds();
	struct stand_in s;
	open_pair(&s);
	send_many(&s, 3, 70, 4);
	broker_handback *h = NULL;
	ck_assert_int_eq(broker_activation_receive(s.a, 1000, &h), -EPIPE);
	ck_assert_ptr_null(h);
	char c;
	ck_assert_int_eq(recv(s.fd, &c, 1, MSG_DONTWAIT), 0);   /* the library hung up */
	finish(&s);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("activation-lib");
	TCase *tc = tcase_create("activation-lib");
	tcase_add_test(tc, one_by_one);
	tcase_add_test(tc, together);
	tcase_add_test(tc, together_after_the_connection_went);
	tcase_add_test(tc, dispatch_single_and_take);
	tcase_add_test(tc, malformed_many);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
