/* SPDX-License-Identifier: MIT */
/* brokerctl status and apps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brokerctl.h"
#include "util.h"

/* Held sockets that no state above covers: lent to a running program. */
static uint32_t status_lent(const broker_status *s)
{
	uint32_t busy = s->watching + s->triggered + s->handing_back;
	return s->held > busy ? s->held - busy : 0;
}

static json_object *status_json(const broker_status *s, const broker *b)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_text(s->version));
	json_object_object_add(o, "pid", json_object_new_int64(s->pid));
	json_object_object_add(o, "uptime_usec", json_object_new_uint64(s->uptime_usec));
	json_object_object_add(o, "socket", json_text(s->socket_path));
	json_object_object_add(o, "uid", json_object_new_int64(broker_peer_uid(b)));
	json_object_object_add(o, "admin", json_object_new_boolean(broker_is_admin(b)));
	const struct { const char *key; uint64_t v; } n[] = {
		{ "apps", s->apps }, { "running", s->running }, { "held", s->held },
		{ "watching", s->watching }, { "triggered", s->triggered },
		{ "handing_back", s->handing_back }, { "lent", status_lent(s) }, { "clients", s->clients },
		{ "max_held", s->max_held }, { "max_held_per_app", s->max_held_per_app },
		{ "triggers_total", s->triggers_total }, { "activations_total", s->activations_total },
		{ "handbacks_total", s->handbacks_total }, { "attached", s->attached },
		{ "thaws_total", s->thaws_total }, { "thaws_held", s->thaws_held },
	};
	for (size_t i = 0; i < ARRAY_SIZE(n); i++)
		json_object_object_add(o, n[i].key, json_object_new_uint64(n[i].v));
	bool store = s->stored != BROKER_NO_STORE;
	json_object_object_add(o, "stored", store ? json_object_new_uint64(s->stored) : NULL);
	json_object_object_add(o, "store_lost", store ? json_object_new_uint64(s->store_lost) : NULL);
	return o;
}

int verb_status(struct ctl *c, int argc, char **argv)
{
	int r = verb_no_arguments(c, argc, argv);
	if (r != EXIT_OK || (r = ctl_connect(c)) != EXIT_OK)
		return r;
	broker_status s;
	r = broker_get_status(c->b, &s);
	if (r < 0)
		return ctl_fail(c, r, NULL);
	pager_open(c);
	if (c->json) {
		r = json_print(status_json(&s, c->b), false);
		return r < 0 ? ctl_fail(c, r, NULL) : EXIT_OK;
	}

	char up[32];
	format_duration(s.uptime_usec, up, sizeof(up));
	printf("brokerd %s (pid %d), up %s\n", s.version, (int)s.pid, up);
	printf("control socket: %s\n", s.socket_path);
	printf("you:            uid %u%s\n", (unsigned)broker_peer_uid(c->b),
	       broker_is_admin(c->b) ? ", admin" : "");
	printf("apps:           %u known, %u running, %u attached\n", s.apps, s.running, s.attached);
	printf("held sockets:   %u (limit %u, %u per app)\n", s.held, s.max_held, s.max_held_per_app);
	printf("                %u watching, %u triggered, %u handing back, %u lent\n", s.watching,
	       s.triggered, s.handing_back, status_lent(&s));
	if (s.stored == BROKER_NO_STORE)
		printf("fd store:       none (not under systemd: held sockets do not survive a restart)\n");
	else
		printf("fd store:       %u of %u held socket(s)%s%s\n", s.stored, s.held,
		       s.stored == s.held ? "" : " (the rest will not survive a restart)",
		       s.store_lost ? ", the manager dropped some and brokerd stored them again" : "");
	printf("clients:        %u\n", s.clients);
	printf("since start:    %llu trigger(s), %llu activation(s), %llu hand-back(s)\n",
	       (unsigned long long)s.triggers_total, (unsigned long long)s.activations_total,
	       (unsigned long long)s.handbacks_total);
	printf("suspended apps: %llu thawed, %llu delivery(ies) held (not allowed to thaw)\n",
	       (unsigned long long)s.thaws_total, (unsigned long long)s.thaws_held);
	return EXIT_OK;
}

/* A row of the apps table: the app, and its unit's state as the service
 * manager sees it ("" when the manifest names no unit). */
struct app_row {
	const broker_app *a;
	char unit_state[32];
};

/* The apps table: add a column with a line in app_columns (and its key
 * in app_json()). */
DEFINE_CELL(cell_id, struct app_row, "%s", r->a->id)
DEFINE_CELL(cell_user, struct app_row, "%s", r->a->user)
DEFINE_CELL(cell_state, struct app_row, "%s", broker_app_state_name(r->a->state))
DEFINE_CELL(cell_pid, struct app_row, r->a->pid ? "%d" : "-", (int)r->a->pid)
DEFINE_CELL(cell_held, struct app_row, "%u/%u", r->a->held, r->a->max_sockets)
DEFINE_CELL(cell_failures, struct app_row, "%u", r->a->failures)
DEFINE_CELL(cell_activation, struct app_row, "%s", r->a->activation)
DEFINE_CELL(cell_handoff, struct app_row, "%s", r->a->handoff)
DEFINE_CELL(cell_target, struct app_row, "%s", r->a->target)
DEFINE_CELL(cell_unit, struct app_row, "%s", r->a->unit)
DEFINE_CELL(cell_unit_state, struct app_row, "%s", r->unit_state)

static void cell_retry(const void *rec, uint64_t now, char *buf, size_t size)
{
	format_age(((const struct app_row *)rec)->a->retry_usec, now, buf, size);
}

