/* SPDX-License-Identifier: MIT */
/* Messages with fds over SOCK_SEQPACKET: what arrives, and that every fd
 * of a bad message is closed in the receiver. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "testutil.h"
#include "util.h"
#include "wire.h"

static int sp[2];            /* sp[0]: the receiver (this process); sp[1]: the sender's end */
static uint8_t rbuf[BP_MSG_MAX];

static void setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
}

static void teardown(void)
{
	close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
}

/* What a child sends: a packet (header fields may lie) with nfds fresh fds. */
struct packet {
	uint16_t type, hdr_nfds;
	uint32_t seq, reserved;
	size_t fixed_size;
	const char *field;     /* one string field, or NULL for none */
	size_t pad;            /* extra bytes of a bytes field after the string (TRANSFER) */
	int nfds;              /* how many fds really go along */
	bool no_data;          /* a zero-length packet (fds only) */
};

/* Encode p by hand, so that the header can say what it likes. */
static size_t build(const struct packet *p, uint8_t *out)
{
	size_t off = sizeof(struct bp_header);
	memset(out + off, 0, p->fixed_size);
	off += p->fixed_size;
	if (p->field) {
		uint32_t n = (uint32_t)strlen(p->field) + 1;
		memcpy(out + off, &n, 4);
		memcpy(out + off + 4, p->field, n);
		off += 4 + n;
	}
	if (p->type == BP_TRANSFER) {
		uint32_t n = (uint32_t)p->pad;
		memcpy(out + off, &n, 4);
		memset(out + off + 4, 'c', p->pad);
		off += 4 + p->pad;
	}
	struct bp_header h = { .type = p->type, .nfds = p->hdr_nfds, .size = (uint32_t)off,
			       .seq = p->seq, .reserved = p->reserved };
	memcpy(out, &h, sizeof(h));
	return off;
}

/* sendmsg with any number of fds, by hand. */
static int send_raw(int sock, const void *data, size_t len, const int *fds, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * BP_SCM_MAX_FD)] __attribute__((aligned(8))) = { 0 };
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int child_send_packet(void *arg)
{
	const struct packet *p = arg;
	static uint8_t out[BP_MSG_MAX];
	int fds[BP_SCM_MAX_FD];
	for (int i = 0; i < p->nfds; i++) {
		int pp[2];
		if (pipe(pp) < 0)
			return 10;
		fds[i] = pp[0];
		close(pp[1]);
	}
	size_t len = p->no_data ? 0 : build(p, out);
	return send_raw(sp[1], out, len, fds, p->nfds) < 0 ? 11 : 0;
}

/* Have a child send p; return what bp_recv said, with the fd count of this
 * process checked to be exactly what it was before. */
static int recv_bad(const struct packet *p, size_t cap, unsigned *ret_type, uint32_t *ret_seq)
{
	pid_t pid = run_child(child_send_packet, (void *)p);
	close(sp[1]);
	sp[1] = -1;
	wait_child(pid);
	int before = count_fds();
	struct bp_msg m, sentinel;
	memset(&sentinel, 0x5a, sizeof(sentinel));
	m = sentinel;
	int r = bp_recv(sp[0], rbuf, cap, 0, &m, ret_type, ret_seq);
	ck_assert_int_lt(r, 0);
	ck_assert_mem_eq(&m, &sentinel, sizeof(m));
	ck_assert_int_eq(count_fds(), before);
	/* and nothing is left behind in the socket */
	ck_assert_int_eq(bp_recv(sp[0], rbuf, cap, MSG_DONTWAIT, &m, NULL, NULL), 0);
	return r;
}

static int child_send_transfer(void *arg)
{
	(void)arg;
	int pp[2];
	if (pipe(pp) < 0 || write(pp[1], "through the pipe", 16) != 16)
		return 10;
	close(pp[1]);
	uint8_t out[256];
	struct bp_transfer t = { .keepalive_sec = 5 };
	struct bp_field f[2] = { { "sock", 4 }, { "ctx", 3 } };
	int r = bp_send_msg(sp[1], out, sizeof(out), BP_TRANSFER, 42, &t, sizeof(t), f, 2, &pp[0], 1, 0);
	close(pp[0]);   /* the kernel passed its own reference */
	return r < 0 ? 11 : 0;
}

