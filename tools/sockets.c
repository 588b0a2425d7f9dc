/* SPDX-License-Identifier: MIT */
/* brokerctl list and show: held sockets. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "brokerctl.h"
#include "util.h"

/* Context bytes as JSON: "context" when they are text, "context_hex" always. */
static void add_context(json_object *o, const broker_info *i)
{
	const char *p = i->context;
	bool text = memchr(p, 0, i->context_len) == NULL;
	json_object *t = text ? json_text(p) : NULL;
	/* json_text() replaces bytes that are not UTF-8: then it is not text */
	if (t && (size_t)json_object_get_string_len(t) != i->context_len) {
		json_object_put(t);
		t = NULL;
	}
	_cleanup_free_ char *hex = malloc(i->context_len * 2 + 1);
	if (hex) {
		for (size_t k = 0; k < i->context_len; k++)
			snprintf(hex + 2 * k, 3, "%02x", ((const unsigned char *)p)[k]);
		hex[i->context_len * 2] = 0;
	}
	json_object_object_add(o, "context", t);
	json_object_object_add(o, "context_hex", hex ? json_object_new_string(hex) : NULL);
	json_object_object_add(o, "context_len", json_object_new_uint64(i->context_len));
}

static json_object *info_json(const void *rec)
{
	const broker_info *i = rec;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "app", json_text(i->app_id));
	json_object_object_add(o, "id", json_text(i->id));
	json_object_object_add(o, "kind", json_object_new_string(broker_kind_name(i->kind)));
	json_object_object_add(o, "state", json_object_new_string(broker_state_name(i->state)));
	json_object_object_add(o, "family", json_object_new_string(family_name(i->family)));
	json_object_object_add(o, "type", json_object_new_string(sotype_name(i->sotype)));
	json_object_object_add(o, "held_since", json_time(i->held_since_usec));
	json_object_object_add(o, "held_since_usec", json_object_new_uint64(i->held_since_usec));
	json_object_object_add(o, "last_reason", i->last_reason == BROKER_REASON_NONE ? NULL :
				json_object_new_string(broker_reason_name(i->last_reason)));
	json_object_object_add(o, "last_trigger", json_time(i->last_trigger_usec));
	json_object_object_add(o, "last_trigger_usec", json_usec(i->last_trigger_usec));
	json_object_object_add(o, "keepalive_sec", i->keepalive_sec ? json_object_new_uint64(i->keepalive_sec) : NULL);
	json_object_object_add(o, "owner_uid", json_object_new_int64(i->owner_uid));
	const char *user = user_name(i->owner_uid);
	json_object_object_add(o, "owner_user", user ? json_text(user) : NULL);
	json_object_object_add(o, "local", *i->local ? json_text(i->local) : NULL);
	json_object_object_add(o, "peer", *i->peer ? json_text(i->peer) : NULL);
	json_object_object_add(o, "serial", json_object_new_uint64(i->serial));
	add_context(o, i);
	return o;
}

/* The list table, one column a line. */
DEFINE_CELL(cell_app, broker_info, "%s", r->app_id)
DEFINE_CELL(cell_id, broker_info, "%s", r->id)
DEFINE_CELL(cell_kind, broker_info, "%s", broker_kind_name(r->kind))
DEFINE_CELL(cell_state, broker_info, "%s", broker_state_name(r->state))
DEFINE_CELL(cell_owner, broker_info, "%u", (unsigned)r->owner_uid)
DEFINE_CELL(cell_local, broker_info, "%s", r->local)
DEFINE_CELL(cell_peer, broker_info, "%s", r->peer)

static void cell_since(const void *rec, uint64_t now, char *buf, size_t size)
{
	format_time_age(((const broker_info *)rec)->held_since_usec, now, buf, size);
}

static void cell_reason(const void *rec, uint64_t now, char *buf, size_t size)
{
	const broker_info *i = rec;
	char age[32];
	format_age(i->last_trigger_usec, now, age, sizeof(age));
	if (i->last_reason == BROKER_REASON_NONE)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%s (%s)", broker_reason_name(i->last_reason), age);
}

static const struct column list_columns[] = {
	{ "APP", cell_app, 0.25, true }, { "ID", cell_id, 0.15, true }, { "KIND", cell_kind, 0, false },
	{ "STATE", cell_state, 0, false }, { "HELD SINCE", cell_since, 0.15, true, 3 },
	{ "LAST REASON", cell_reason, 0.15, true, 1 }, { "OWNER UID", cell_owner, 0, false, 4 },
	{ "LOCAL", cell_local, 0.2, true }, { "PEER", cell_peer, 0.2, true, 2 },
};