/* "PID COMM, PID COMM": every process of the instance. */
static void cell_procs(const void *rec, uint64_t now, char *buf, size_t size)
{
	(void)now;
	const broker_app *a = ((const struct app_row *)rec)->a;
	size_t n = 0;
	snprintf(buf, size, "-");
	for (unsigned i = 0; i < a->nprocs && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%d %s", i ? ", " : "", (int)a->procs[i].pid,
				      a->procs[i].comm);
}

static const struct column app_columns[] = {
	{ "APP", cell_id, 0.2, true }, { "USER", cell_user, 0.1, true, 9 },
	{ "STATE", cell_state, 0, false }, { "PID", cell_pid, 0, false, 1 },
	{ "PROCESSES", cell_procs, 0.2, true, 3 }, { "HELD", cell_held, 0, false, 2 },
	{ "FAILURES", cell_failures, 0, false, 8 }, { "RETRY", cell_retry, 0.1, true, 5 },
	{ "ACTIVATION", cell_activation, 0.1, true, 7 }, { "HANDOFF", cell_handoff, 0.1, true, 6 },
	{ "TARGET", cell_target, 0.1, true, 3 }, { "UNIT", cell_unit, 0.1, true, 4 },
	{ "UNIT-STATE", cell_unit_state, 0.1, true, 4 }
};

static json_object *app_json(const void *rec)
{
	const struct app_row *row = rec;
	const broker_app *a = row->a;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_text(a->id));
	json_object_object_add(o, "user", json_text(a->user));
	json_object_object_add(o, "uid", json_object_new_int64(a->uid));
	json_object_object_add(o, "unit", *a->unit ? json_text(a->unit) : NULL);
	/* null where there is no unit, or no manager to ask */
	bool known = *row->unit_state && strcmp(row->unit_state, "?") != 0;
	json_object_object_add(o, "unit_state", known ? json_text(row->unit_state) : NULL);
	json_object_object_add(o, "state", json_object_new_string(broker_app_state_name(a->state)));
	json_object_object_add(o, "pid", a->pid ? json_object_new_int64(a->pid) : NULL);
	json_object *procs = json_object_new_array();
	for (unsigned i = 0; i < a->nprocs; i++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "pid", json_object_new_int64(a->procs[i].pid));
		json_object_object_add(p, "comm", json_text(a->procs[i].comm));
		json_object_array_add(procs, p);
	}
	json_object_object_add(o, "processes", procs);
	json_object_object_add(o, "held", json_object_new_int64(a->held));
	json_object_object_add(o, "max_sockets", json_object_new_int64(a->max_sockets));
	json_object_object_add(o, "failures", json_object_new_int64(a->failures));
	json_object_object_add(o, "retry", json_time(a->retry_usec));
	json_object_object_add(o, "retry_usec", json_usec(a->retry_usec));
	json_object_object_add(o, "activation", json_text(a->activation));
	json_object_object_add(o, "handoff", json_text(a->handoff));
	json_object_object_add(o, "target", json_text(a->target));
	json_object *caps = json_object_new_array();
	_cleanup_free_ char *copy = strdup(a->capabilities);
	char *save = NULL;
	for (char *w = copy ? strtok_r(copy, " ", &save) : NULL; w; w = strtok_r(NULL, " ", &save))
		json_object_array_add(caps, json_text(w));
	json_object_object_add(o, "capabilities", caps);
	return o;
}

/* Ask the service manager about the units the manifests name, if any. */
static void fill_unit_states(struct ctl *c, struct app_row *rows, int n)
{
	int with_unit = 0;
	for (int i = 0; i < n; i++)
		with_unit += *rows[i].a->unit != 0;
	if (!with_unit)
		return;
	struct units u;
	const char *control = c->socket ? c->socket : broker_default_socket();
	if (units_open(&u, control) < 0) {
		if (!c->quiet)
			fprintf(stderr, "brokerctl: unit states unknown: no %s service manager is reachable (%s)\n",
				u.user ? "user" : "system", strerror(-u.error));
		for (int i = 0; i < n; i++)
			if (*rows[i].a->unit)
				snprintf(rows[i].unit_state, sizeof(rows[i].unit_state), "?");
		return;
	}
	for (int i = 0; i < n; i++) {
		if (!*rows[i].a->unit)
			continue;
		int r = units_state(&u, rows[i].a->unit, rows[i].unit_state, sizeof(rows[i].unit_state));
		if (r < 0) {
			if (!c->quiet)
				fprintf(stderr, "brokerctl: %s: cannot ask the service manager: %s\n",
					rows[i].a->unit, strerror(-r));
			snprintf(rows[i].unit_state, sizeof(rows[i].unit_state), "?");
		}
	}
	units_close(&u);
}

int verb_apps(struct ctl *c, int argc, char **argv)
{
	int r = verb_no_arguments(c, argc, argv);
	if (r != EXIT_OK || (r = ctl_connect(c)) != EXIT_OK)
		return r;
	broker_app **list;
	int n = broker_list_apps(c->b, &list);
	if (n < 0)
		return ctl_fail(c, n, NULL);
	struct app_row *rows = calloc((size_t)n + 1, sizeof(*rows));
	void **ptrs = calloc((size_t)n + 1, sizeof(*ptrs));
	if (!rows || !ptrs) {
		free(rows);
		free(ptrs);
		broker_app_list_free(list);
		return ctl_fail(c, -ENOMEM, NULL);
	}
	for (int i = 0; i < n; i++) {
		rows[i].a = list[i];
		ptrs[i] = &rows[i];
	}
	fill_unit_states(c, rows, n);
	r = records_print(c, ptrs, app_columns, ARRAY_SIZE(app_columns), app_json,
			  "No apps (brokerd has no manifests that you may see).");
	free(ptrs);
	free(rows);
	broker_app_list_free(list);
	return r < 0 ? ctl_fail(c, r, NULL) : EXIT_OK;
}