START_TEST(one_fd_arrives_cloexec)
{
	pid_t pid = run_child(child_send_transfer, NULL);
	close(sp[1]);
	sp[1] = -1;
	int before = count_fds();
	struct bp_msg m;
	unsigned type = 0;
	uint32_t seq = 0;
	ck_assert_int_eq(bp_recv(sp[0], rbuf, sizeof(rbuf), 0, &m, &type, &seq), 1);
	wait_child(pid);
	ck_assert_uint_eq(m.type, BP_TRANSFER);
	ck_assert_uint_eq(m.seq, 42);
	ck_assert_uint_eq(m.u.transfer.keepalive_sec, 5);
	ck_assert_str_eq(bp_msg_str(&m, 0), "sock");
	ck_assert_uint_eq(m.nfds, 1);
	ck_assert_int_eq(count_fds(), before + 1);
	int fd = m.fds[0];
	ck_assert(fd_is_cloexec(fd));
	char got[32] = "";
	ck_assert_int_eq(read(fd, got, sizeof(got)), 16);   /* the child's pipe, with its bytes */
	ck_assert_mem_eq(got, "through the pipe", 16);
	ck_assert_int_eq(bp_msg_take_fd(&m), fd);
	bp_msg_close_fds(&m);
	ck_assert(fd_is_open(fd));   /* taken: no longer the message's to close */
	close(fd);
	ck_assert_int_eq(count_fds(), before);
	/* then the end of the stream */
	ck_assert_int_eq(bp_recv(sp[0], rbuf, sizeof(rbuf), 0, &m, NULL, NULL), 0);
}
END_TEST

/* More fds than a REGISTER takes, up to as many as SCM_RIGHTS carries. */
START_TEST(too_many_fds_ctrunc)
{
	static const int counts[] = { 3, 16, BP_SCM_MAX_FD };
	struct packet p = { .type = BP_REGISTER, .seq = 77, .field = "app", .nfds = counts[_i],
			    .hdr_nfds = (uint16_t)counts[_i] };
	unsigned type = 0;
	uint32_t seq = 0;
	ck_assert_int_eq(recv_bad(&p, sizeof(rbuf), &type, &seq), -ETOOMANYREFS);
	ck_assert_uint_eq(type, BP_REGISTER);   /* still addressable by an error reply */
	ck_assert_uint_eq(seq, 77);
}
END_TEST

/* Two fds fit in the buffer but no message takes two: a count mismatch. */
START_TEST(two_fds_count_mismatch)
{
	struct packet p = { .type = BP_TRANSFER, .seq = 5, .fixed_size = sizeof(struct bp_transfer),
			    .field = "id", .nfds = 2, .hdr_nfds = (uint16_t)(1 + _i) };
	unsigned type = 0;
	uint32_t seq = 0;
	ck_assert_int_eq(recv_bad(&p, sizeof(rbuf), &type, &seq), -ETOOMANYREFS);
	ck_assert_uint_eq(type, BP_TRANSFER);
	ck_assert_uint_eq(seq, 5);
}
END_TEST

/* An fd with a type that takes none, whatever the header says. */
START_TEST(fd_with_type_that_takes_none)
{
	static const struct { uint16_t type; size_t fixed; const char *field; } t[] = {
		{ BP_REGISTER, 0, "app" },
		{ BP_STATUS, 0, NULL },
		{ BP_HELLO, sizeof(struct bp_hello), "client" },
		{ BP_HANDBACK_ACK, sizeof(struct bp_handback_ack), NULL },
		{ BP_ACT_HELLO, sizeof(struct bp_act_hello), NULL },
	};
	for (uint16_t hdr = 0; hdr <= 1; hdr++) {
		teardown();
		setup();
		struct packet p = { .type = t[_i].type, .fixed_size = t[_i].fixed, .field = t[_i].field,
				    .nfds = 1, .hdr_nfds = hdr, .seq = 3 };
		ck_assert_int_eq(recv_bad(&p, sizeof(rbuf), NULL, NULL), -ETOOMANYREFS);
	}
}
END_TEST

