/* SPDX-License-Identifier: MIT */
/*
 * The control verbs: each checks who asks (authorisation per verb), checks
 * its arguments and limits, then acts and replies.  A handler returns 0
 * when it replied, a negative errno for brokerd to send as BP_ERROR (with
 * the sentence in why, if it wrote one), or SEND_FAILED when the client
 * cannot be written to and must go.  The verbs that answer with records
 * (LIST, SHOW, CLAIM, APPS) are in records.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "caps.h"
#include "control.h"
#include "identity.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "verbs.h"
#include "wire.h"

bool client_may_act(const struct client *c, const struct app *a)
{
	if (c->uid == 0)
		return true;
	return a->m && a->m->uid == c->uid;
}

bool client_may_see(const struct client *c, const struct app *a)
{
	return c->admin || client_may_act(c, a);
}

/* The registered app, for verbs that act as it.  The manifest may have
 * changed hands since REGISTER (reload), so the right is checked again. */
int verb_own_app(struct client *c, struct app **ret, char *why, size_t len)
{
	if (!c->app)
		return -EDESTADDRREQ;
	if (!client_may_act(c, c->app)) {
		snprintf(why, len, "uid %u may no longer act as %s: its manifest changed or went away",
			 c->uid, c->app->id);
		return -EPERM;
	}
	const char *unit = c->app->m ? c->app->m->unit : NULL;
	if (unit && (!c->unit || strcmp(c->unit, unit) != 0)) {
		snprintf(why, len, "pid %d may no longer act as %s: its manifest now names unit %s",
			 (int)c->pid, c->app->id, unit);
		return -EPERM;
	}
	*ret = c->app;
	return 0;
}

static int reply_ok(struct daemon *d, struct client *c, uint32_t seq)
{
	struct bp_ok ok = { 0 };
	return client_reply(d, c, BP_OK, seq, &ok, sizeof(ok), NULL, 0) < 0 ? SEND_FAILED : 0;
}

static int do_hello(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	if (c->hello)
		return -EPROTO;
	if (m->u.hello.version != BP_VERSION) {
		snprintf(why, len, "protocol version %u is not brokerd's %u", m->u.hello.version, BP_VERSION);
		return -EPROTONOSUPPORT;
	}
	c->hello = true;
	ev_timer_stop(d->loop, &c->timer);
	struct bp_hello_reply r = {
		.version = BP_VERSION, .uid = c->uid, .flags = c->admin ? BP_HELLO_ADMIN : 0,
	};
	struct bp_field f = { PACKAGE_VERSION, sizeof(PACKAGE_VERSION) - 1 };
	return client_reply(d, c, BP_HELLO_REPLY, m->seq, &r, sizeof(r), &f, 1) < 0 ? SEND_FAILED : 0;
}

/* The app named by a request: "" = the client's registered app. */
int verb_named_app(struct daemon *d, struct client *c, const char *name, struct app **ret,
		     char *why, size_t len)
{
	if (!*name)
		return verb_own_app(c, ret, why, len);
	struct app *a = app_find(d, name);
	if (!a || !client_may_see(c, a)) {
		/* To a stranger, someone else's app and no app look the same. */
		snprintf(why, len, "no app %s that uid %u may see", name, c->uid);
		return -ENOENT;
	}
	*ret = a;
	return 0;
}

static int do_register(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	const char *id = bp_msg_str(m, 0);
	struct app *a = app_find(d, id);
	if (!a || !a->m || !client_may_act(c, a)) {
		if (a && a->m && client_may_see(c, a)) {
			snprintf(why, len, "uid %u may not act as %s (its manifest names user %s)", c->uid, id, a->m->user);
			return -EPERM;
		}
		snprintf(why, len, "no manifest declares an app %s that uid %u may act as", id, c->uid);
		return -ENOENT;
	}
	if (c->app && c->app != a) {
		snprintf(why, len, "this connection is registered as %s already", c->app->id);
		return -EALREADY;
	}
	/* A unit binds root too: only that unit's processes are the app. */
	if (a->m->unit && (!c->unit || strcmp(c->unit, a->m->unit) != 0)) {
		if (c->unit)
			snprintf(why, len, "pid %d runs in unit %s; only %s may act as this app", (int)c->pid,
				 c->unit, a->m->unit);
		else
			snprintf(why, len, "pid %d: %s; only %s may act as this app", (int)c->pid,
				 peer_unit_error(c->unit_error), a->m->unit);
		log_full(LOG_NOTICE, a->id, NULL, 0, "registration refused: %s", why);
		return -EPERM;
	}
	c->app = a;
	return reply_ok(d, c, m->seq);
}

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

