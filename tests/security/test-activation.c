/* SPDX-License-Identifier: MIT */
/* Hostile input on the activation connection: an app that brokerd started
 * breaks the protocol.  brokerd ends that activation, keeps the socket (with
 * its unread data) and serves everyone else.  This program is also the
 * hostile app: brokerd runs it as `test-activation --evil MODE`. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sec.h"
#include "send-fds.h"
#include "wire.h"

#define ACT_FD 3   /* LISTEN_FDS=1: the socket-broker fd */

static const char *const modes[] = {
	"garbage", "hello-with-fd", "hello-twice", "control-verb", "ack-many-short", "ack-many-v3",
	"wrong-ack", "silent-exit",
};
#define BROKEN 6   /* the modes before wrong-ack break the protocol */

static void act_send(unsigned type, const void *fixed, size_t fixed_size, unsigned nfds_declared, int fd)
{
	uint8_t buf[256];
	int n = bp_encode(buf, sizeof(buf), type, 0, fixed, fixed_size, NULL, 0, 0);
	struct bp_header h;
	memcpy(&h, buf, sizeof(h));
	h.nfds = (uint16_t)nfds_declared;
	memcpy(buf, &h, sizeof(h));
	send_with_fds(ACT_FD, buf, (size_t)n, &fd, fd >= 0 ? 1 : 0, 0);
}

/* The serial of the first socket brokerd handed back: a HANDBACK_MANY's
 * first item (protocol 4), or a HANDBACK's. */
static uint64_t first_serial(void)
{
	static uint8_t buf[BP_MSG_MAX];
	static const uint8_t kind[] = { BP_ITEM_STR, BP_ITEM_BYTES };
	struct bp_msg m;
	struct pollfd p = { .fd = ACT_FD, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1 || bp_recv(ACT_FD, buf, sizeof(buf), 0, &m, NULL, NULL) != 1)
		return 0;
	uint64_t serial = m.u.handback.serial;
	if (m.type == BP_HANDBACK_MANY) {
		struct bp_handback w;
		struct bp_field f[2];
		size_t off = 0;
		serial = bp_item_get(&m.field[1], &off, &w, sizeof(w), f, kind, 2) == 0 ? w.serial : 0;
	}
	bp_msg_close_fds(&m);
	return serial;
}

/* ACK_MANY of one serial whose count says n. */
static void ack_many(uint64_t serial, uint32_t n)
{
	uint8_t buf[256];
	struct bp_many many = { .count = n };
	struct bp_field f = { &serial, sizeof(serial) };
	int len = bp_encode(buf, sizeof(buf), BP_ACK_MANY, 0, &many, sizeof(many), &f, 1, 0);
	send(ACT_FD, buf, (size_t)len, MSG_NOSIGNAL);
}