/* TRANSFER that says it carries an fd and carries none. */
START_TEST(missing_fd)
{
	struct packet p = { .type = BP_TRANSFER, .fixed_size = sizeof(struct bp_transfer), .field = "id",
			    .nfds = 0, .hdr_nfds = 1 };
	ck_assert_int_eq(recv_bad(&p, sizeof(rbuf), NULL, NULL), -ETOOMANYREFS);
}
END_TEST

/* Larger than the receiver's buffer: MSG_TRUNC, with one fd or with many. */
START_TEST(oversized_with_fds)
{
	struct packet p = { .type = BP_TRANSFER, .seq = 9, .fixed_size = sizeof(struct bp_transfer),
			    .field = "id", .pad = 2000, .nfds = 1, .hdr_nfds = 1 };
	unsigned type = 0;
	uint32_t seq = 0;
	ck_assert_int_eq(recv_bad(&p, 256, &type, &seq), -EMSGSIZE);
	ck_assert_uint_eq(type, BP_TRANSFER);
	ck_assert_uint_eq(seq, 9);

	teardown();
	setup();
	p.nfds = 5;
	int r = recv_bad(&p, 256, NULL, NULL);
	ck_assert_msg(r == -EMSGSIZE || r == -ETOOMANYREFS, "got %d", r);
}
END_TEST

/* The packet decodes badly: its fd is closed all the same. */
START_TEST(malformed_with_fd)
{
	struct packet p = { .type = BP_TRANSFER, .fixed_size = sizeof(struct bp_transfer), .field = "id",
			    .nfds = 1, .hdr_nfds = 1, .reserved = 1 };
	ck_assert_int_eq(recv_bad(&p, sizeof(rbuf), NULL, NULL), -EBADMSG);

	teardown();
	setup();
	struct packet unknown = { .type = 4242, .nfds = 1, .hdr_nfds = 1 };
	ck_assert_int_eq(recv_bad(&unknown, sizeof(rbuf), NULL, NULL), -EOPNOTSUPP);

	teardown();
	setup();
	struct packet empty = { .no_data = true, .nfds = 1 };   /* fds and no bytes: not an EOF */
	ck_assert_int_eq(recv_bad(&empty, sizeof(rbuf), NULL, NULL), -EBADMSG);
}
END_TEST

