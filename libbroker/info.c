/* SPDX-License-Identifier: MIT */
/* Read verbs that return records: list, show, claim, apps, monitor. */
#include <errno.h>
#include <string.h>

#include "client.h"
#include "util.h"

/* Copy n string/bytes fields after a struct of head bytes, in one
 * allocation; out[i] receives each copy's address. */
static void *copy_field_list(const struct bp_field *field, size_t head, unsigned n, const char **out)
{
	size_t total = head;
	for (unsigned i = 0; i < n; i++)
		total += field[i].len + 1;
	char *p = calloc(1, total);
	if (!p)
		return NULL;
	char *q = p + head;
	for (unsigned i = 0; i < n; i++) {
		if (field[i].len)
			memcpy(q, field[i].ptr, field[i].len);
		q[field[i].len] = 0;
		out[i] = q;
		q += field[i].len + 1;
	}
	return p;
}

static void *copy_fields(const struct bp_msg *m, size_t head, unsigned n, const char **out)
{
	return copy_field_list(m->field, head, n, out);
}

broker_info *bc_info_new(const struct bp_info *w, const struct bp_field field[5])
{
	const char *f[5];
	broker_info *info = copy_field_list(field, sizeof(*info), 5, f);
	if (!info)
		return NULL;
	info->app_id = f[0];
	info->id = f[1];
	info->context = f[2];
	info->context_len = field[2].len;
	info->local = f[3];
	info->peer = f[4];
	info->kind = w->kind;
	info->state = w->state;
	info->last_reason = w->last_reason;
	info->keepalive_sec = w->keepalive_sec;
	info->owner_uid = w->owner_uid;
	info->family = w->family;
	info->sotype = w->sotype;
	info->held_since_usec = w->held_since_usec;
	info->last_trigger_usec = w->last_trigger_usec;
	info->serial = w->serial;
	return info;
}

static broker_info *info_from_msg(const struct bp_msg *m)
{
	return bc_info_new(&m->u.info, m->field);
}

broker_info *broker_info_free(broker_info *info)
{
	free(info);
	return NULL;
}

broker_info **broker_info_list_free(broker_info **list)
{
	if (list)
		for (broker_info **p = list; *p; p++)
			free(*p);
	free(list);
	return NULL;
}

broker_app **broker_app_list_free(broker_app **list)
{
	if (list)
		for (broker_app **p = list; *p; p++)
			free(*p);
	free(list);
	return NULL;
}

/* Collect a reply stream of `type` records ended by BP_END into a
 * NULL-terminated array built by make(). */
static int collect(broker *b, int r, unsigned type, void *(*make)(const struct bp_msg *),
		   void (*drop)(void *), void ***ret)
{
	void **list = NULL;
	size_t n = 0;

	while (r == 0 && b->reply.type == type) {
		void *item = make(&b->reply);
		void **grown = item ? realloc(list, (n + 2) * sizeof(*list)) : NULL;
		if (!grown) {
			drop(item);
			r = -ENOMEM;
			break;
		}
		list = grown;
		list[n++] = item;
		list[n] = NULL;
		r = bc_reply(b);
	}
	if (r == 0 && b->reply.type != BP_END)
		r = -EPROTO;
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			drop(list[i]);
		free(list);
		return r;
	}
	if (!list) {
		list = calloc(1, sizeof(*list));
		if (!list)
			return -ENOMEM;
	}
	*ret = list;
	return (int)n;
}

static void *make_info(const struct bp_msg *m) { return info_from_msg(m); }

int broker_list(broker *b, const char *app_id, broker_info ***ret_list)
{
	if (!b || !ret_list)
		return -EINVAL;
	bc_begin(b);
	struct bp_list l = { 0 };
	/* broker.h: "" is the registered app; only an admin that has not
	 * registered gets every app's sockets. */
	if ((!app_id || !*app_id) && b->admin && !b->registered)
		l.flags |= BP_LIST_ALL;
	struct bp_field f = { app_id ? app_id : "", app_id ? strlen(app_id) : 0 };
	int r = bc_request(b, BP_LIST, &l, sizeof(l), &f, 1, NULL, 0);
	return collect(b, r, BP_INFO, make_info, free, (void ***)ret_list);
}