/* Append src's entries to *dst (both NULL-terminated); src's array is freed. */
static int list_append(broker_info ***dst, size_t *n, broker_info **src)
{
	size_t m = 0;
	while (src[m])
		m++;
	broker_info **grown = realloc(*dst, (*n + m + 1) * sizeof(**dst));
	if (!grown) {
		broker_info_list_free(src);
		return -ENOMEM;
	}
	memcpy(grown + *n, src, (m + 1) * sizeof(*src));
	free(src);
	*dst = grown;
	*n += m;
	return 0;
}

/* Every socket this connection may see.  An admin asks for all at once;
 * others ask app by app, for the apps that brokerd shows them. */
int list_visible(broker *b, broker_info ***ret)
{
	if (broker_is_admin(b))
		return broker_list(b, NULL, ret);
	broker_app **apps;
	int r = broker_list_apps(b, &apps);
	if (r < 0)
		return r;
	broker_info **all = calloc(1, sizeof(*all));
	size_t n = 0;
	r = all ? 0 : -ENOMEM;
	for (broker_app **a = apps; r >= 0 && *a; a++) {
		broker_info **one;
		r = broker_list(b, (*a)->id, &one);
		if (r >= 0)
			r = list_append(&all, &n, one);
	}
	broker_app_list_free(apps);
	if (r < 0) {
		broker_info_list_free(all);
		return r;
	}
	*ret = all;
	return (int)n;
}

int verb_list(struct ctl *c, int argc, char **argv)
{
	if (verb_common_options(c, argc, argv) != EXIT_OK)
		return EXIT_USAGE;
	if (argc - optind > 1)
		return ctl_usage(c, "unexpected argument '%s'", argv[optind + 1]);
	const char *app = optind < argc ? argv[optind] : NULL;
	int r = ctl_connect(c);
	if (r != EXIT_OK)
		return r;

	broker_info **list;
	int n = app ? broker_list(c->b, app, &list) : list_visible(c->b, &list);
	if (n < 0)
		return ctl_fail(c, n, app);
	r = records_print(c, (void *const *)list, list_columns, ARRAY_SIZE(list_columns), info_json,
			  "No held sockets.");
	broker_info_list_free(list);
	return r < 0 ? ctl_fail(c, r, NULL) : EXIT_OK;
}

static void show_text(const broker_info *i)
{
	uint64_t now = realtime_usec();
	char buf[BROKER_CONTEXT_MAX * 4 + 8];
	printf("app:          %s\n", i->app_id);
	printf("id:           %s\n", i->id);
	printf("kind:         %s (%s %s)\n", broker_kind_name(i->kind), family_name(i->family),
	       sotype_name(i->sotype));
	printf("state:        %s\n", broker_state_name(i->state));
	format_time_age(i->held_since_usec, now, buf, sizeof(buf));
	printf("held since:   %s\n", buf);
	if (i->last_reason != BROKER_REASON_NONE) {
		format_time_age(i->last_trigger_usec, now, buf, sizeof(buf));
		printf("last trigger: %s, %s\n", broker_reason_name(i->last_reason), buf);
	} else {
		printf("last trigger: never\n");
	}
	if (i->keepalive_sec)
		printf("keep-alive:   %u s\n", i->keepalive_sec);
	else
		printf("keep-alive:   none\n");
	const char *user = user_name(i->owner_uid);
	printf("owner:        uid %u%s%s%s\n", (unsigned)i->owner_uid, user ? " (" : "", user ? user : "",
	       user ? ")" : "");
	printf("local:        %s\n", *i->local ? i->local : "-");
	printf("peer:         %s\n", *i->peer ? i->peer : "-");
	printf("serial:       %llu\n", (unsigned long long)i->serial);
	format_bytes_escaped(i->context, i->context_len, buf, sizeof(buf));
	printf("context:      %zu byte(s)%s%s\n", i->context_len, i->context_len ? ": " : "", buf);
}

int verb_show(struct ctl *c, int argc, char **argv)
{
	char app[BROKER_ID_MAX + 1], id[BROKER_ID_MAX + 1];
	int r = verb_app_id_argument(c, argc, argv, app, id);
	if (r != EXIT_OK || (r = ctl_connect(c)) != EXIT_OK)
		return r;
	broker_info *info;
	r = broker_show(c->b, app, id, &info);
	if (r < 0)
		return ctl_fail(c, r, argv[optind]);
	pager_open(c);
	if (c->json)
		r = json_print(info_json(info), false);
	else
		show_text(info);
	broker_info_free(info);
	return r < 0 ? ctl_fail(c, r, NULL) : EXIT_OK;
}
