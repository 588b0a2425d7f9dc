/* SPDX-License-Identifier: MIT */
/*
 * The control verbs, one table: each handler checks who asks (access.h),
 * its arguments and limits, then acts and replies.  A handler returns 0
 * when it replied (a client that could not be written to is marked
 * broken), or a negative errno for dispatch to send as BP_ERROR, with the
 * sentence in why if it wrote one.  The verbs that answer with records are
 * in records.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "app.h"
#include "bulk.h"
#include "held.h"
#include "identity.h"
#include "keeper.h"
#include "lifecycle.h"
#include "log.h"
#include "records.h"
#include "registry.h"
#include "store.h"
#include "transfer.h"
#include "trigger.h"
#include "util.h"
#include "verbs.h"
#include "wake.h"
#include "wire.h"

typedef int verb_fn(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);

static int reply_ok(struct daemon *d, struct client *c, uint32_t seq)
{
	struct bp_ok ok = { 0 };
	client_reply(d, c, BP_OK, seq, &ok, sizeof(ok), NULL, 0);
	return 0;
}

static int do_hello(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	uint32_t version = m->u.hello.version;
	if (c->hello)
		return -EPROTO;
	if (version < BP_VERSION_MIN || version > BP_VERSION) {
		snprintf(why, len, "protocol version %u is not one brokerd speaks (%u to %u)", version,
			 BP_VERSION_MIN, BP_VERSION);
		return -EPROTONOSUPPORT;
	}
	/* Version 2 knew one field; 3 may add the app id to register as. */
	if (version == 2 && m->nfields != 1) {
		snprintf(why, len, "a version-2 HELLO has one field, the client name");
		return -EBADMSG;
	}
	if (m->nfields == 2) {
		const char *app_id = bp_msg_str(m, 1);
		if (!*app_id) {
			snprintf(why, len, "the app id in HELLO is empty (leave the field out to register later)");
			return -EINVAL;
		}
		int r = access_register(d, c, app_id, why, len);
		if (r < 0)
			return r;   /* no hello: the connection may say it again */
	}
	c->hello = true;
	ev_timer_stop(d->loop, &c->timer);
	struct bp_hello_reply r = {
		.version = version, .uid = c->uid, .flags = c->admin ? BP_HELLO_ADMIN : 0,
	};
	struct bp_field f = { PACKAGE_VERSION, sizeof(PACKAGE_VERSION) - 1 };
	client_reply(d, c, BP_HELLO_REPLY, m->seq, &r, sizeof(r), &f, 1);
	return 0;
}

static int do_register(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	int r = access_register(d, c, bp_msg_str(m, 0), why, len);
	return r < 0 ? r : reply_ok(d, c, m->seq);
}

static int do_transfer(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	struct app *a;
	int r = access_own_app(c, &a, why, len);
	if (r < 0)
		return r;
	const struct transfer t = {
		.id = bp_msg_str(m, 0), .ctx = m->field[1].ptr, .ctx_len = m->field[1].len,
		.keepalive_sec = m->u.transfer.keepalive_sec, .flags = m->u.transfer.flags,
	};
	const struct identity who = { .uid = c->uid, .pid = c->pid, .unit = c->unit, .admin = c->admin };
	r = transfer_socket(d, a, &who, bp_msg_take_fd(m), &t, why, len);
	return r < 0 ? r : reply_ok(d, c, m->seq);
}

/* The registered app's running instance: this process, from now on. */
static int do_attach(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	struct app *a;
	int r = access_own_app(c, &a, why, len);
	if (r < 0)
		return r;
	r = wake_attach(d, a, bp_msg_take_fd(m), c->pid, why, len);
	return r < 0 ? r : reply_ok(d, c, m->seq);
}

/* From the TLS keeper only (keeper.h): where a relayed stream goes. */
static int do_keeper(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	const struct identity who = { .uid = c->uid, .pid = c->pid, .unit = c->unit, .admin = c->admin };
	int r = keeper_note(d, &who, c, m->u.keeper.ino, bp_msg_take_fd(m), why, len);
	return r < 0 ? r : reply_ok(d, c, m->seq);
}

/* Counters over what this client may see: an admin sees all of brokerd;
 * anyone else their own apps and connections, and no broker-wide totals
 * (whose changes would tell when other apps' sockets fire). */
