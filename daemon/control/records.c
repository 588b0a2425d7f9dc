/* SPDX-License-Identifier: MIT */
/* The verbs that answer with records (records.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "access.h"
#include "bulk.h"
#include "held.h"
#include "lifecycle.h"
#include "records.h"
#include "util.h"
#include "wire.h"

struct info_buf {
	struct bp_info info;
	struct bp_field f[5];
	char local[128], peer[128];
};

void records_info(const struct held *h, struct bp_info *ret)
{
	*ret = (struct bp_info){
		.kind = h->kind, .state = h->state, .last_reason = h->reason,
		.keepalive_sec = h->keepalive_sec, .owner_uid = h->owner, .family = h->family,
		.sotype = h->sotype, .held_since_usec = h->held_since,
		.last_trigger_usec = h->last_trigger, .serial = h->serial,
	};
}

/* addresses: look up the local and peer address texts (two syscalls);
 * a claim skips them, since its caller gets the socket itself. */
static void info_fill(struct info_buf *b, struct held *h, bool addresses)
{
	b->local[0] = b->peer[0] = 0;
	if (addresses) {
		sockaddr_text(held_fd(h), false, b->local, sizeof(b->local));
		sockaddr_text(held_fd(h), true, b->peer, sizeof(b->peer));
	}
	records_info(h, &b->info);
	b->f[0] = (struct bp_field){ h->app->id, (uint32_t)strlen(h->app->id) };
	b->f[1] = (struct bp_field){ held_id(h), h->id_len };
	b->f[2] = (struct bp_field){ held_ctx(h), h->ctx_len };
	b->f[3] = (struct bp_field){ b->local, (uint32_t)strlen(b->local) };
	b->f[4] = (struct bp_field){ b->peer, (uint32_t)strlen(b->peer) };
}

/* Send one INFO for h now (with the socket itself when claiming). */
static int send_info(struct daemon *d, struct client *c, uint32_t seq, struct held *h, int fd)
{
	struct info_buf b;
	info_fill(&b, h, fd < 0);
	return bp_send_msg(c->io.fd, d->wbuf, sizeof(d->wbuf), BP_INFO, seq, &b.info, sizeof(b.info),
			   b.f, 5, &fd, fd >= 0 ? 1 : 0, MSG_DONTWAIT);
}

static bool list_wants(const struct client *c, const struct held *h)
{
	if (c->resume.app)
		return h->app == c->resume.app;
	return access_may_see(c, h->app);
}

static int resume_list(struct daemon *d, struct client *c)
{
	struct held *h;
	/* Serials only grow along d->all, so the cursor finds its place even
	 * if sockets came and went meanwhile. */
	TAILQ_FOREACH(h, &d->all, all) {
		if (h->serial <= c->resume.cursor || !list_wants(c, h))
			continue;
		int r = send_info(d, c, c->resume.seq, h, -1);
		if (r < 0)
			return r;
		c->resume.cursor = h->serial;
		c->resume.count++;
	}
	struct bp_end end = { .count = c->resume.count };
	uint32_t seq = c->resume.seq;
	c->resume.type = 0;
	return client_reply(d, c, BP_END, seq, &end, sizeof(end), NULL, 0);
}

static int send_app(struct daemon *d, struct client *c, uint32_t seq, struct app *a)
{
	char caps[128] = "";
	const struct manifest *m = a->m;
	if (m)
		manifest_caps_format(m->caps, caps, sizeof(caps));
	/* The instance's processes, as they are now. */
	struct bp_app_proc procs[BP_APP_PROCS_MAX];
	unsigned n = 0;
	if (instance_alive(&a->inst))
		instance_scan(d);
	for (; n < a->inst.nprocs && n < INSTANCE_PROCS_MAX && n < BP_APP_PROCS_MAX; n++) {
		procs[n] = (struct bp_app_proc){ .pid = (uint32_t)a->inst.procs[n] };
		instance_comm(a->inst.procs[n], procs[n].comm);
	}
	struct bp_app_info w = {
		.uid = m ? m->uid : 0, .held = a->nheld,
		.max_sockets = m && m->max_sockets ? m->max_sockets : d->cfg.max_held_per_app,
		.pid = (uint32_t)(a->pid ? a->pid : a->attached ? a->attached : n ? a->inst.procs[0] : 0),
		.state = a->state, .failures = a->failures, .retry_usec = a->retry_at,
	};
	const char *target = !m ? "" : m->activation == ACTIVATION_WAKE_SOCKET ? m->wake_socket : m->command;
	const char *s[7] = {
		a->id, m ? m->user : "", m && m->unit ? m->unit : "",
		m ? manifest_activation_name(m->activation) : "", m ? manifest_handoff_name(m->handoff) : "",
		target, caps,
	};
	struct bp_field f[8];
	for (int i = 0; i < 7; i++)
		f[i] = (struct bp_field){ s[i], (uint32_t)strlen(s[i]) };
	f[7] = (struct bp_field){ procs, (uint32_t)(n * sizeof(procs[0])) };
	return bp_send_msg(c->io.fd, d->wbuf, sizeof(d->wbuf), BP_APP_INFO, seq, &w, sizeof(w), f, 8,
			   NULL, 0, MSG_DONTWAIT);
}

