/* SPDX-License-Identifier: MIT */
/* The control socket: accept, authenticate, read requests, write replies. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "control.h"
#include "identity.h"
#include "log.h"
#include "util.h"
#include "wire.h"

#define MONITOR_QUEUE_MAX 1024

static void on_client(struct ev_loop *loop, ev_io *w, int revents);

void client_set_events(struct daemon *d, struct client *c)
{
	/* While a reply waits to go out, read nothing more from this client:
	 * it cannot make brokerd buffer more than one reply stream. */
	bool blocked = c->nout > 0 || c->resume.type;
	int events = blocked ? EV_WRITE : EV_READ;
	if (c->monitor)
		events = c->nout ? EV_READ | EV_WRITE : EV_READ;
	if (c->io.events == events)
		return;
	ev_io_stop(d->loop, &c->io);
	ev_io_set(&c->io, c->io.fd, events);
	ev_io_start(d->loop, &c->io);
	/* A client that does not drain its replies in time is dropped. */
	if (blocked && !c->monitor && c->hello) {
		ev_timer_set(&c->timer, (double)d->cfg.client_timeout_ms / 1000., 0.);
		ev_timer_start(d->loop, &c->timer);
	} else if (c->hello) {
		ev_timer_stop(d->loop, &c->timer);
	}
}

static bool enqueue(struct client *c, const void *buf, size_t len)
{
	struct outmsg *o = malloc(sizeof(*o) + len);
	if (!o)
		return false;
	o->len = len;
	memcpy(o->data, buf, len);
	STAILQ_INSERT_TAIL(&c->out, o, link);
	c->nout++;
	return true;
}

/* Send buf now, or queue it behind what is already waiting. */
static int client_send(struct daemon *d, struct client *c, const void *buf, size_t len)
{
	if (c->nout == 0) {
		int r = bp_send(c->io.fd, buf, len, NULL, 0, MSG_DONTWAIT);
		if (r != -EAGAIN)
			return r;
	}
	if (!enqueue(c, buf, len))
		return -ENOMEM;
	client_set_events(d, c);
	return 0;
}

int client_reply(struct daemon *d, struct client *c, unsigned type, uint32_t seq,
		 const void *fixed, size_t fixed_size, const struct bp_field *fields, unsigned n)
{
	int len = bp_encode(d->wbuf, sizeof(d->wbuf), type, seq, fixed, fixed_size, fields, n, 0);
	if (len < 0)
		return len;
	return client_send(d, c, d->wbuf, (size_t)len);
}

int client_error(struct daemon *d, struct client *c, uint32_t seq, int error, const char *fmt, ...)
{
	char text[512];
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(text, sizeof(text), fmt, ap);
		va_end(ap);
	} else {
		snprintf(text, sizeof(text), "%s", broker_strerror(error));
	}
	struct bp_error e = { .error = error < 0 ? error : -error };
	struct bp_field f = { text, (uint32_t)strlen(text) };
	return client_reply(d, c, BP_ERROR, seq, &e, sizeof(e), &f, 1);
}

bool client_queue_event(struct daemon *d, struct client *c, const void *buf, size_t len)
{
	if (c->nout >= MONITOR_QUEUE_MAX)
		return false;
	return client_send(d, c, buf, len) == 0;
}

void client_free(struct daemon *d, struct client *c, const char *why)
{
	if (why)
		log_debug("client pid %d uid %u: %s", (int)c->pid, c->uid, why);
	ev_io_stop(d->loop, &c->io);
	ev_timer_stop(d->loop, &c->timer);
	close(c->io.fd);
	free(c->unit);
	struct outmsg *o;
	while ((o = STAILQ_FIRST(&c->out))) {
		STAILQ_REMOVE_HEAD(&c->out, link);
		free(o);
	}
	if (c->monitor)
		d->nmonitors--;
	TAILQ_REMOVE(&d->clients, c, link);
	d->nclients--;
	free(c);
}

static void on_client_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	struct client *c = container_of(w, struct client, timer);
	if (!c->hello)
		client_error(d, c, 0, -ETIMEDOUT, "no hello within %u ms", d->cfg.client_timeout_ms);
	client_free(d, c, c->hello ? "did not read its replies in time" : "no hello in time");
}