static int do_status(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	struct bp_status s = {
		.pid = (uint32_t)getpid(),
		.max_held = d->cfg.max_held, .max_held_per_app = d->cfg.max_held_per_app,
		.uptime_usec = now_usec(CLOCK_MONOTONIC) - d->started,
	};
	uint32_t stored;
	store_counts(d, &stored, &s.store_lost);
	s.stored = stored == UINT32_MAX ? UINT32_MAX : 0;
	if (c->admin) {
		s.stored = stored;   /* brokerd's own books: held == stored */
		s.clients = d->nclients;
		s.triggers_total = d->triggers_total;
		s.activations_total = d->activations_total;
		s.handbacks_total = d->handbacks_total;
		s.thaws_total = d->thaws_total;
		s.thaws_held = d->thaws_held;
	} else {
		s.store_lost = 0;
		struct client *o;
		TAILQ_FOREACH(o, &d->clients, link)
			s.clients += o->uid == c->uid;
	}
	struct app *a;
	TAILQ_FOREACH(a, &d->apps, link)
		if (access_may_see(c, a)) {
			s.apps++;
			s.running += a->conn != NULL || instance_alive(&a->inst);
			s.attached += a->attached != 0;
		}
	struct held *h;
	TAILQ_FOREACH(h, &d->all, all)
		if (access_may_see(c, h->app)) {
			s.held++;
			s.watching += h->state == BROKER_STATE_WATCHING;
			s.triggered += h->state == BROKER_STATE_TRIGGERED;
			s.handing_back += h->state == BROKER_STATE_HANDING_BACK;
			if (!c->admin && stored != UINT32_MAX)
				s.stored += h->stored_as != 0;
		}
	struct bp_field f[2] = {
		{ PACKAGE_VERSION, sizeof(PACKAGE_VERSION) - 1 },
		{ d->cfg.socket_path, (uint32_t)strlen(d->cfg.socket_path) },
	};
	client_reply(d, c, BP_STATUS_REPLY, m->seq, &s, sizeof(s), f, 2);
	return 0;
}

/* TRIGGER and DROP: admin verbs on APP/ID. */
static int do_admin_socket(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	if (!c->admin)
		return access_need_admin(d, m->type == BP_DROP ? "drop" : "trigger", why, len);
	const char *app_id = bp_msg_str(m, 0), *id = bp_msg_str(m, 1);
	struct app *a = app_find(d, app_id);
	struct held *h = a ? held_find(a, id) : NULL;
	if (!h) {
		snprintf(why, len, "%s/%s is not held", app_id, id);
		return -ENOENT;
	}
	if (m->type == BP_DROP) {
		lifecycle_remove(d, &(struct event){ .type = EVENT_DROP, .held = h, .pid = c->pid, .uid = c->uid });
		app_maybe_free(d, a);
	} else {
		trigger_admin(d, h);
	}
	return reply_ok(d, c, m->seq);
}

static int do_claim(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	return records_claim(d, c, m->seq, bp_msg_str(m, 0), why, len);
}

/* From now on c only listens to events (monitor.c), if the limits allow. */
static int do_monitor(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	if (d->nmonitors >= d->cfg.max_monitors) {
		snprintf(why, len, "brokerd already has %u monitors, its limit", d->nmonitors);
		return -EUSERS;
	}
	/* So that one user cannot take every monitor slot. */
	unsigned mine = 0;
	struct client *o;
	TAILQ_FOREACH(o, &d->clients, link)
		mine += o->monitor && o->uid == c->uid;
	if (!c->admin && mine >= d->cfg.max_monitors_per_uid) {
		snprintf(why, len, "uid %u already has %u monitors, its limit", c->uid, mine);
		return -EUSERS;
	}
	c->monitor = true;
	d->nmonitors++;
	return reply_ok(d, c, m->seq);
}

static int do_reload(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	if (!c->admin)
		return access_need_admin(d, "reload", why, len);
	int r = registry_reload(d);
	if (r == -EPERM)
		snprintf(why, len, "reload failed: %s is not trusted; the old manifests stay in force "
			 "(see brokerd's log)", d->cfg.apps_dir);
	else if (r < 0)
		snprintf(why, len, "reload failed: %s: %s; the old manifests stay in force",
			 d->cfg.apps_dir, strerror(-r));
	return r < 0 ? r : reply_ok(d, c, m->seq);
}

