/* SPDX-License-Identifier: MIT */
/* The control socket (control.h): bind or take it, accept and
 * authenticate connections within the limits. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "client.h"
#include "control.h"
#include "identity.h"
#include "log.h"
#include "util.h"
#include "wire.h"

static unsigned clients_of_uid(struct daemon *d, uid_t uid)
{
	unsigned n = 0;
	struct client *c;
	TAILQ_FOREACH(c, &d->clients, link)
		n += c->uid == uid;
	return n;
}

/* Only then is a client's unit worth looking up at accept time. */
static bool units_in_use(struct daemon *d)
{
	struct app *a;
	TAILQ_FOREACH(a, &d->apps, link)
		if (a->m && a->m->unit)
			return true;
	return false;
}

static bool peer_in_group(int fd, gid_t primary, gid_t want)
{
	if (primary == want)
		return true;
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == want)
			return true;
	return false;
}

/* Refuse a connection over a limit with one error, then close it. */
static void refuse(int fd, int error, const char *text)
{
	uint8_t buf[512];
	struct bp_error e = { .error = error };
	struct bp_field f = { text, (uint32_t)strlen(text) };
	bp_send_msg(fd, buf, sizeof(buf), BP_ERROR, 0, &e, sizeof(e), &f, 1, NULL, 0, MSG_DONTWAIT);
	close(fd);
}

static void on_accept_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct daemon *d = container_of(w, struct daemon, accept_pause);
	ev_io_start(loop, &d->control_io);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	for (int i = 0; i < 64; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			/* The pending connection stays readable: pause rather than spin. */
			log_warning_errno(errno, "accept on the control socket failed: %m; pausing for 100 ms");
			ev_io_stop(loop, w);
			ev_timer_init(&d->accept_pause, on_accept_resume, 0.1, 0.);
			ev_timer_start(loop, &d->accept_pause);
			return;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
				log_warning_errno(errno, "accept on the control socket failed: %m");
			return;
		}
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			close(fd);
			continue;
		}
		if (d->nclients >= d->cfg.max_clients) {
			refuse(fd, -ENOBUFS, "brokerd is at its connection limit");
			continue;
		}
		if (clients_of_uid(d, cred.uid) >= d->cfg.max_clients_per_uid) {
			refuse(fd, -EUSERS, "too many connections from this user");
			continue;
		}
		char *unit = NULL;
		int unit_error = units_in_use(d) ? identity_unit(fd, cred.pid, &unit) : 0;
		/* brokerd's own user administers its instance (a user instance's owner). */
		bool admin = cred.uid == 0 || cred.uid == geteuid() ||
			     (d->cfg.admin_group && peer_in_group(fd, cred.gid, d->cfg.admin_gid));
		struct client *c = client_new(d, fd, &cred, unit, admin);
		if (!c) {
			free(unit);
			refuse(fd, -ENOMEM, "out of memory");
			continue;
		}
		c->unit_error = unit_error;
	}
}

static int bind_control(struct daemon *d)
{
	const char *path = d->cfg.socket_path;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	/* The parent directory, world-searchable: authorisation is per verb. */
	char dir[sizeof(sa.sun_path)];
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
	}

	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A socket file nobody answers on is a leftover: replace it. */
	int probe = bp_connect_unix(path, SOCK_SEQPACKET);
	if (probe >= 0) {
		close(probe);
		close(fd);
		return -EADDRINUSE;
	}
	if (probe == -ECONNREFUSED)
		unlink(path);
	mode_t old = umask(0);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* bind() under umask 0 made it 0777; say what it is meant to be. */
	if (chmod(path, 0666) < 0) {
		r = -errno;
		close(fd);
		unlink(path);
		return r;
	}
	d->control_owned = true;
	return fd;
}

int control_open(struct daemon *d)
{
	if (d->control_fd < 0) {
		int fd = bind_control(d);
		if (fd < 0)
			return fd;
		d->control_fd = fd;
	} else {
		/* systemd passes its sockets blocking; on_accept() drains until EAGAIN. */
		int flags = fcntl(d->control_fd, F_GETFL);
		if (flags < 0 || fcntl(d->control_fd, F_SETFL, flags | O_NONBLOCK) < 0)
			return -errno;
	}
	ev_io_init(&d->control_io, on_accept, d->control_fd, EV_READ);
	ev_io_start(d->loop, &d->control_io);
	return 0;
}

void control_close(struct daemon *d)
{
	if (d->control_fd < 0)
		return;
	ev_io_stop(d->loop, &d->control_io);
	ev_timer_stop(d->loop, &d->accept_pause);
	close(d->control_fd);
	d->control_fd = -1;
	if (d->control_owned)
		unlink(d->cfg.socket_path);
}