/* Write what waits; false if the client had to go. */
static bool flush(struct daemon *d, struct client *c)
{
	struct outmsg *o;
	while ((o = STAILQ_FIRST(&c->out))) {
		int r = bp_send(c->io.fd, o->data, o->len, NULL, 0, MSG_DONTWAIT);
		if (r == -EAGAIN)
			return true;
		if (r < 0) {
			client_free(d, c, "write failed");
			return false;
		}
		STAILQ_REMOVE_HEAD(&c->out, link);
		c->nout--;
		free(o);
	}
	if (c->resume.type) {
		int r = verb_resume(d, c);
		if (r == -EAGAIN)
			return true;
		if (r < 0) {
			client_free(d, c, "reply failed");
			return false;
		}
	}
	client_set_events(d, c);
	return true;
}

static void on_client(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = ev_userdata(loop);
	struct client *c = container_of(w, struct client, io);

	if ((revents & EV_WRITE) && !flush(d, c))
		return;
	if (!(revents & EV_READ) || (c->io.events & EV_READ) == 0)
		return;

	struct bp_msg m;
	unsigned type = 0;
	uint32_t seq = 0;
	int r = bp_recv(w->fd, d->rbuf, d->cfg.max_message, MSG_DONTWAIT, &m, &type, &seq);
	if (r == -EAGAIN)
		return;
	if (r == 0) {
		client_free(d, c, "closed");
		return;
	}
	if (c->monitor) {
		/* A monitor only listens; anything it says ends it. */
		if (r > 0)
			bp_msg_close_fds(&m);
		client_free(d, c, "monitor sent a request");
		return;
	}
	if (r < 0 && r != -EBADMSG && r != -EOPNOTSUPP && r != -ETOOMANYREFS && r != -EMSGSIZE) {
		client_free(d, c, "receive failed");
		return;
	}
	if (r < 0) {
		/* Every fd that came with it is closed already; say why. */
		if (client_error(d, c, seq, r, "%s%s%s", broker_strerror(r),
				 bp_type_name(type) ? " in " : "", bp_type_name(type) ? bp_type_name(type) : "") < 0)
			client_free(d, c, "cannot reply");
		return;
	}
	verb_dispatch(d, c, &m);
}

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
			log_warning("accept on the control socket failed: %m; pausing for 100 ms");
			ev_io_stop(loop, w);
			ev_timer_init(&d->accept_pause, on_accept_resume, 0.1, 0.);
			ev_timer_start(loop, &d->accept_pause);
			return;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
				log_warning("accept on the control socket failed: %m");
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
		struct client *c = calloc(1, sizeof(*c));
		if (!c) {
			refuse(fd, -ENOMEM, "out of memory");
			continue;
		}
		c->uid = cred.uid;
		c->gid = cred.gid;
		c->pid = cred.pid;
		if (units_in_use(d))
			c->unit_error = peer_unit(fd, cred.pid, &c->unit);
		/* brokerd's own user administers its instance (a user instance's owner). */
		c->admin = cred.uid == 0 || cred.uid == geteuid() ||
			   (d->cfg.admin_group && peer_in_group(fd, cred.gid, d->cfg.admin_gid));
		STAILQ_INIT(&c->out);
		ev_io_init(&c->io, on_client, fd, EV_READ);
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, on_client_timer, (double)d->cfg.client_timeout_ms / 1000., 0.);
		ev_timer_start(loop, &c->timer);
		TAILQ_INSERT_TAIL(&d->clients, c, link);
		d->nclients++;
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
	chmod(path, 0666);
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

void clients_close_all(struct daemon *d)
{
	struct client *c;
	while ((c = TAILQ_FIRST(&d->clients)))
		client_free(d, c, NULL);
}

void clients_forget_app(struct daemon *d, struct app *a)
{
	/* A listing of an app that goes away still ends with END: it just
	 * matches nothing more. */
	static struct app gone;
	struct client *c;
	TAILQ_FOREACH(c, &d->clients, link) {
		if (c->app == a)
			c->app = NULL;
		if (c->resume.app == a)
			c->resume.app = &gone;
	}
}