/* A client can be refused at will: at notice level, but rate-limited per uid. */
static void log_refused_transfer(const struct client *c, const char *id, int r, const char *why)
{
	unsigned suppressed;
	if (!log_ratelimit_uid(c->uid, &suppressed))
		return;
	bool named = bp_check_id(id, BROKER_ID_MAX) == 0;   /* safe to print */
	char more[64] = "";
	if (suppressed)
		snprintf(more, sizeof(more), " (and %u more from this uid not logged)", suppressed);
	/* the gist of the sentence ("permission denied") before brokerd's own words */
	const char *sentence = broker_strerror(r), *colon = strstr(sentence, ": ");
	int gist = *why && colon ? (int)(colon - sentence) : (int)strlen(sentence);
	log_event(LOG_NOTICE, MSGID_TRANSFER_REFUSED, r, c->app ? c->app->id : NULL, named ? id : NULL, 0,
		  "transfer by uid %u%s refused: %.*s%s%s%s", c->uid, c->app ? "" : " (no app registered)",
		  gist, sentence, *why ? ": " : "", why, more);
}

/* Each socket as TRANSFER would take it, each with its own result; the
 * results go in as many RESULTS as they need (bulk.h). */
static int do_transfer_many(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	struct app *a;
	int r = access_own_app(c, &a, why, len);
	if (r == 0)
		r = bulk_check_transfer(m, why, len);
	if (r < 0)
		return r;
	const struct identity who = { .uid = c->uid, .pid = c->pid, .unit = c->unit, .admin = c->admin };
	struct bulk_msg out;
	size_t off = 0;
	bulk_begin();
	for (unsigned i = 0; i < m->nfds; i++) {
		struct transfer t;
		bulk_next_transfer(m, &off, &t);
		char w[512] = "";
		int fd = m->fds[i];
		m->fds[i] = -1;
		int e = transfer_socket(d, a, &who, fd, &t, w, sizeof(w));
		if (e < 0)
			log_refused_transfer(c, t.id, e, w);
		/* an id too long to be held is not echoed */
		const char *id = strlen(t.id) <= BROKER_ID_MAX ? t.id : "";
		if (bulk_add(e, id, NULL, NULL, w) == 0)
			continue;
		bulk_msg(true, &out);
		if (client_reply(d, c, BP_RESULTS, m->seq, &out.many, sizeof(out.many), &out.items, 1) < 0)
			return 0;   /* broken: it goes */
		bulk_begin();
		bulk_add(e, id, NULL, NULL, w);
	}
	bulk_msg(false, &out);
	client_reply(d, c, BP_RESULTS, m->seq, &out.many, sizeof(out.many), &out.items, 1);
	return 0;
}

/* Indexed by request type; a type without a handler is not a request. */
static verb_fn *const verbs[] = {
	[BP_HELLO] = do_hello,
	[BP_REGISTER] = do_register,
	[BP_TRANSFER] = do_transfer,
	[BP_LIST] = records_list,
	[BP_SHOW] = records_show,
	[BP_CLAIM] = do_claim,
	[BP_STATUS] = do_status,
	[BP_APPS] = records_apps,
	[BP_MONITOR] = do_monitor,
	[BP_TRIGGER] = do_admin_socket,
	[BP_DROP] = do_admin_socket,
	[BP_RELOAD] = do_reload,
	[BP_ATTACH] = do_attach,
	[BP_TRANSFER_MANY] = do_transfer_many,
	[BP_CLAIM_MANY] = records_claim_many,
	[BP_KEEPER] = do_keeper,
};

void verb_dispatch(struct daemon *d, struct client *c, struct bp_msg *m)
{
	char why[512];   /* not = "": that zeroes 512 bytes for every request */
	int r;
	why[0] = 0;
	verb_fn *fn = m->type < ARRAY_SIZE(verbs) ? verbs[m->type] : NULL;

	if (!c->hello && m->type != BP_HELLO) {
		snprintf(why, sizeof(why), "say hello first");
		r = -EPROTO;
	} else if (fn) {
		r = fn(d, c, m, why, sizeof(why));
	} else {
		/* a reply type sent as a request */
		snprintf(why, sizeof(why), "%s is not a request", bp_type_name(m->type));
		r = -EOPNOTSUPP;
	}
	if (m->type == BP_TRANSFER && r < 0)
		log_refused_transfer(c, bp_msg_str(m, 0), r, why);
	bp_msg_close_fds(m);   /* whatever no handler took */
	if (c->broken || (r < 0 && client_error(d, c, m->seq, r, "%s", why[0] ? why : broker_strerror(r)) < 0))
		client_free(d, c, "cannot reply");
}
