/* SPDX-License-Identifier: MIT */
/* Clients for the security tests: a well-behaved one, raw ones, other users. */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sec.h"
#include "send-fds.h"
#include "util.h"
#include "wire.h"

void sec_pair(int type, int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
}

bool sec_peer_closed(int sv0)
{
	struct pollfd p = { .fd = sv0, .events = POLLIN };
	for (;;) {
		int r = poll(&p, 1, 5000);
		if (r <= 0)
			return false;
		if (p.revents & POLLHUP)
			return true;
		char c;
		if (recv(sv0, &c, 1, MSG_DONTWAIT) == 0)
			return true;
	}
}

void sec_expect_released(int sv[2])
{
	close(sv[1]);
	ck_assert_msg(sec_peer_closed(sv[0]), "brokerd kept a copy of a socket it refused or let go");
	close(sv[0]);
}

void sec_good_client(const struct hb *b, const char *app_id)
{
	broker *c;
	int r = broker_open(b->socket, &c);
	ck_assert_msg(r == 0, "good client: open: %s", broker_strerror(r));
	r = broker_register(c, app_id);
	ck_assert_msg(r == 0, "good client: register %s: %s (%s)", app_id, broker_strerror(r), broker_last_message(c));

	int sv[2];
	sec_pair(SOCK_STREAM, sv);
	static const char ctx[] = "good\0context";
	r = broker_transfer(c, "good-1", sv[1], ctx, sizeof(ctx), 0);
	ck_assert_msg(r == 0, "good client: transfer: %s (%s)", broker_strerror(r), broker_last_message(c));

	broker_info **list;
	r = broker_list(c, "", &list);
	ck_assert_msg(r >= 1, "good client: list: %d", r);
	bool found = false;
	for (broker_info **i = list; *i; i++)
		if (strcmp((*i)->id, "good-1") == 0 && strcmp((*i)->app_id, app_id) == 0) {
			found = true;
			ck_assert_uint_eq((*i)->context_len, sizeof(ctx));
			ck_assert_mem_eq((*i)->context, ctx, sizeof(ctx));
		}
	broker_info_list_free(list);
	ck_assert_msg(found, "good client: its socket is not in the list");

	broker_info *info;
	ck_assert_int_eq(broker_show(c, NULL, "good-1", &info), 0);
	ck_assert_int_eq(info->kind, BROKER_KIND_STREAM);
	ck_assert_int_eq(info->state, BROKER_STATE_WATCHING);
	broker_info_free(info);

	int fd = broker_claim(c, "good-1", NULL);
	ck_assert_msg(fd >= 0, "good client: claim: %s", broker_strerror(fd));
	ck_assert_int_eq(write(sv[0], "ping", 4), 4);
	char buf[8];
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	close(fd);
	close(sv[0]);
	broker_close(c);
}

int sec_raw_connect(const struct hb *b)
{
	int fd = bp_connect_unix(b->socket, SOCK_SEQPACKET);
	ck_assert_msg(fd >= 0, "connect %s: %s", b->socket, strerror(-fd));
	return fd;
}

int sec_raw_hello(const struct hb *b)
{
	int fd = sec_raw_connect(b);
	struct bp_hello h = { .version = BP_VERSION };
	struct bp_field f = { "raw", 3 };
	sec_raw_msg(fd, BP_HELLO, 1, &h, sizeof(h), &f, 1, NULL, 0);
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(fd, &m), 1);
	ck_assert_uint_eq(m.type, BP_HELLO_REPLY);
	return fd;
}

int sec_raw_registered(const struct hb *b, const char *app)
{
	int fd = sec_raw_hello(b);
	struct bp_field f = { app, (uint32_t)strlen(app) };
	sec_raw_msg(fd, BP_REGISTER, 2, NULL, 0, &f, 1, NULL, 0);
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(fd, &m), 1);
	ck_assert_uint_eq(m.type, BP_OK);
	return fd;
}

void sec_raw_send(int fd, const void *buf, size_t len, const int *fds, size_t nfds)
{
	ssize_t n = send_with_fds(fd, buf, len, fds, nfds, 0);
	ck_assert_msg(n == (ssize_t)len, "sendmsg of %zu bytes: %zd (%s)", len, n, strerror(errno));
}