static int do_transfer(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	struct app *a;
	const char *id = bp_msg_str(m, 0);
	const struct bp_field *ctx = &m->field[1];
	uint32_t keepalive = m->u.transfer.keepalive_sec;

	int r = verb_own_app(c, &a, why, len);
	if (r < 0)
		return r;
	if (!a->m) {   /* root, registered before a reload took the manifest away */
		snprintf(why, len, "app %s has no manifest any more", a->id);
		return -ENOENT;
	}
	r = bp_check_id(id, d->cfg.max_id_len);
	if (r < 0) {
		snprintf(why, len, r == -ENAMETOOLONG ? "id is longer than %u bytes" :
			 "id must be [A-Za-z0-9._@-] and not start with '.' or '-'", d->cfg.max_id_len);
		return r;
	}
	unsigned max_ctx = a->m->max_context && a->m->max_context < d->cfg.max_context
				   ? a->m->max_context : d->cfg.max_context;
	if (ctx->len > max_ctx) {
		snprintf(why, len, "context of %u bytes is over the limit of %u", ctx->len, max_ctx);
		return -E2BIG;
	}
	if (m->u.transfer.flags)
		return -EINVAL;
	if (keepalive > d->cfg.max_keepalive_sec) {
		snprintf(why, len, "keep-alive of %u s is over the limit of %u s", keepalive, d->cfg.max_keepalive_sec);
		return -EINVAL;
	}
	int fd = m->fds[0];
	struct sock_facts facts;
	r = sock_facts_get(fd, &facts);
	if (r == -ENOTSOCK) {
		struct stat st;
		if (fstat(fd, &st) == 0)
			snprintf(why, len, "the file descriptor is %s, not a socket", file_kind(st.st_mode));
		return r;
	}
	if (r < 0)
		return r;
	/* The socket itself (family, type, addresses, direction) decides
	 * which capability it needs; the app's word counts for nothing. */
	char what[384];
	r = caps_check_facts(&facts, a->m->caps, what, sizeof(what));
	if (r < 0) {
		snprintf(why, len, "%s%s%s", r == -EACCES ? "app " : "", r == -EACCES ? a->id : "", r == -EACCES ? ": " : "");
		snprintf(why + strlen(why), len - strlen(why), "%s", what);
		return r;
	}
	/* caps_required() refused every stream that is neither connected nor
	 * listening, and every family and type brokerd does not hold. */
	struct sock_desc desc = {
		.kind = facts.sotype == SOCK_DGRAM ? BROKER_KIND_DATAGRAM
			: facts.listening ? BROKER_KIND_LISTENER : BROKER_KIND_STREAM,
		.family = facts.family,
		.sotype = facts.sotype,
	};
	if (desc.kind == BROKER_KIND_LISTENER && keepalive) {
		snprintf(why, len, "listeners take no keep-alive");
		return -EINVAL;
	}
	unsigned max_app = a->m->max_sockets ? a->m->max_sockets : d->cfg.max_held_per_app;
	struct held *old = held_find(a, id);
	if (!old && a->nheld >= max_app) {
		snprintf(why, len, "app %s holds %u sockets, its limit", a->id, a->nheld);
		return -EDQUOT;
	}
	if (!old && d->nheld >= d->cfg.max_held) {
		snprintf(why, len, "brokerd holds %u sockets, its limit", d->nheld);
		return -ENOSPC;
	}

	struct held *h;
	m->fds[0] = -1;   /* held_add consumes it, on failure too */
	r = held_add_described(d, a, id, fd, &desc, ctx->ptr, ctx->len, keepalive, c->uid, &h);
	if (r < 0)
		return r;
	log_full(LOG_DEBUG, a->id, id, 0, "held (%s%s)", broker_kind_name(h->kind), old ? ", replacing" : "");
	monitor_emit(d, BROKER_EVENT_TRANSFER, a, h, 0, 0, c->pid, NULL);
	return reply_ok(d, c, m->seq);
}

/* Refuse an admin verb, in one sentence that says who may. */
int verb_need_admin(struct daemon *d, const char *what, char *why, size_t len)
{
	if (d->cfg.admin_group)
		snprintf(why, len, "%s needs root or membership of group %s", what, d->cfg.admin_group);
	else
		snprintf(why, len, "%s needs root (no admin group is configured)", what);
	return -EPERM;
}

/* Counters over what this client may see: an admin sees all of brokerd;
 * anyone else their own apps and connections, and no broker-wide totals
 * (whose changes would tell when other apps' sockets fire). */
