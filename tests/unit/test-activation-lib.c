/* SPDX-License-Identifier: MIT */
/*
 * libbroker's side of a hand-back, against a stand-in brokerd on the other
 * end of a real SOCK_SEQPACKET pair: its ACT_HELLO says protocol 4; the
 * sockets of a HANDBACK_MANY come out one at a time; an accept while more
 * are queued keeps its acknowledgement back, and the kept-back ones go in
 * one ACK_MANY when the queue is empty, before the library waits, at the
 * end of dispatch, at close and at take_fd; a single HANDBACK is
 * acknowledged at once; a malformed HANDBACK_MANY ends the connection with
 * every fd it brought closed.
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
	close(s->fd);
}

START_TEST(acks_go_together)
{
	int fds = count_fds();
	struct stand_in s;
	open_pair(&s);
	send_many(&s, 3, 10, 3);
	send_end(&s);
	for (unsigned i = 0; i < 3; i++) {
		accept_close(&s, next(&s, 10 + i, i));
		if (i < 2)
			expect_nothing(&s);   /* kept back: more are queued */
	}
	const uint64_t want[] = { 10, 11, 12 };
	expect_acks(&s, want, 3);
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

/* An ack kept back goes when receive finds nothing more, before it waits
 * or returns, even when the socket queued behind it is never accepted
 * (that one is not acknowledged).  While sockets are queued in the
 * library, its fd stays readable for an event loop. */
START_TEST(acks_go_before_a_wait)
{
	int fds = count_fds();
	struct stand_in s;
	open_pair(&s);
	int fd = broker_activation_get_fd(s.a);
	ck_assert(!readable(fd));
	send_many(&s, 2, 20, 2);
	ck_assert(readable(fd));
	accept_close(&s, next(&s, 20, 0));
	expect_nothing(&s);
	ck_assert(readable(fd));   /* one still queued, none in the kernel */
	broker_handback *later = next(&s, 21, 1);
	ck_assert(!readable(fd));
	expect_nothing(&s);
	broker_handback *h;
	ck_assert_int_eq(broker_activation_receive(s.a, 0, &h), 0);   /* nothing more */
	const uint64_t want[] = { 20 };
	expect_acks(&s, want, 1);
	broker_handback_free(later);
	expect_nothing(&s);
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

START_TEST(dispatch_close_and_take)
{
	int fds = count_fds();
	struct stand_in s;
	open_pair(&s);
	/* dispatch: the three of a message, acknowledged in one */
	send_many(&s, 3, 30, 3);
	send_end(&s);
	unsigned calls = 0;
	ck_assert_int_eq(broker_activation_dispatch(s.a, accept_cb, &calls), 3);
	ck_assert_uint_eq(calls, 3);
	const uint64_t want[] = { 30, 31, 32 };
	expect_acks(&s, want, 3);
	/* a single HANDBACK (an older brokerd's way): acknowledged at once */
	new_socket(&s);
	struct bp_handback w = { .kind = BROKER_KIND_STREAM, .serial = 40 };
	struct bp_field f[3] = { { "app.lib", 7 }, { "s40", 3 }, { "ctx", 3 } };
	ck_assert_int_eq(bp_send_msg(s.fd, buf, sizeof(buf), BP_HANDBACK, 0, &w, sizeof(w), f, 3,
				     &s.socks[3], 1, 0), 0);
	accept_close(&s, next(&s, 40, 3));
	const uint64_t one[] = { 40 };
	expect_acks(&s, one, 1);
	/* kept back, then close: it goes before the connection does */
	send_many(&s, 2, 50, 2);
	accept_close(&s, next(&s, 50, 4));
	expect_nothing(&s);
	broker_activation_close(s.a);
	const uint64_t fifty[] = { 50 };
	expect_acks(&s, fifty, 1);
	struct bp_msg m;
	ck_assert_int_eq(bp_recv(s.fd, buf, sizeof(buf), 0, &m, NULL, NULL), 0);   /* and the end */
	s.a = NULL;
	finish(&s);

	/* take_fd: the same, before the connection changes hands */
	open_pair(&s);
	send_many(&s, 2, 60, 2);
	accept_close(&s, next(&s, 60, 0));
	expect_nothing(&s);
	int fd = broker_activation_take_fd(s.a);
	ck_assert_int_ge(fd, 0);
	s.a = NULL;
	const uint64_t sixty[] = { 60 };
	expect_acks(&s, sixty, 1);
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
	tcase_add_test(tc, acks_go_together);
	tcase_add_test(tc, acks_go_before_a_wait);
	tcase_add_test(tc, dispatch_close_and_take);
	tcase_add_test(tc, malformed_many);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