/* The hostile app.  Whatever it does, it then waits for brokerd to hang up. */
static int evil(const char *mode)
{
	struct bp_act_hello hello = { .version = BP_VERSION, .pid = (uint32_t)getpid() };
	if (strcmp(mode, "garbage") == 0) {
		send(ACT_FD, "\x01\x02\x03", 3, MSG_NOSIGNAL);
	} else if (strcmp(mode, "hello-with-fd") == 0) {
		act_send(BP_ACT_HELLO, &hello, sizeof(hello), 1, ACT_FD);
	} else if (strcmp(mode, "hello-twice") == 0) {
		act_send(BP_ACT_HELLO, &hello, sizeof(hello), 0, -1);
		act_send(BP_ACT_HELLO, &hello, sizeof(hello), 0, -1);
	} else if (strcmp(mode, "control-verb") == 0) {
		act_send(BP_ACT_HELLO, &hello, sizeof(hello), 0, -1);
		act_send(BP_STATUS, NULL, 0, 0, -1);
	} else if (strcmp(mode, "ack-many-short") == 0) {
		/* a count of two, one serial */
		act_send(BP_ACT_HELLO, &hello, sizeof(hello), 0, -1);
		ack_many(first_serial(), 2);
	} else if (strcmp(mode, "ack-many-v3") == 0) {
		/* protocol 3 has no ACK_MANY */
		struct bp_act_hello old = { .version = 3, .pid = (uint32_t)getpid() };
		act_send(BP_ACT_HELLO, &old, sizeof(old), 0, -1);
		ack_many(first_serial(), 1);
	} else if (strcmp(mode, "wrong-ack") == 0) {
		/* take the hand-back, acknowledge some other serial, go */
		act_send(BP_ACT_HELLO, &hello, sizeof(hello), 0, -1);
		struct bp_handback_ack ack = { .serial = first_serial() + 1000 };
		act_send(BP_HANDBACK_ACK, &ack, sizeof(ack), 0, -1);
		return 0;
	} else {
		return 0;   /* silent-exit: no hello at all */
	}
	struct pollfd p = { .fd = ACT_FD, .events = POLLIN };
	char c[BP_MSG_MAX];
	while (poll(&p, 1, 5000) == 1 && recv(ACT_FD, c, sizeof(c), 0) > 0)
		;
	return 0;
}

START_TEST(hostile_apps)
{
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert_int_gt(n, 0);
	self[n] = 0;
	struct hb b;
	sec_setup(&b, "[limits]\nbackoff-initial-ms = 600000\nactivation-timeout-ms = 5000\n");
	sec_app_simple(&b, SEC_GOOD_APP, 0, "localSocket");
	size_t nmodes = sizeof(modes) / sizeof(modes[0]);
	for (size_t i = 0; i < nmodes; i++) {
		char file[64], text[1024];
		snprintf(file, sizeof(file), "evil%zu.conf", i);
		snprintf(text, sizeof(text), "[app]\nid = com.example.evil%zu\nuser = 0\ncapabilities = localSocket\n"
			 "[activation]\ncommand = %s --evil %s\n", i, self, modes[i]);
		sec_app(&b, file, text);
	}
	hb_start(&b);
	sec_good_client(&b, SEC_GOOD_APP);

	int peers[8];
	broker *c[8];
	for (size_t i = 0; i < nmodes; i++) {
		char app[64];
		snprintf(app, sizeof(app), "com.example.evil%zu", i);
		ck_assert_int_eq(broker_open(b.socket, &c[i]), 0);
		ck_assert_int_eq(broker_register(c[i], app), 0);
		int sv[2];
		sec_pair(SOCK_STREAM, sv);
		ck_assert_int_eq(broker_transfer(c[i], "s", sv[1], NULL, 0, 0), 0);
		peers[i] = sv[0];
		ck_assert_int_eq(write(peers[i], "x", 1), 1);   /* wakes the app */
	}
	ck_assert(sec_log_has(&b, "activation failed", (int)nmodes));
	ck_assert(sec_log_has(&b, "the app broke the activation protocol", BROKEN));
	ck_assert(sec_log_has(&b, "the app broke the activation protocol (ACK_MANY whose count, flags or serials "
			      "do not add up)", 1));
	ck_assert(sec_log_has(&b, "the app broke the activation protocol (ACK_MANY)", 1));
	sec_good_client(&b, SEC_GOOD_APP);
	for (size_t i = 0; i < nmodes; i++) {
		/* held still, with its data unread */
		int fd = broker_claim(c[i], "s", NULL);
		ck_assert_msg(fd >= 0, "%s: claim: %s", modes[i], broker_strerror(fd));
		char ch;
		ck_assert_int_eq(read(fd, &ch, 1), 1);
		ck_assert_int_eq(ch, 'x');
		close(fd);
		close(peers[i]);
		broker_close(c[i]);
	}
	sec_end(&b);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--evil") == 0)
		return evil(argv[2]);
	Suite *s = suite_create("activation");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hostile_apps);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
