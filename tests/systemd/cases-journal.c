/* SPDX-License-Identifier: MIT */
/* brokerd's journal entries under the manager: MESSAGE_IDs, the caller's
 * CODE_FILE/CODE_LINE/CODE_FUNC, ERRNO=, a per-uid limit on refused
 * transfers, and brokerctl's routine calls logging nothing. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"   /* the MESSAGE_IDs, as brokerd has them */
#include "sdtest.h"

static char journal[256 * 1024];

/* brokerd's entries with this MESSAGE_ID, as JSON objects (caller frees). */
static json_object *journal_entries(const char *message_id)
{
	/* sd_sh() keeps 4 KiB: too little for a few entries */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "journalctl --no-pager -o json SYSLOG_IDENTIFIER=brokerd MESSAGE_ID=%s", message_id);
	FILE *p = popen(cmd, "re");
	ck_assert_ptr_nonnull(p);
	size_t n = fread(journal, 1, sizeof(journal) - 1, p);
	journal[n] = 0;
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_uint_lt(n, sizeof(journal) - 1);
	json_object *all = json_object_new_array();
	for (char *save = NULL, *line = strtok_r(journal, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_object *e = json_tokener_parse(line);
		ck_assert_msg(e != NULL, "journalctl wrote something that is not JSON: %s", line);
		json_object_array_add(all, e);
	}
	return all;
}

static const char *field(json_object *e, const char *name)
{
	json_object *v;
	return json_object_object_get_ex(e, name, &v) ? json_object_get_string(v) : "";
}

struct wanted {
	const char *message_id;
	size_t n;
};

static bool has_entries(void *ud)
{
	const struct wanted *w = ud;
	json_object *all = journal_entries(w->message_id);
	bool ok = json_object_array_length(all) >= w->n;
	json_object_put(all);
	return ok;
}

/* Wait for at least n entries of message_id; returns them all. */
static json_object *wait_entries(const char *message_id, size_t n)
{
	struct wanted w = { message_id, n };
	ck_assert_msg(sd_wait(has_entries, &w, 10000), "fewer than %zu entries with MESSAGE_ID=%s", n, message_id);
	return journal_entries(message_id);
}

/* The entry was logged at the call site in file (not in log.c). */
static void expect_site(json_object *e, const char *file)
{
	const char *f = field(e, "CODE_FILE");
	size_t fl = strlen(f), l = strlen(file);
	ck_assert_msg(fl >= l && strcmp(f + fl - l, file) == 0 && strncmp(f, "../", 3) != 0,
		      "CODE_FILE=%s, not %s", f, file);
	ck_assert_msg(atoi(field(e, "CODE_LINE")) > 0 && *field(e, "CODE_FUNC") &&
		      strcmp(field(e, "CODE_FUNC"), "to_journal") != 0, "CODE_LINE=%s CODE_FUNC=%s",
		      field(e, "CODE_LINE"), field(e, "CODE_FUNC"));
}

static int brokerd_lines(void)
{
	char out[32];
	sd_sh(out, sizeof(out), "journalctl --no-pager -o cat SYSLOG_IDENTIFIER=brokerd | wc -l");
	return atoi(out);
}

START_TEST(journal_ids)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_manifest("org.test.j1", NULL, "method = exec", "command = /bin/true");
	pid_t pid = sd_start_brokerd();

	/* Refused: an id brokerd does not allow.  The fd stays ours. */
	int sv[2];
	sd_tcp_pair(sv);
	ck_assert_int_eq(sd_transfer("org.test.j1", "bad id", sv[0], NULL, 0, 0), -EINVAL);
	json_object *all = wait_entries(MSGID_TRANSFER_REFUSED, 1);
	ck_assert_uint_eq(json_object_array_length(all), 1);
	json_object *e = json_object_array_get_idx(all, 0);
	expect_site(e, "control/verbs.c");
	ck_assert_str_eq(field(e, "ERRNO"), "22");
	ck_assert_str_eq(field(e, "PRIORITY"), "5");
	ck_assert_str_eq(field(e, "APP_ID"), "org.test.j1");
	ck_assert_str_eq(field(e, "SOCKET_ID"), "");   /* not a valid id: not repeated */
	char want[128];
	snprintf(want, sizeof(want), "org.test.j1: transfer by uid %u refused: invalid argument: id must be",
		 (unsigned)getuid());
	ck_assert_msg(strncmp(field(e, "MESSAGE"), want, strlen(want)) == 0, "MESSAGE=%s", field(e, "MESSAGE"));
	json_object_put(all);

	/* brokerctl's routine calls add nothing; the next refusal is the marker. */
	int before = brokerd_lines();
	for (int i = 0; i < 3; i++)
		SD_OK("%s status >/dev/null && %s list >/dev/null", getenv("SDTEST_BROKERCTL"), getenv("SDTEST_BROKERCTL"));
	ck_assert_int_eq(sd_transfer("org.test.j1", "-dash", sv[0], NULL, 0, 0), -EINVAL);
	json_object_put(wait_entries(MSGID_TRANSFER_REFUSED, 2));
	ck_assert_int_eq(brokerd_lines(), before + 1);

	/* One uid refused many times: at most LOG_BURST lines in the interval. */
	for (unsigned i = 0; i < LOG_BURST + 5; i++)
		ck_assert_int_eq(sd_transfer("org.test.j1", ".dot", sv[0], NULL, 0, 0), -EINVAL);
	SD_OK("%s status >/dev/null", getenv("SDTEST_BROKERCTL"));   /* brokerd has read them all */
	all = wait_entries(MSGID_TRANSFER_REFUSED, LOG_BURST);
	ck_assert_uint_eq(json_object_array_length(all), LOG_BURST);
	json_object_put(all);

	/* A trigger, and the activation that fails (/bin/true never takes it). */
	ck_assert_int_eq(sd_transfer("org.test.j1", "t", sv[0], "c", 1, 0), 0);
	sd_wait_watching("org.test.j1", "t", 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	all = wait_entries(MSGID_TRIGGER, 1);
	e = json_object_array_get_idx(all, 0);
	expect_site(e, "core/journal.c");   /* the journal subscribes to the trigger */
	ck_assert_str_eq(field(e, "SOCKET_ID"), "t");
	ck_assert_str_eq(field(e, "REASON"), "socket-activity");
	json_object_put(all);
	all = wait_entries(MSGID_ACTIVATION_FAILED, 1);
	e = json_object_array_get_idx(all, 0);
	expect_site(e, "core/journal.c");
	ck_assert_str_eq(field(e, "APP_ID"), "org.test.j1");
	ck_assert_str_eq(field(e, "PRIORITY"), "4");
	json_object_put(all);

	/* Restarted, brokerd says what it took back from the fd store. */
	SD_OK("systemctl --user restart brokerd.service");
	sd_wait_brokerd(pid);
	all = wait_entries(MSGID_RESTORED, 1);
	e = json_object_array_get_idx(all, 0);
	expect_site(e, "core/store-restore.c");
	ck_assert_msg(strstr(field(e, "MESSAGE"), "restored 1 held socket(s)"), "MESSAGE=%s", field(e, "MESSAGE"));
	json_object_put(all);
	close(sv[1]);
	sd_case_done();
}
END_TEST

void sd_journal_cases(Suite *s)
{
	sd_add_case(s, "journal", journal_ids);
}