/* Any control message but SCM_RIGHTS (here credentials) is refused. */
START_TEST(foreign_control_message)
{
	int on = 1;
	ck_assert_int_eq(setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	struct packet p = { .type = BP_TRANSFER, .fixed_size = sizeof(struct bp_transfer), .field = "id",
			    .nfds = 1, .hdr_nfds = 1 };
	ck_assert_int_eq(recv_bad(&p, sizeof(rbuf), NULL, NULL), -ETOOMANYREFS);
}
END_TEST

static int child_exit(void *arg)
{
	(void)arg;
	return 0;
}

START_TEST(eof)
{
	pid_t pid = run_child(child_exit, NULL);
	close(sp[1]);
	sp[1] = -1;
	wait_child(pid);
	struct bp_msg m, sentinel;
	memset(&sentinel, 0x5a, sizeof(sentinel));
	m = sentinel;
	ck_assert_int_eq(bp_recv(sp[0], rbuf, sizeof(rbuf), 0, &m, NULL, NULL), 0);
	ck_assert_mem_eq(&m, &sentinel, sizeof(m));
}
END_TEST

START_TEST(eagain_dontwait)
{
	struct bp_msg m, sentinel;
	memset(&sentinel, 0x5a, sizeof(sentinel));
	m = sentinel;
	unsigned type = 1234;
	uint32_t seq = 5678;
	ck_assert_int_eq(bp_recv(sp[0], rbuf, sizeof(rbuf), MSG_DONTWAIT, &m, &type, &seq), -EAGAIN);
	ck_assert_mem_eq(&m, &sentinel, sizeof(m));
	ck_assert_uint_eq(type, 1234);
	ck_assert_uint_eq(seq, 5678);
}
END_TEST

/* A TRANSFER_MANY of n sockets, in order: each a socketpair end whose peer
 * the child writes its index into. */
static int child_send_many(void *arg)
{
	int n = (int)(intptr_t)arg;
	int fds[BP_SCM_MAX_FD];
	for (int i = 0; i < n; i++) {
		int pp[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pp) < 0 ||
		    write(pp[1], &i, sizeof(i)) != sizeof(i))
			return 10;
		close(pp[1]);
		fds[i] = pp[0];
	}
	static uint8_t out[BP_MSG_MAX];
	struct bp_many many = { .count = (uint32_t)n };
	struct bp_field f = { "items", 5 };
	return bp_send_msg(sp[1], out, sizeof(out), BP_TRANSFER_MANY, 8, &many, sizeof(many), &f, 1,
			   fds, (unsigned)n, 0) < 0 ? 11 : 0;
}