static int resume_apps(struct daemon *d, struct client *c)
{
	uint64_t i = 0;
	struct app *a;
	TAILQ_FOREACH(a, &d->apps, link) {
		if (i++ < c->resume.cursor)
			continue;
		if (access_may_see(c, a)) {
			int r = send_app(d, c, c->resume.seq, a);
			if (r < 0)
				return r;
			c->resume.count++;
		}
		c->resume.cursor = i;
	}
	struct bp_end end = { .count = c->resume.count };
	uint32_t seq = c->resume.seq;
	c->resume.type = 0;
	return client_reply(d, c, BP_END, seq, &end, sizeof(end), NULL, 0);
}

int records_claim(struct daemon *d, struct client *c, uint32_t seq, const char *id, char *why, size_t len)
{
	struct app *a;
	int r = access_own_app(c, &a, why, len);
	if (r < 0)
		return r;
	struct held *h = held_find(a, id);
	if (!h) {
		snprintf(why, len, "app %s holds no socket %s", a->id, id);
		return -ENOENT;
	}
	if (h->state == BROKER_STATE_HANDING_BACK || h->state == BROKER_STATE_LENT)
		return -EBUSY;
	/* From here on held_id(h), not id: id points into the request or
	 * into c->resume.id, which a claim that has to wait writes. */
	r = send_info(d, c, seq, h, held_fd(h));
	if (r == -EAGAIN) {
		/* Not now: the socket stays held until the client can take it. */
		c->resume = (struct resume){ .type = BP_CLAIM, .seq = seq };
		snprintf(c->resume.id, sizeof(c->resume.id), "%s", held_id(h));
		client_set_events(d, c);
		return 0;
	}
	if (r < 0) {
		c->broken = true;
		return 0;
	}
	lifecycle_remove(d, &(struct event){ .type = EVENT_CLAIM, .held = h, .pid = c->pid });
	return 0;
}

/* The next socket of app a after prev, or (prev NULL) after serial cursor:
 * d->all is in serial order. */
static struct held *next_of_app(struct daemon *d, struct app *a, struct held *prev, uint64_t cursor)
{
	struct held *h = prev ? TAILQ_NEXT(prev, all) : TAILQ_FIRST(&d->all);
	for (; h; h = TAILQ_NEXT(h, all))
		if (h->serial > cursor && h->app == a)
			return h;
	return NULL;
}

/* One RESULTS of the claim in c->resume, sent with its sockets, which
 * brokerd then lets go.  1 if more is to come, 0 at the end, -EAGAIN with
 * nothing taken and the cursor where it was, or another negative errno. */
static int claim_batch(struct daemon *d, struct client *c, struct app *a)
{
	struct resume *res = &c->resume;
	bool all = res->ids.ptr == NULL, more = false;
	uint64_t cursor = res->cursor;
	struct held *prev = NULL;   /* nothing is let go before the message is sent */
	struct bulk_msg out;
	bulk_begin();
	for (;;) {
		size_t off = (size_t)cursor;
		const char *id = all ? NULL : bulk_next_id(&res->ids, &off);
		struct held *h = all ? next_of_app(d, a, prev, cursor) : id ? held_find(a, id) : NULL;
		if (all ? !h : !id)
			break;
		if (all)
			id = held_id(h);
		/* named twice in one message: the first takes it, as it would across two */
		bool twice = !all && h && bulk_has(h);
		bool busy = h && !twice && (h->state == BROKER_STATE_HANDING_BACK || h->state == BROKER_STATE_LENT);
		char w[BROKER_ID_MAX + 64] = "";
		struct bp_info info = { 0 };
		if (twice)
			h = NULL;
		if (!h)
			snprintf(w, sizeof(w), "app %s holds no socket %s%s", a->id, id, twice ? " (named twice)" : "");
		else
			records_info(h, &info);
		if (bulk_add(!h ? -ENOENT : busy ? -EBUSY : 0, id, busy ? NULL : h, &info, w) < 0) {
			bulk_msg(true, &out);
			if (out.many.count == 0)
				return -EMSGSIZE;   /* cannot be: brokerd.conf caps contexts below a message */
			more = true;
			break;
		}
		cursor = all ? h->serial : off;
		prev = h;
	}
	bulk_msg(more, &out);
	int r = bp_send_msg(c->io.fd, d->wbuf, sizeof(d->wbuf), BP_RESULTS, res->seq, &out.many,
			    sizeof(out.many), &out.items, 1, out.fds, out.nfds, MSG_DONTWAIT);
	if (r < 0)
		return r;
	res->cursor = cursor;
	for (unsigned i = 0; i < out.nfds; i++)
		lifecycle_remove(d, &(struct event){ .type = EVENT_CLAIM, .held = out.held[i], .pid = c->pid });
	return more;
}

