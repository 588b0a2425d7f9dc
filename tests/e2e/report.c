/* SPDX-License-Identifier: MIT */
/* Harness: libbroker shortcuts and reading the test app's reports. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "report.h"

broker *hb_open(const struct hb *b, const char *app_id)
{
	broker *c = NULL;
	int r = broker_open(b->socket, &c);
	ck_assert_msg(r == 0, "broker_open %s: %s", b->socket, broker_strerror(r));
	if (app_id) {
		r = broker_register(c, app_id);
		ck_assert_msg(r == 0, "broker_register %s: %s (%s)", app_id, broker_strerror(r),
			      broker_last_message(c));
	}
	return c;
}

void hb_transfer(const struct hb *b, const char *app_id, const char *id, int fd,
		 const void *ctx, size_t ctx_len, uint32_t keepalive_sec)
{
	broker *c = hb_open(b, app_id);
	int r = broker_transfer(c, id, fd, ctx, ctx_len, keepalive_sec);
	ck_assert_msg(r == 0, "broker_transfer %s/%s: %s (%s)", app_id, id, broker_strerror(r),
		      broker_last_message(c));
	broker_close(c);
}

static void admin(const struct hb *b, const char *app_id, const char *id, bool drop)
{
	broker *c = hb_open(b, NULL);
	int r = drop ? broker_drop(c, app_id, id) : broker_trigger(c, app_id, id);
	ck_assert_msg(r == 0, "broker_%s %s/%s: %s (%s)", drop ? "drop" : "trigger", app_id, id,
		      broker_strerror(r), broker_last_message(c));
	broker_close(c);
}

void hb_drop(const struct hb *b, const char *app_id, const char *id)
{
	admin(b, app_id, id, true);
}

void hb_trigger(const struct hb *b, const char *app_id, const char *id)
{
	admin(b, app_id, id, false);
}

broker *hb_monitor(const struct hb *b)
{
	broker *c = hb_open(b, NULL);
	int r = broker_monitor(c);
	ck_assert_msg(r == 0, "broker_monitor: %s", broker_strerror(r));
	return c;
}

bool hb_events_until(broker *mon, int until, unsigned times, unsigned counts[HB_EVENT_TYPES])
{
	uint64_t end = hb_now_ms() + HB_WAIT_MS;
	while (counts[until] < times) {
		uint64_t now = hb_now_ms();
		broker_event *ev = NULL;
		int r = broker_next_event(mon, now < end ? (int)(end - now) : 0, &ev);
		if (r <= 0)
			return false;
		int type = ev->type;
		broker_event_free(ev);
		if (type >= 0 && type < HB_EVENT_TYPES)
			counts[type]++;
	}
	return true;
}

broker_info *hb_show(const struct hb *b, const char *app_id, const char *id)
{
	broker *c = hb_open(b, NULL);
	broker_info *info = NULL;
	int r = broker_show(c, app_id, id, &info);
	ck_assert_msg(r == 0 || r == -ENOENT, "broker_show %s/%s: %s", app_id, id, broker_strerror(r));
	broker_close(c);
	return r == 0 ? info : NULL;
}

broker_app *hb_app_entry(const struct hb *b, const char *app_id, broker_app ***ret_list)
{
	broker *c = hb_open(b, NULL);
	broker_app **list = NULL;
	int n = broker_list_apps(c, &list);
	ck_assert_msg(n >= 0, "broker_list_apps: %s", broker_strerror(n));
	broker_close(c);
	*ret_list = list;
	for (int i = 0; i < n; i++)
		if (strcmp(list[i]->id, app_id) == 0)
			return list[i];
	ck_abort_msg("brokerd does not list %s", app_id);
	return NULL;
}

int hb_app_state(const struct hb *b, const char *app_id)
{
	broker_app **list;
	int state = hb_app_entry(b, app_id, &list)->state;
	broker_app_list_free(list);
	return state;
}

pid_t hb_app_pid(const struct hb *b, const char *app_id)
{
	broker_app **list;
	pid_t pid = hb_app_entry(b, app_id, &list)->pid;
	broker_app_list_free(list);
	return pid;
}

uint64_t hb_activations(const struct hb *b)
{
	broker *c = hb_open(b, NULL);
	broker_status st;
	ck_assert_int_eq(broker_get_status(c, &st), 0);
	broker_close(c);
	return st.activations_total;
}

bool hb_gone(const struct hb *b, const char *app_id, const char *id)
{
	broker_info *i = hb_show(b, app_id, id);
	bool gone = i == NULL;
	broker_info_free(i);
	return gone;
}

int hb_held_state(const struct hb *b, const char *app_id, const char *id)
{
	broker_info *i = hb_show(b, app_id, id);
	int state = i ? (int)i->state : 0;
	broker_info_free(i);
	return state;
}

/* The index-th line of kind in report, into line; false if there is none. */
static bool find_line(const char *report, const char *kind, int index, char *line, int *ret_count)
{
	FILE *f = fopen(report, "re");
	int count = 0;
	bool found = false;
	if (f) {
		size_t kl = strlen(kind);
		char buf[HB_LINE_MAX];
		while (fgets(buf, sizeof(buf), f)) {
			if (strncmp(buf, kind, kl) != 0 || buf[kl] != ' ')
				continue;
			if (count++ == index && line) {
				buf[strcspn(buf, "\n")] = 0;
				snprintf(line, HB_LINE_MAX, "%s", buf);
				found = true;
			}
		}
		fclose(f);
	}
	if (ret_count)
		*ret_count = count;
	return found;
}

int hb_report_count(const char *report, const char *kind)
{
	int n;
	find_line(report, kind, -1, NULL, &n);
	return n;
}

bool hb_report_wait(const char *report, const char *kind, int index, char *line)
{
	return HB_WAIT(find_line(report, kind, index, line, NULL), HB_WAIT_MS);
}

void hb_report_get(const char *report, const char *kind, int index, char *line)
{
	ck_assert_msg(hb_report_wait(report, kind, index, line), "no %s line #%d in %s within %d ms",
		      kind, index, report, HB_WAIT_MS);
}

static char *ring_buffer(void)
{
	static char ring[8][HB_LINE_MAX];
	static unsigned next;
	return ring[next++ % 8];
}

const char *hb_field(const char *line, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = strchr(line, ' '); p; p = strchr(p + 1, ' ')) {
		if (strncmp(p + 1, key, kl) != 0 || p[1 + kl] != '=')
			continue;
		const char *v = p + 2 + kl;
		char *out = ring_buffer();
		snprintf(out, HB_LINE_MAX, "%.*s", (int)strcspn(v, " "), v);
		return out;
	}
	return NULL;
}

const char *hb_esc(const void *data, size_t len)
{
	char *out = ring_buffer();
	report_escape(data, len, out, HB_LINE_MAX);
	return out;
}

const char *hb_rec(const void *data, size_t len)
{
	char *out = ring_buffer();
	out[0] = '[';
	report_escape(data, len, out + 1, HB_LINE_MAX - 2);
	strcat(out, "]");
	return out;
}