int broker_show(broker *b, const char *app_id, const char *id, broker_info **ret_info)
{
	if (!b || !id || !ret_info)
		return -EINVAL;
	bc_begin(b);
	struct bp_field f[2] = {
		{ app_id ? app_id : "", app_id ? strlen(app_id) : 0 },
		{ id, strlen(id) },
	};
	int r = bc_request(b, BP_SHOW, NULL, 0, f, 2, NULL, 0);
	if (r < 0)
		return r;
	if (b->reply.type != BP_INFO)
		return -EPROTO;
	broker_info *info = info_from_msg(&b->reply);
	if (!info)
		return -ENOMEM;
	*ret_info = info;
	return 0;
}

int broker_claim(broker *b, const char *id, broker_info **ret_info)
{
	if (!b || !id)
		return -EINVAL;
	bc_begin(b);
	struct bp_field f = { id, strlen(id) };
	int r = bc_request(b, BP_CLAIM, NULL, 0, &f, 1, NULL, 0);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = bp_msg_take_fd(&b->reply);
	if (b->reply.type != BP_INFO || fd < 0)
		return -EPROTO;
	if (ret_info) {
		broker_info *info = info_from_msg(&b->reply);
		if (!info)
			return -ENOMEM;  /* the socket is lost with fd; brokerd already let go */
		*ret_info = info;
	}
	return TAKE_FD(fd);
}

static void *make_app(const struct bp_msg *m)
{
	const char *f[7];
	const struct bp_field *pf = &m->field[7];
	if (pf->len % sizeof(struct bp_app_proc) || pf->len > BP_APP_PROCS_MAX * sizeof(struct bp_app_proc))
		return NULL;
	unsigned n = pf->len / sizeof(struct bp_app_proc);
	/* the processes right after the struct, then the strings */
	broker_app *a = copy_fields(m, sizeof(*a) + n * sizeof(broker_process), 7, f);
	if (!a)
		return NULL;
	broker_process *procs = (broker_process *)(a + 1);
	for (unsigned i = 0; i < n; i++) {
		struct bp_app_proc w;
		memcpy(&w, (const char *)pf->ptr + i * sizeof(w), sizeof(w));
		procs[i].pid = (pid_t)w.pid;
		memcpy(procs[i].comm, w.comm, sizeof(procs[i].comm) - 1);
	}
	a->nprocs = n;
	a->procs = n ? procs : NULL;
	const struct bp_app_info *w = &m->u.app_info;
	a->id = f[0];
	a->user = f[1];
	a->unit = f[2];
	a->activation = f[3];
	a->handoff = f[4];
	a->target = f[5];
	a->capabilities = f[6];
	a->uid = w->uid;
	a->held = w->held;
	a->max_sockets = w->max_sockets;
	a->failures = w->failures;
	a->pid = (pid_t)w->pid;
	a->state = w->state;
	a->retry_usec = w->retry_usec;
	return a;
}

int broker_list_apps(broker *b, broker_app ***ret_list)
{
	if (!b || !ret_list)
		return -EINVAL;
	bc_begin(b);
	int r = bc_request(b, BP_APPS, NULL, 0, NULL, 0, NULL, 0);
	return collect(b, r, BP_APP_INFO, make_app, free, (void ***)ret_list);
}

int broker_monitor(broker *b)
{
	if (!b)
		return -EINVAL;
	bc_begin(b);
	int r = bc_request(b, BP_MONITOR, NULL, 0, NULL, 0, NULL, 0);
	if (r < 0)
		return r;
	if (b->reply.type != BP_OK)
		return -EPROTO;
	b->monitoring = true;
	return 0;
}

int broker_next_event(broker *b, int timeout_ms, broker_event **ret)
{
	if (!b || !ret || !b->monitoring)
		return -EINVAL;
	bc_begin(b);
	int r = bc_recv(b, timeout_ms);   /* events: the caller's wait, not the handle's */
	if (r == -ETIMEDOUT)
		return 0;
	if (r < 0)
		return r;
	if (b->reply.type != BP_EVENT) {
		bp_msg_close_fds(&b->reply);
		return -EPROTO;
	}
	const char *f[3];
	broker_event *ev = copy_fields(&b->reply, sizeof(*ev), 3, f);
	if (!ev)
		return -ENOMEM;
	const struct bp_event *w = &b->reply.u.event;
	ev->app_id = f[0];
	ev->id = f[1];
	ev->detail = f[2];
	ev->type = w->event;
	ev->reason = w->reason;
	ev->kind = w->kind;
	ev->error = w->error;
	ev->pid = (pid_t)w->pid;
	ev->time_usec = w->time_usec;
	*ret = ev;
	return 1;
}

broker_event *broker_event_free(broker_event *ev)
{
	free(ev);
	return NULL;
}