/* 1, 2 and 253 fds arrive in the order sent, each CLOEXEC and the right one. */
START_TEST(many_fds_arrive_in_order)
{
	static const int counts[] = { 1, 2, BP_SCM_MAX_FD };
	int n = counts[_i];
	pid_t pid = run_child(child_send_many, (void *)(intptr_t)n);
	close(sp[1]);
	sp[1] = -1;
	wait_child(pid);
	int before = count_fds();
	struct bp_msg m;
	ck_assert_int_eq(bp_recv(sp[0], rbuf, sizeof(rbuf), 0, &m, NULL, NULL), 1);
	ck_assert_uint_eq(m.type, BP_TRANSFER_MANY);
	ck_assert_uint_eq(m.nfds, (unsigned)n);
	ck_assert_uint_eq(m.u.many.count, (unsigned)n);
	ck_assert_int_eq(count_fds(), before + n);
	for (int i = 0; i < n; i++) {
		int v = -1;
		ck_assert_int_eq(fcntl(m.fds[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		ck_assert_int_eq(read(m.fds[i], &v, sizeof(v)), sizeof(v));
		ck_assert_int_eq(v, i);
	}
	bp_msg_close_fds(&m);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* Many fds, and a header that counts one more or one fewer. */
START_TEST(many_fds_count_mismatch)
{
	static const int sent[] = { BP_SCM_MAX_FD, BP_SCM_MAX_FD - 1, 100, 100 };
	static const int said[] = { BP_SCM_MAX_FD - 1, BP_SCM_MAX_FD, 99, 101 };
	struct packet p = { .type = BP_TRANSFER_MANY, .seq = 6, .fixed_size = sizeof(struct bp_many),
			    .field = "items", .nfds = sent[_i], .hdr_nfds = (uint16_t)said[_i] };
	unsigned type = 0;
	uint32_t seq = 0;
	ck_assert_int_eq(recv_bad(&p, sizeof(rbuf), &type, &seq), -ETOOMANYREFS);
	ck_assert_uint_eq(type, BP_TRANSFER_MANY);
	ck_assert_uint_eq(seq, 6);
}
END_TEST

/* The receiver runs out of fds halfway: the kernel truncates (MSG_CTRUNC)
 * and what did arrive is closed. */
START_TEST(many_fds_ctrunc_at_fd_limit)
{
	struct packet p = { .type = BP_TRANSFER_MANY, .seq = 7, .fixed_size = sizeof(struct bp_many),
			    .field = "items", .nfds = 200, .hdr_nfds = 200 };
	pid_t pid = run_child(child_send_packet, &p);
	close(sp[1]);
	sp[1] = -1;
	wait_child(pid);
	struct rlimit old, low;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	int before = count_fds();
	low = (struct rlimit){ .rlim_cur = (rlim_t)before + 64, .rlim_max = old.rlim_max };
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	struct bp_msg m, sentinel;
	memset(&sentinel, 0x5a, sizeof(sentinel));
	m = sentinel;
	unsigned type = 0;
	int r = bp_recv(sp[0], rbuf, sizeof(rbuf), 0, &m, &type, NULL);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_eq(r, -ETOOMANYREFS);
	ck_assert_uint_eq(type, BP_TRANSFER_MANY);
	ck_assert_mem_eq(&m, &sentinel, sizeof(m));
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

START_TEST(send_errors)
{
	uint8_t out[64];
	int fds[BP_SCM_MAX_FD + 1] = { 0 };
	struct bp_field f = { "app", 3 };
	int n = bp_encode(out, sizeof(out), BP_REGISTER, 1, NULL, 0, &f, 1, 0);
	ck_assert_int_eq(bp_send(sp[1], out, (size_t)n, fds, BP_SCM_MAX_FD + 1, 0), -EINVAL);
	/* an encoding error sends nothing */
	ck_assert_int_eq(bp_send_msg(sp[1], out, sizeof(out), BP_REGISTER, 1, NULL, 0, &f, 1, fds, 1, 0), -EINVAL);
	ck_assert_int_eq(bp_send_msg(sp[1], out, 8, BP_REGISTER, 1, NULL, 0, &f, 1, NULL, 0, 0), -EMSGSIZE);
	struct bp_msg m;
	ck_assert_int_eq(bp_recv(sp[0], rbuf, sizeof(rbuf), MSG_DONTWAIT, &m, NULL, NULL), -EAGAIN);

	/* a full socket with MSG_DONTWAIT */
	int r, sent = 0;
	while ((r = bp_send(sp[1], out, (size_t)n, NULL, 0, MSG_DONTWAIT)) == 0)
		sent++;
	ck_assert_int_eq(r, -EAGAIN);
	ck_assert_int_gt(sent, 0);

	/* the peer gone: EPIPE (ECONNRESET had it left data unread), and no
	 * SIGPIPE, which would kill this process */
	int pair[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
	close(pair[0]);
	ck_assert_int_eq(bp_send(pair[1], out, (size_t)n, NULL, 0, 0), -EPIPE);
	ck_assert_int_eq(bp_send(pair[1], out, (size_t)n, fds, 1, 0), -EPIPE);
	close(pair[1]);
}
END_TEST

/* Round trips through the socket for the types that may carry 0 or 1 fd. */
START_TEST(info_with_and_without_fd)
{
	uint8_t out[512];
	struct bp_info info = { .kind = 1, .serial = 99 };
	struct bp_field f[5] = { { "app", 3 }, { "id", 2 }, { "", 0 }, { "l", 1 }, { "p", 1 } };
	int before = count_fds();
	ck_assert_int_eq(bp_send_msg(sp[1], out, sizeof(out), BP_INFO, 1, &info, sizeof(info), f, 5, NULL, 0, 0), 0);
	ck_assert_int_eq(bp_send_msg(sp[1], out, sizeof(out), BP_INFO, 2, &info, sizeof(info), f, 5, &sp[1], 1, 0), 0);
	struct bp_msg m;
	ck_assert_int_eq(bp_recv(sp[0], rbuf, sizeof(rbuf), 0, &m, NULL, NULL), 1);
	ck_assert_uint_eq(m.nfds, 0);
	ck_assert_uint_eq(m.seq, 1);
	ck_assert_int_eq(bp_msg_take_fd(&m), -1);
	ck_assert_int_eq(bp_recv(sp[0], rbuf, sizeof(rbuf), 0, &m, NULL, NULL), 1);
	ck_assert_uint_eq(m.nfds, 1);
	ck_assert_uint_eq(m.seq, 2);
	ck_assert_uint_eq(m.u.info.serial, 99);
	ck_assert_int_eq(count_fds(), before + 1);
	bp_msg_close_fds(&m);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

static int listen_at(const char *path, int type, bool do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

START_TEST(connect_unix_errors)
{
	char path[512];
	ck_assert_int_eq(bp_connect_unix("", SOCK_SEQPACKET), -EINVAL);

	/* sun_path holds 107 bytes and a NUL */
	memset(path, 'p', 108);
	path[0] = '/';
	path[108] = 0;
	ck_assert_int_eq(bp_connect_unix(path, SOCK_SEQPACKET), -ENAMETOOLONG);
	path[107] = 0;
	ck_assert_int_eq(bp_connect_unix(path, SOCK_SEQPACKET), -ENOENT);

	snprintf(path, sizeof(path), "%s/nothing", TEMP_DIR);
	ck_assert_int_eq(bp_connect_unix(path, SOCK_SEQPACKET), -ENOENT);

	/* a regular file, and a file used as a directory */
	snprintf(path, sizeof(path), "%s/file", TEMP_DIR);
	int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(f, 0);
	close(f);
	ck_assert_int_eq(bp_connect_unix(path, SOCK_SEQPACKET), -ECONNREFUSED);
	snprintf(path, sizeof(path), "%s/file/x", TEMP_DIR);
	ck_assert_int_eq(bp_connect_unix(path, SOCK_SEQPACKET), -ENOTDIR);

	/* bound, nobody listening: a stale socket file */
	snprintf(path, sizeof(path), "%s/stale", TEMP_DIR);
	int s = listen_at(path, SOCK_SEQPACKET, false);
	ck_assert_int_eq(bp_connect_unix(path, SOCK_SEQPACKET), -ECONNREFUSED);
	close(s);

	/* listening, but of another type */
	snprintf(path, sizeof(path), "%s/live", TEMP_DIR);
	int before = count_fds();
	s = listen_at(path, SOCK_SEQPACKET, true);
	ck_assert_int_eq(bp_connect_unix(path, SOCK_STREAM), -EPROTOTYPE);
	ck_assert_int_eq(count_fds(), before + 1);   /* the failed attempts leaked nothing */

	int c = bp_connect_unix(path, SOCK_SEQPACKET);
	ck_assert_int_ge(c, 0);
	ck_assert(fd_is_cloexec(c));
	int type = 0;
	socklen_t len = sizeof(type);
	ck_assert_int_eq(getsockopt(c, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	ck_assert_int_eq(type, SOCK_SEQPACKET);
	close(c);
	close(s);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("recv");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, one_fd_arrives_cloexec);
	tcase_add_loop_test(tc, too_many_fds_ctrunc, 0, 3);
	tcase_add_loop_test(tc, two_fds_count_mismatch, 0, 2);
	tcase_add_loop_test(tc, fd_with_type_that_takes_none, 0, 5);
	tcase_add_test(tc, missing_fd);
	tcase_add_test(tc, oversized_with_fds);
	tcase_add_test(tc, malformed_with_fd);
	tcase_add_test(tc, foreign_control_message);
	tcase_add_test(tc, eof);
	tcase_add_test(tc, eagain_dontwait);
	tcase_add_loop_test(tc, many_fds_arrive_in_order, 0, 3);
	tcase_add_loop_test(tc, many_fds_count_mismatch, 0, 4);
	tcase_add_test(tc, many_fds_ctrunc_at_fd_limit);
	tcase_add_test(tc, send_errors);
	tcase_add_test(tc, info_with_and_without_fd);
	suite_add_tcase(s, tc);

	tc = tcase_create("connect");
	tcase_add_checked_fixture(tc, temp_dir_setup, temp_dir_teardown);
	tcase_add_test(tc, connect_unix_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_DFL);   /* a stray SIGPIPE must kill the test, not hide */
	return run_suite(suite());
}