static int resume_claim_many(struct daemon *d, struct client *c)
{
	char why[256] = "";
	struct app *a;
	int r = access_own_app(c, &a, why, sizeof(why));
	while (r >= 0 && (r = claim_batch(d, c, a)) > 0)
		;
	if (r == -EAGAIN)
		return r;
	uint32_t seq = c->resume.seq;
	free((void *)c->resume.ids.ptr);
	c->resume = (struct resume){ 0 };
	if (r < 0 && why[0])   /* no longer registered as the app, or no longer allowed */
		return client_error(d, c, seq, r, "%s", why);
	return r;
}

int records_claim_many(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	struct app *a;
	int r = access_own_app(c, &a, why, len);
	if (r == 0)
		r = bulk_check_claim(m, why, len);
	if (r < 0)
		return r;
	c->resume = (struct resume){ .type = BP_CLAIM_MANY, .seq = m->seq };
	if (!(m->u.claim_many.flags & BP_CLAIM_ALL)) {
		/* the next request reuses the buffer the ids are in */
		const struct bp_field *ids = &m->field[0];
		void *copy = malloc(ids->len ? ids->len : 1);
		if (!copy) {
			c->resume.type = 0;
			return -ENOMEM;
		}
		if (ids->len)
			memcpy(copy, ids->ptr, ids->len);
		c->resume.ids = (struct bp_field){ copy, ids->len };
	}
	r = resume_claim_many(d, c);
	if (r == -EAGAIN) {
		/* flush() goes on when the client reads */
		client_set_events(d, c);
		return 0;
	}
	c->broken |= r < 0;
	return 0;
}

int records_resume(struct daemon *d, struct client *c)
{
	char why[256] = "";
	switch (c->resume.type) {
	case BP_LIST:
		return resume_list(d, c);
	case BP_APPS:
		return resume_apps(d, c);
	case BP_CLAIM: {
		uint32_t seq = c->resume.seq;
		c->resume.type = 0;
		int r = records_claim(d, c, seq, c->resume.id, why, sizeof(why));
		if (r < 0)
			return client_error(d, c, seq, r, "%s", why[0] ? why : broker_strerror(r));
		return c->broken ? -EPIPE : 0;
	}
	case BP_CLAIM_MANY:
		return resume_claim_many(d, c);
	}
	return 0;
}

/* Start a reply stream (BP_LIST or BP_APPS) that goes on as the client reads. */
static int stream(struct daemon *d, struct client *c, unsigned type, uint32_t seq, struct app *a)
{
	c->resume = (struct resume){ .type = type, .seq = seq, .app = a };
	int r = records_resume(d, c);
	if (r == -EAGAIN) {
		/* flush() goes on when the client reads */
		client_set_events(d, c);
		return 0;
	}
	c->broken |= r < 0;
	return 0;
}

int records_apps(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	(void)why;
	(void)len;
	return stream(d, c, BP_APPS, m->seq, NULL);
}

int records_list(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	const char *name = bp_msg_str(m, 0);
	struct app *a = NULL;
	if (*name || !(m->u.list.flags & BP_LIST_ALL)) {
		int r = access_named_app(d, c, name, &a, why, len);
		if (r < 0)
			return r;
	} else if (!c->admin) {
		return access_need_admin(d, "listing every app's sockets", why, len);
	}
	return stream(d, c, BP_LIST, m->seq, a);
}

int records_show(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len)
{
	struct app *a;
	int r = access_named_app(d, c, bp_msg_str(m, 0), &a, why, len);
	if (r < 0)
		return r;
	struct held *h = held_find(a, bp_msg_str(m, 1));
	if (!h) {
		snprintf(why, len, "app %s holds no socket %s", a->id, bp_msg_str(m, 1));
		return -ENOENT;
	}
	struct info_buf b;
	info_fill(&b, h, true);
	client_reply(d, c, BP_INFO, m->seq, &b.info, sizeof(b.info), b.f, 5);
	return 0;
}

