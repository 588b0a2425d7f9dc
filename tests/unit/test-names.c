/* SPDX-License-Identifier: MIT */
/* Names of the protocol's enums, and a sentence for every error code that
 * brokerd or libbroker can return.  The codes are found by reading the
 * sources (argv[1] is the source tree), so a new code without a sentence
 * fails here. */
#include <errno.h>
#include <string.h>

#include <socket-broker/broker.h>
#include "testutil.h"
#include "util.h"

static const char *srcdir;

/* Codes that appear in the sources but never leave the module that uses
 * them: the INI readers' internal results, turned into -EINVAL and a
 * sentence naming file, line and key before anyone sees them; the unit
 * lookups' results, turned into -EPERM and a sentence naming the unit. */
static const char *const internal_only[] = { "EEXIST", "ERANGE", "ESRCH", "ENODATA", "ENXIO" };

static int errno_from_name(const char *name)
{
	for (int e = 1; e < 200; e++) {
		const char *n = strerrorname_np(e);
		if (n && strcmp(n, name) == 0)
			return e;
	}
	return 0;
}

static bool is_internal(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(internal_only); i++)
		if (strcmp(internal_only[i], name) == 0)
			return true;
	return false;
}

/* Every "-E<NAME>" in one file: check each has its own sentence. */
static int check_file(const char *path, int *found)
{
	FILE *f = fopen(path, "re");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	int missing = 0, c, prev = ' ';
	while ((c = fgetc(f)) != EOF) {
		bool ident_before = prev == '_' || (prev >= 'a' && prev <= 'z') || (prev >= 'A' && prev <= 'Z') ||
				    (prev >= '0' && prev <= '9');
		prev = c;
		if (c != '-' || ident_before)
			continue;
		char name[32];
		size_t n = 0;
		while ((c = fgetc(f)) != EOF && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) && n < sizeof(name) - 1)
			name[n++] = (char)c;
		name[n] = 0;
		prev = c;
		if (n < 2 || name[0] != 'E' || is_internal(name))
			continue;
		int e = errno_from_name(name);
		ck_assert_msg(e != 0, "%s: %s is not an errno name", path, name);
		(*found)++;
		const char *text = broker_strerror(-e);
		if (strcmp(text, strerror(e)) == 0) {
			fprintf(stderr, "%s: -%s has no sentence in broker_strerror()\n", path, name);
			missing++;
		}
	}
	fclose(f);
	return missing;
}

START_TEST(every_returned_code_has_a_sentence)
{
	static const char *const dirs[] = { "daemon", "libbroker" };
	int missing = 0, found = 0;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", srcdir, dirs[i]);
		DIR *d = opendir(path);
		ck_assert_msg(d != NULL, "cannot open %s", path);
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t n = strlen(e->d_name);
			if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s/%s", srcdir, dirs[i], e->d_name);
			missing += check_file(path, &found);
		}
		closedir(d);
	}
	ck_assert_int_gt(found, 50);   /* the scan did find the sources' codes */
	ck_assert_int_eq(missing, 0);
}
END_TEST

/* The codes that travel on the wire, as docs/protocol.md lists them. */
START_TEST(wire_codes_have_sentences)
{
	static const int codes[] = {
		ENOENT, EPERM, EACCES, EAFNOSUPPORT, EPROTOTYPE, ENOTSOCK, ENOTCONN, EDESTADDRREQ,
		EALREADY, EINVAL, ENAMETOOLONG, E2BIG, EDQUOT, ENOSPC, EBUSY, EBADFD, EBADMSG,
		EOPNOTSUPP, ETOOMANYREFS, EMSGSIZE, EPROTONOSUPPORT, EPROTO, EUSERS, ENOBUFS,
		ETIMEDOUT, ENOMEM, EIO, ECHILD, ENOEXEC,
	};
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		const char *neg = broker_strerror(-codes[i]), *pos = broker_strerror(codes[i]);
		ck_assert_str_eq(neg, pos);
		ck_assert_msg(strcmp(neg, strerror(codes[i])) != 0, "%s has no sentence", strerrorname_np(codes[i]));
		for (size_t k = 0; k < i; k++)
			ck_assert_msg(strcmp(broker_strerror(codes[k]), neg) != 0,
				      "%s and %s share a sentence", strerrorname_np(codes[k]), strerrorname_np(codes[i]));
	}
}
END_TEST

START_TEST(strerror_edges)
{
	ck_assert_str_eq(broker_strerror(0), "success");
	/* a code nobody in the broker uses: the C library's words */
	ck_assert_str_eq(broker_strerror(-EXDEV), strerror(EXDEV));
	ck_assert_str_eq(broker_strerror(EXDEV), strerror(EXDEV));
	ck_assert_ptr_nonnull(broker_strerror(100000));
	ck_assert_ptr_nonnull(broker_strerror(-100000));
}
END_TEST

