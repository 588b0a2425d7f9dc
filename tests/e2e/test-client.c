/* SPDX-License-Identifier: MIT */
/*
 * libbroker's calls are bounded: against a brokerd stopped with SIGSTOP a
 * connect, a hello and a request each give -ETIMEDOUT with a sentence, and
 * the same handle works again once brokerd runs.  broker_last_message()
 * speaks of the last call only, also when the library itself refused it.
 * broker_open_app() registers in the hello: one message, where open and
 * register sent two (checked against a stand-in brokerd that counts).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "wire.h"

#define APP "org.test.client"

static uint64_t elapsed_ms(uint64_t since)
{
	return hb_now_ms() - since;
}

START_TEST(stopped_brokerd)
{
	struct hb b;
	hb_init(&b, "stopped", NULL);
	hb_testapp(&b, APP, "%s", "");
	hb_start(&b);
	broker *c = NULL;
	ck_assert_int_eq(broker_open_timeout(b.socket, 2000, &c), 0);
	broker_status st;
	ck_assert_int_eq(broker_get_status(c, &st), 0);

	ck_assert_int_eq(kill(b.pid, SIGSTOP), 0);
	/* A request on an open handle. */
	ck_assert_int_eq(broker_set_timeout(c, 300), 0);
	uint64_t t0 = hb_now_ms();
	ck_assert_int_eq(broker_get_status(c, &st), -ETIMEDOUT);
	ck_assert_uint_ge(elapsed_ms(t0), 290);
	ck_assert_uint_lt(elapsed_ms(t0), 5000);
	ck_assert_str_eq(broker_last_message(c), "brokerd did not answer within 300 ms (is it stopped or overloaded?)");

	/* A new connection: the backlog has room, the hello goes unanswered. */
	broker *d = (broker *)&b;   /* sentinel: untouched on failure */
	t0 = hb_now_ms();
	ck_assert_int_eq(broker_open_timeout(b.socket, 300, &d), -ETIMEDOUT);
	ck_assert_ptr_eq(d, (broker *)&b);
	ck_assert_uint_lt(elapsed_ms(t0), 5000);

	/* A full backlog: the connect itself waits, then gives up. */
	int pending[8192], n = 0;
	for (; n < 8192; n++) {
		pending[n] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", b.socket);
		if (connect(pending[n], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			close(pending[n]);
			break;
		}
	}
	ck_assert_int_lt(n, 8192);   /* the backlog (SOMAXCONN) is full */
	t0 = hb_now_ms();
	ck_assert_int_eq(broker_open_timeout(b.socket, 300, &d), -ETIMEDOUT);
	ck_assert_uint_ge(elapsed_ms(t0), 290);
	ck_assert_uint_lt(elapsed_ms(t0), 5000);
	ck_assert_str_eq(broker_strerror(-ETIMEDOUT), "timed out waiting for brokerd or the app");
	for (int i = 0; i < n; i++)
		close(pending[i]);

	/* brokerd runs again: the late reply is dropped, the handle answers. */
	ck_assert_int_eq(kill(b.pid, SIGCONT), 0);
	ck_assert_int_eq(broker_set_timeout(c, 5000), 0);
	ck_assert_int_eq(broker_get_status(c, &st), 0);
	ck_assert_str_eq(broker_last_message(c), "");
	ck_assert_int_eq(broker_set_timeout(c, -2), -EINVAL);
	broker_close(c);
	hb_finish(&b);
}
END_TEST

START_TEST(last_message_is_the_last_call)
{
	struct hb b;
	hb_init(&b, "message", "[limits]\nmax-context = 16\n");
	hb_testapp(&b, APP, "%s", "");
	hb_start(&b);
	broker *c = hb_open(&b, APP);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	char ctx[17] = { 0 };
	ck_assert_int_eq(broker_transfer(c, "a", sv[0], ctx, sizeof(ctx), 0), -E2BIG);
	ck_assert_str_eq(broker_last_message(c), "context of 17 bytes is over the limit of 16");
	/* The library refuses this one itself, and says why. */
	ck_assert_int_eq(broker_transfer(c, "a", sv[0], NULL, 5, 0), -EINVAL);
	ck_assert_str_eq(broker_last_message(c), "context_len is 5 but context is NULL");
	int pipefd[2];
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	ck_assert_int_eq(broker_transfer(c, "a", pipefd[0], NULL, 0, 0), -ENOTSOCK);
	char want[64];
	snprintf(want, sizeof(want), "fd %d is not a socket", pipefd[0]);
	ck_assert_str_eq(broker_last_message(c), want);
	close(pipefd[0]);
	close(pipefd[1]);
	/* Success leaves nothing behind. */
	ck_assert_int_eq(broker_transfer(c, "a", sv[0], NULL, 0, 0), 0);
	ck_assert_str_eq(broker_last_message(c), "");
	broker_close(c);
	close(sv[1]);
	hb_finish(&b);
}
END_TEST

