/* SPDX-License-Identifier: MIT */
/*
 * The physical floor of a hand-off: one fd over AF_UNIX SOCK_SEQPACKET
 * with SCM_RIGHTS, between two processes, with nothing brokerd does
 * around it but what any holder must do:
 *   transfer  sender: sendmsg(fd); holder: epoll_wait, recvmsg, epoll add,
 *             ack; sender: recv ack, close its copy;
 *   claim     sender: request; holder: epoll_wait, recv, epoll del,
 *             sendmsg(fd), close; sender: recvmsg.
 * And pipelined: fds streamed one per message, each acknowledged, as
 * brokerd hands a storm's sockets back to a running app.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "floor.h"

int floor_send(int s, const void *buf, size_t len, int fd, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n = sendmsg(s, &mh, MSG_NOSIGNAL | flags);
	return n < 0 ? -errno : 0;
}

ssize_t floor_recv(int s, void *buf, size_t cap, int *ret_fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	ssize_t n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
	*ret_fd = -1;
	if (n < 0)
		return -errno;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	return n;
}

static _Noreturn void holder(int s)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0)
		_exit(1);
	int held = -1;
	for (;;) {
		struct epoll_event out[4];
		int n = epoll_wait(ep, out, 4, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		for (int i = 0; i < n; i++) {
			if (out[i].data.fd != s)
				continue;   /* the held socket: nothing arrives there */
			char buf[64];
			int fd;
			ssize_t r = floor_recv(s, buf, sizeof(buf), &fd);
			if (r <= 0)
				_exit(0);
			if (fd >= 0) {
				ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = fd };
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				held = fd;
				send(s, "k", 1, MSG_NOSIGNAL);
			} else if (held >= 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, held, NULL);
				floor_send(s, "f", 1, held, 0);
				close(held);
				held = -1;
			}
		}
	}
}

/* Run body in a child process at the other end of a SOCK_SEQPACKET pair;
 * our end in *ret_sock.  The child's pid, or -errno. */
static pid_t start_peer(void (*body)(int), int *ret_sock)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(sv[0]);
		body(sv[1]);
	}
	close(sv[1]);
	*ret_sock = sv[0];
	return pid;
}

int floor_start(struct floor *f)
{
	f->pid = start_peer(holder, &f->sock);
	return f->pid < 0 ? f->pid : 0;
}

int floor_handoff(struct floor *f, int fd)
{
	char buf[64];
	int got;
	if (floor_send(f->sock, "t", 1, fd, 0) < 0 || floor_recv(f->sock, buf, sizeof(buf), &got) != 1)
		return -EPIPE;
	close(fd);
	if (send(f->sock, "c", 1, MSG_NOSIGNAL) != 1 || floor_recv(f->sock, buf, sizeof(buf), &got) != 1 ||
	    got < 0)
		return -EPIPE;
	return got;
}

void floor_stop(struct floor *f)
{
	close(f->sock);
	waitpid(f->pid, NULL, 0);
}

static _Noreturn void receiver(int s)
{
	for (;;) {
		char buf[64];
		int fd;
		ssize_t r = floor_recv(s, buf, sizeof(buf), &fd);
		if (r <= 0)
			_exit(0);
		if (fd >= 0) {
			send(s, "k", 1, MSG_NOSIGNAL);
			close(fd);
		}
	}
}

double floor_pipelined(int fd, unsigned n)
{
	int s;
	pid_t pid = start_peer(receiver, &s);
	if (pid < 0)
		return -1;
	unsigned sent = 0, acked = 0;
	uint64_t t0 = mono_ns();
	while (acked < n) {
		struct pollfd p = { .fd = s, .events = POLLIN | (sent < n ? POLLOUT : 0) };
		if (poll(&p, 1, 10000) <= 0)
			break;
		while (sent < n && floor_send(s, "h", 1, fd, MSG_DONTWAIT) == 0)
			sent++;
		char buf[64];
		ssize_t r;
		while ((r = recv(s, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			acked++;
		if (r == 0)
			break;
	}
	double ms = (double)(mono_ns() - t0) / 1e6;
	close(s);
	waitpid(pid, NULL, 0);
	return acked == n ? ms : -1;
}

double floor_pipelined_median(int listener, uint16_t port, unsigned n)
{
	int c, srv;
	tcp_pair(listener, port, &c, &srv);
	struct samples fl = { 0 };
	for (int i = 0; i < 3; i++) {
		double ms = floor_pipelined(srv, n);
		if (ms < 0)
			die("pipelined floor failed");
		samples_add(&fl, ms);
	}
	double median = samples_quantile(&fl, 0.5);
	samples_free(&fl);
	close(c);
	close(srv);
	return median;
}

