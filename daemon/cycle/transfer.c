/* SPDX-License-Identifier: MIT */
/* Transfer (transfer.h): every check, then the lifecycle holds it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "caps.h"
#include "held.h"
#include "keeper.h"
#include "transfer.h"
#include "util.h"

static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file (or memfd)";
	case S_IFIFO: return "a pipe";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFDIR: return "a directory";
	default: return "an anonymous file (eventfd, epoll, timerfd, ...)";
	}
}

/* What the manifest and brokerd.conf allow; fd is not looked at. */
static int check_request(struct daemon *d, struct app *a, const struct transfer *t, char *why, size_t len)
{
	if (!a->m) {   /* root, registered before a reload took the manifest away */
		snprintf(why, len, "app %s has no manifest any more", a->id);
		return -ENOENT;
	}
	int r = bp_check_id(t->id, d->cfg.max_id_len);
	if (r < 0) {
		snprintf(why, len, r == -ENAMETOOLONG ? "id is longer than %u bytes" :
			 "id must be [A-Za-z0-9._@-] and not start with '.' or '-'", d->cfg.max_id_len);
		return r;
	}
	unsigned max_ctx = a->m->max_context && a->m->max_context < d->cfg.max_context
				   ? a->m->max_context : d->cfg.max_context;
	if (t->ctx_len > max_ctx) {
		snprintf(why, len, "context of %u bytes is over the limit of %u", t->ctx_len, max_ctx);
		return -E2BIG;
	}
	if (t->flags)
		return -EINVAL;
	if (t->keepalive_sec > d->cfg.max_keepalive_sec) {
		snprintf(why, len, "keep-alive of %u s is over the limit of %u s", t->keepalive_sec,
			 d->cfg.max_keepalive_sec);
		return -EINVAL;
	}
	return 0;
}

/* The socket itself (family, type, addresses, direction) decides which
 * capability it needs; the app's word counts for nothing.  A stream the TLS
 * keeper relays is judged by the keeper's real connection. */
static int check_socket(struct daemon *d, struct app *a, int fd, const struct transfer *t,
			struct sock_facts *f, char *why, size_t len)
{
	int r = sock_facts_get(fd, f);
	if (r == -ENOTSOCK) {
		struct stat st;
		if (fstat(fd, &st) == 0)
			snprintf(why, len, "the file descriptor is %s, not a socket", file_kind(st.st_mode));
		return r;
	}
	if (r < 0)
		return r;
	struct sock_facts real;
	const struct sock_facts *judged = f;
	if (f->family == AF_UNIX && f->sotype == SOCK_STREAM && f->connected) {
		r = keeper_facts(d, fd, &real, why, len);
		if (r < 0)
			return r;
		if (r == KEEPER_GONE)
			return 0;   /* it leads nowhere now: no capability to judge */
		if (r > 0)
			judged = &real;
	}
	/* The sentence only for a refusal: putting it together costs more
	 * than the check. */
	char what[384];
	r = caps_check_facts(judged, a->m->caps, NULL, 0);
	if (r < 0)
		caps_check_facts(judged, a->m->caps, what, sizeof(what));
	if (r == -EACCES)
		snprintf(why, len, "app %s: %s%s", a->id, what, judged == f ? "" : ", relayed by the TLS keeper");
	else if (r < 0)
		snprintf(why, len, "%s", what);
	if (r < 0)
		return r;
	/* caps_required() refused every stream that is neither connected nor
	 * listening, and every family and type brokerd does not hold. */
	if (f->listening && f->sotype != SOCK_DGRAM && t->keepalive_sec) {
		snprintf(why, len, "listeners take no keep-alive");
		return -EINVAL;
	}
	return 0;
}

/* One socket, one entry: the fd store keeps one copy of a socket. */
static int check_unique(struct daemon *d, struct app *a, const struct identity *who, int fd,
			const char *id, uint64_t *ret_ino, char *why, size_t len)
{
	int r = held_ino(fd, ret_ino);
	if (r < 0)
		return r;
	if (held_dropped_before(d, fd)) {
		snprintf(why, len, "an admin dropped this socket; brokerd does not hold it again");
		return -ECANCELED;
	}
	struct held *same = held_find_file(d, *ret_ino);
	if (same && (same->app != a || strcmp(held_id(same), id) != 0)) {
		if (app_may_see(same->app, who))
			snprintf(why, len, "this socket is held already, as %s/%s", same->app->id, held_id(same));
		else
			snprintf(why, len, "this socket is held already, for another app");
		return -EEXIST;
	}
	return 0;
}

static int check_limits(struct daemon *d, struct app *a, const char *id, char *why, size_t len)
{
	unsigned max_app = a->m->max_sockets ? a->m->max_sockets : d->cfg.max_held_per_app;
	if ((a->nheld < max_app && d->nheld < d->cfg.max_held) || held_find(a, id))
		return 0;   /* room, or a replacement, which takes no more */
	if (a->nheld >= max_app) {
		snprintf(why, len, "app %s holds %u sockets, its limit", a->id, a->nheld);
		return -EDQUOT;
	}
	if (d->nheld >= d->cfg.max_held) {
		snprintf(why, len, "brokerd holds %u sockets, its limit", d->nheld);
		return -ENOSPC;
	}
	return 0;
}

int transfer_socket(struct daemon *d, struct app *a, const struct identity *who, int fd,
		    const struct transfer *t, char *why, size_t len)
{
	struct sock_facts f;
	uint64_t ino;
	int r = check_request(d, a, t, why, len);
	if (r == 0)
		r = check_socket(d, a, fd, t, &f, why, len);
	if (r == 0)
		r = check_unique(d, a, who, fd, t->id, &ino, why, len);
	if (r == 0)
		r = check_limits(d, a, t->id, why, len);
	if (r < 0) {
		close(fd);
		return r;
	}
	return held_add_facts(d, a, t->id, fd, &f, ino, t->ctx, t->ctx_len, t->keepalive_sec, who, NULL);
}