START_TEST(names_are_the_documented_ones)
{
	ck_assert_str_eq(broker_kind_name(BROKER_KIND_NONE), "none");
	ck_assert_str_eq(broker_kind_name(BROKER_KIND_STREAM), "stream");
	ck_assert_str_eq(broker_kind_name(BROKER_KIND_DATAGRAM), "datagram");
	ck_assert_str_eq(broker_kind_name(BROKER_KIND_LISTENER), "listener");
	ck_assert_str_eq(broker_reason_name(BROKER_REASON_NONE), "none");
	ck_assert_str_eq(broker_reason_name(BROKER_REASON_SOCKET_ACTIVITY), "socket-activity");
	ck_assert_str_eq(broker_reason_name(BROKER_REASON_CONNECTION_ACCEPTED), "connection-accepted");
	ck_assert_str_eq(broker_reason_name(BROKER_REASON_SOCKET_CLOSED), "socket-closed");
	ck_assert_str_eq(broker_reason_name(BROKER_REASON_KEEPALIVE_EXPIRED), "keepalive-timer-expired");
	ck_assert_str_eq(broker_reason_name(BROKER_REASON_ADMIN_TRIGGER), "admin-trigger");
	ck_assert_str_eq(broker_state_name(BROKER_STATE_WATCHING), "watching");
	ck_assert_str_eq(broker_state_name(BROKER_STATE_TRIGGERED), "triggered");
	ck_assert_str_eq(broker_state_name(BROKER_STATE_HANDING_BACK), "handing-back");
	ck_assert_str_eq(broker_state_name(BROKER_STATE_LENT), "lent");
	ck_assert_str_eq(broker_app_state_name(BROKER_APP_IDLE), "idle");
	ck_assert_str_eq(broker_app_state_name(BROKER_APP_STARTING), "starting");
	ck_assert_str_eq(broker_app_state_name(BROKER_APP_RUNNING), "running");
	ck_assert_str_eq(broker_app_state_name(BROKER_APP_BACKOFF), "backoff");
	static const char *const events[] = {
		NULL, "transfer", "trigger", "activate", "handback", "ack", "claim", "drop",
		"failure", "exit", "reload",
	};
	for (int e = BROKER_EVENT_TRANSFER; e <= BROKER_EVENT_RELOAD; e++)
		ck_assert_str_eq(broker_event_name(e), events[e]);
}
END_TEST

START_TEST(unknown_values)
{
	static const int bad[] = { -1, -100, 1000, 1 << 30 };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_str_eq(broker_kind_name(bad[i]), "unknown");
		ck_assert_str_eq(broker_reason_name(bad[i]), "unknown");
		ck_assert_str_eq(broker_state_name(bad[i]), "unknown");
		ck_assert_str_eq(broker_app_state_name(bad[i]), "unknown");
		ck_assert_str_eq(broker_event_name(bad[i]), "unknown");
	}
	/* one past the last, and the holes at 0 */
	ck_assert_str_eq(broker_kind_name(BROKER_KIND_LISTENER + 1), "unknown");
	ck_assert_str_eq(broker_reason_name(BROKER_REASON_ADMIN_TRIGGER + 1), "unknown");
	ck_assert_str_eq(broker_state_name(0), "unknown");
	ck_assert_str_eq(broker_state_name(BROKER_STATE_LENT + 1), "unknown");
	ck_assert_str_eq(broker_app_state_name(BROKER_APP_ATTACHED + 1), "unknown");
	ck_assert_str_eq(broker_event_name(0), "unknown");
	ck_assert_str_eq(broker_event_name(BROKER_EVENT_THAW + 1), "unknown");
}
END_TEST

START_TEST(reason_names_round_trip)
{
	for (int r = BROKER_REASON_NONE; r <= BROKER_REASON_ADMIN_TRIGGER; r++)
		ck_assert_int_eq(broker_reason_from_name(broker_reason_name(r)), r);
	static const char *const bad[] = { "", "unknown", "Socket-Activity", "socket-activity ",
					   "socket_activity", "keepalive-expired", "5" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_int_eq(broker_reason_from_name(bad[i]), -EINVAL);
	ck_assert_int_eq(broker_reason_from_name(NULL), -EINVAL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("names");
	TCase *tc = tcase_create("errors");
	tcase_add_test(tc, every_returned_code_has_a_sentence);
	tcase_add_test(tc, wire_codes_have_sentences);
	tcase_add_test(tc, strerror_edges);
	suite_add_tcase(s, tc);
	tc = tcase_create("names");
	tcase_add_test(tc, names_are_the_documented_ones);
	tcase_add_test(tc, unknown_values);
	tcase_add_test(tc, reason_names_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SOURCE-DIR\n", argv[0]);
		return 2;
	}
	srcdir = argv[1];
	return run_suite(suite());
}