/* A stand-in brokerd on path: accept one client, check that its first
 * message is a HELLO that names APP, answer it with reply_err (0: a
 * HELLO_REPLY), and count what else the client sends before it closes. */
static unsigned stand_in(int listener, int reply_err)
{
	int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	static uint8_t buf[BP_MSG_MAX];
	struct bp_msg m;
	ck_assert_int_eq(bp_recv(fd, buf, sizeof(buf), 0, &m, NULL, NULL), 1);
	ck_assert_uint_eq(m.type, BP_HELLO);
	ck_assert_uint_eq(m.u.hello.version, BP_VERSION);
	ck_assert_uint_eq(m.nfields, 2);
	ck_assert_str_eq(bp_msg_str(&m, 1), APP);
	if (reply_err) {
		struct bp_error e = { .error = reply_err };
		struct bp_field f = { "malformed message in HELLO", 26 };
		ck_assert_int_eq(bp_send_msg(fd, buf, sizeof(buf), BP_ERROR, m.seq, &e, sizeof(e), &f, 1, NULL, 0, 0), 0);
	} else {
		struct bp_hello_reply r = { .version = BP_VERSION, .uid = getuid() };
		struct bp_field f = { "stand-in", 8 };
		ck_assert_int_eq(bp_send_msg(fd, buf, sizeof(buf), BP_HELLO_REPLY, m.seq, &r, sizeof(r), &f, 1, NULL, 0, 0), 0);
	}
	unsigned more = 0;
	while (bp_recv(fd, buf, sizeof(buf), 0, &m, NULL, NULL) > 0) {
		bp_msg_close_fds(&m);
		more++;
	}
	close(fd);
	return more;
}

START_TEST(hello_carries_the_app_id)
{
	struct hb b;
	hb_init(&b, "hello-app", NULL);
	hb_testapp(&b, APP, "%s", "");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/stand-in", b.dir);
	ck_assert_uint_lt(strlen(path), sizeof(((struct sockaddr_un *)0)->sun_path));
	int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(listener, 4), 0);

	/* open with the app id, then register the same id: one message */
	pid_t pid = fork();
	if (pid == 0) {
		broker *c;
		int r = broker_open_app(path, APP, 5000, &c);
		if (r == 0)
			r = broker_register(c, APP);
		broker_close(c);
		_exit(r == 0 ? 0 : 1);
	}
	ck_assert_uint_eq(stand_in(listener, 0), 0);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);

	/* a version-2 brokerd refuses the field as malformed: said in words */
	pid = fork();
	if (pid == 0) {
		broker *c = NULL;
		int r = broker_open_app(path, APP, 5000, &c);
		char want[256];
		snprintf(want, sizeof(want), "brokerd does not speak protocol version %u (it is older than this "
			 "libbroker: restart it after an upgrade): malformed message in HELLO", BP_VERSION);
		_exit(r == -EPROTONOSUPPORT && !c && strcmp(broker_last_message(NULL), want) == 0 ? 0 : 1);
	}
	ck_assert_uint_eq(stand_in(listener, -EBADMSG), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	close(listener);

	/* the real brokerd: hand over on one connection, claim on another */
	hb_start(&b);
	broker *c;
	ck_assert_int_eq(broker_open_app(b.socket, APP, 5000, &c), 0);
	int peer, fd;
	hb_tcp_pair(&peer, &fd);
	ck_assert_int_eq(broker_transfer(c, "one", fd, "ctx", 3, 0), 0);
	broker_close(c);
	ck_assert_int_eq(broker_open_app(b.socket, APP, 5000, &c), 0);
	broker_info *info;
	fd = broker_claim(c, "one", &info);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(peer, "ping", 4), 4);   /* after the claim: data would wake the app */
	ck_assert_mem_eq(info->context, "ctx", 3);
	broker_info_free(info);
	char got[8];
	ck_assert_int_eq(read(fd, got, sizeof(got)), 4);
	ck_assert_mem_eq(got, "ping", 4);
	broker_close(c);
	close(fd);
	close(peer);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("client");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, stopped_brokerd);
	tcase_add_test(tc, last_message_is_the_last_call);
	tcase_add_test(tc, hello_carries_the_app_id);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