static int do_status(struct daemon *d, struct client *c, struct bp_msg *m)
{
	struct bp_status s = {
		.pid = (uint32_t)getpid(),
		.max_held = d->cfg.max_held, .max_held_per_app = d->cfg.max_held_per_app,
		.uptime_usec = now_usec(CLOCK_MONOTONIC) - d->started,
	};
	if (c->admin) {
		s.clients = d->nclients;
		s.triggers_total = d->triggers_total;
		s.activations_total = d->activations_total;
		s.handbacks_total = d->handbacks_total;
	} else {
		struct client *o;
		TAILQ_FOREACH(o, &d->clients, link)
			s.clients += o->uid == c->uid;
	}
	struct app *a;
	TAILQ_FOREACH(a, &d->apps, link)
		if (client_may_see(c, a)) {
			s.apps++;
			s.running += a->conn != NULL || a->pid != 0;
		}
	struct held *h;
	TAILQ_FOREACH(h, &d->all, all)
		if (client_may_see(c, h->app)) {
			s.held++;
			s.watching += h->state == BROKER_STATE_WATCHING;
			s.triggered += h->state == BROKER_STATE_TRIGGERED;
			s.handing_back += h->state == BROKER_STATE_HANDING_BACK;
		}
	struct bp_field f[2] = {
		{ PACKAGE_VERSION, sizeof(PACKAGE_VERSION) - 1 },
		{ d->cfg.socket_path, (uint32_t)strlen(d->cfg.socket_path) },
	};
	return client_reply(d, c, BP_STATUS_REPLY, m->seq, &s, sizeof(s), f, 2) < 0 ? SEND_FAILED : 0;
}

/* TRIGGER and DROP: admin verbs on APP/ID. */
static int do_admin_socket(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	if (!c->admin)
		return verb_need_admin(d, m->type == BP_DROP ? "drop" : "trigger", why, len);
	const char *app_id = bp_msg_str(m, 0), *id = bp_msg_str(m, 1);
	struct app *a = app_find(d, app_id);
	struct held *h = a ? held_find(a, id) : NULL;
	if (!h) {
		snprintf(why, len, "%s/%s is not held", app_id, id);
		return -ENOENT;
	}
	if (m->type == BP_DROP) {
		log_full(LOG_NOTICE, a->id, id, 0, "dropped by uid %u", c->uid);
		monitor_emit(d, BROKER_EVENT_DROP, a, h, 0, 0, c->pid, "by uid %u", c->uid);
		held_remove(d, h);
		app_maybe_free(d, a);
	} else if (h->state == BROKER_STATE_WATCHING) {
		int reason = socket_classify(held_fd(h), h->kind);
		if (h->kind == BROKER_KIND_LISTENER || reason == BROKER_REASON_NONE)
			reason = BROKER_REASON_ADMIN_TRIGGER;
		held_trigger(d, h, reason);
	}
	return reply_ok(d, c, m->seq);
}

void verb_dispatch(struct daemon *d, struct client *c, struct bp_msg *m)
{
	char why[512] = "";
	int r;

	if (!c->hello && m->type != BP_HELLO) {
		snprintf(why, sizeof(why), "say hello first");
		r = -EPROTO;
	} else {
		switch (m->type) {
		case BP_HELLO: r = do_hello(d, c, m, why, sizeof(why)); break;
		case BP_REGISTER: r = do_register(d, c, m, why, sizeof(why)); break;
		case BP_TRANSFER: r = do_transfer(d, c, m, why, sizeof(why)); break;
		case BP_LIST: r = verb_list(d, c, m, why, sizeof(why)); break;
		case BP_SHOW: r = verb_show(d, c, m, why, sizeof(why)); break;
		case BP_CLAIM: r = verb_claim(d, c, m->seq, bp_msg_str(m, 0), why, sizeof(why)); break;
		case BP_STATUS: r = do_status(d, c, m); break;
		case BP_APPS: r = verb_stream(d, c, BP_APPS, m->seq, NULL); break;
		case BP_MONITOR:
			r = monitor_start(d, c, why, sizeof(why));
			if (r == 0 && reply_ok(d, c, m->seq) < 0)
				r = SEND_FAILED;
			break;
		case BP_TRIGGER:
		case BP_DROP: r = do_admin_socket(d, c, m, why, sizeof(why)); break;
		case BP_RELOAD:
			if (!c->admin) {
				r = verb_need_admin(d, "reload", why, sizeof(why));
				break;
			}
			r = daemon_reload(d);
			if (r == 0)
				r = reply_ok(d, c, m->seq);
			else if (r == -EPERM)
				snprintf(why, sizeof(why), "reload failed: %s is not trusted; the old manifests stay in force "
					 "(see brokerd's log)", d->cfg.apps_dir);
			else
				snprintf(why, sizeof(why), "reload failed: %s: %s; the old manifests stay in force",
					 d->cfg.apps_dir, strerror(-r));
			break;
		default:
			/* a reply type sent as a request */
			snprintf(why, sizeof(why), "%s is not a request", bp_type_name(m->type));
			r = -EOPNOTSUPP;
		}
	}
	bp_msg_close_fds(m);   /* whatever no handler took */
	if (r == SEND_FAILED || (r < 0 && client_error(d, c, m->seq, r, "%s",
						       why[0] ? why : broker_strerror(r)) < 0))
		client_free(d, c, "cannot reply");
}