size_t sec_encode(void *buf, size_t cap, unsigned type, uint32_t seq, const void *fixed, size_t fixed_size,
		  const struct bp_field *fields, unsigned nfields, unsigned nfds)
{
	int n = bp_encode(buf, cap, type, seq, fixed, fixed_size, fields, nfields, nfds);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

void sec_raw_msg(int fd, unsigned type, uint32_t seq, const void *fixed, size_t fixed_size,
		 const struct bp_field *fields, unsigned nfields, const int *fds, unsigned nfds)
{
	static uint8_t buf[BP_MSG_MAX];
	size_t n = sec_encode(buf, sizeof(buf), type, seq, fixed, fixed_size, fields, nfields, nfds);
	sec_raw_send(fd, buf, n, fds, nfds);
}

int sec_raw_recv(int fd, struct bp_msg *m)
{
	static uint8_t buf[BP_MSG_MAX];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1)
		return -ETIMEDOUT;
	int r = bp_recv(fd, buf, sizeof(buf), 0, m, NULL, NULL);
	/* A peer that closed with our request unread reports ECONNRESET
	 * before the messages it sent us first. */
	if (r == -ECONNRESET)
		r = bp_recv(fd, buf, sizeof(buf), MSG_DONTWAIT, m, NULL, NULL);
	return r;
}

const char *sec_expect_error(int fd, uint32_t seq, int err)
{
	static char text[512];
	struct bp_msg m;
	int r = sec_raw_recv(fd, &m);
	ck_assert_msg(r == 1, "expected an error reply, got %d (%s)", r, strerror(-r));
	ck_assert_msg(m.type == BP_ERROR, "expected ERROR, got %s", bp_type_name(m.type));
	ck_assert_msg(m.u.error.error == err, "expected error %d (%s), got %d (%s): %s", err, strerror(-err),
		      m.u.error.error, strerror(-m.u.error.error), bp_msg_str(&m, 0));
	ck_assert_uint_eq(m.seq, seq);
	snprintf(text, sizeof(text), "%s", bp_msg_str(&m, 0));
	ck_assert_msg(text[0], "an error reply without text");
	return text;
}

void sec_expect_eof(int fd)
{
	for (int i = 0; i < 10000; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_msg(poll(&p, 1, 10000) == 1, "brokerd did not close the connection");
		char buf[BP_MSG_MAX];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return;
	}
	ck_abort_msg("brokerd kept talking and did not close the connection");
}

pid_t sec_user_start(uid_t uid, gid_t gid, void (*fn)(const struct hb *b, void *arg, int sync),
		     const struct hb *b, void *arg, int *ret_sync)
{
	int sv[2];
	sec_pair(SOCK_SEQPACKET, sv);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
			_exit(126);
		fn(b, arg, sv[1]);
		_exit(0);
	}
	close(sv[1]);
	*ret_sync = sv[0];
	return pid;
}

int sec_user_wait(pid_t pid, int sync)
{
	close(sync);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void run_plain(const struct hb *b, void *arg, int sync)
{
	(void)sync;
	void **a = arg;
	((void (*)(const struct hb *, void *))a[0])(b, a[1]);
}

int sec_as_user(uid_t uid, gid_t gid, void (*fn)(const struct hb *b, void *arg),
		const struct hb *b, void *arg)
{
	void *a[2] = { (void *)fn, arg };
	int sync;
	pid_t pid = sec_user_start(uid, gid, run_plain, b, a, &sync);
	return sec_user_wait(pid, sync);
}

void sec_signal(int sync, char step)
{
	ck_assert_int_eq(send(sync, &step, 1, MSG_NOSIGNAL), 1);
}

void sec_await(int sync, char step)
{
	struct pollfd p = { .fd = sync, .events = POLLIN };
	ck_assert_msg(poll(&p, 1, 20000) == 1, "waited 20 s for step %c", step);
	char got = 0;
	ck_assert_int_eq(recv(sync, &got, 1, 0), 1);
	ck_assert_int_eq(got, step);
}
