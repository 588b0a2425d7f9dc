/* SPDX-License-Identifier: MIT */
/* brokerd.conf: defaults of the system and user instance, every key,
 * what is refused, and the limits clamped below RLIMIT_NOFILE. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "proto.h"
#include "testutil.h"
#include "util.h"

static struct config c;
static char err[512];

static void setup(void)
{
	ck_assert_int_eq(config_defaults(&c, false), 0);
}

static void teardown(void)
{
	config_free(&c);
}

START_TEST(system_defaults)
{
	ck_assert(!c.user_instance);
	ck_assert_str_eq(c.socket_path, "/run/socket-broker/control");
	ck_assert_str_eq(c.apps_dir, "/etc/socket-broker/apps.d");
	ck_assert_str_eq(c.config_path, "/etc/socket-broker/brokerd.conf");
	ck_assert_ptr_null(c.admin_group);
	ck_assert_uint_eq(c.max_held, 16384);
	ck_assert_uint_eq(c.max_held_per_app, 1024);
	ck_assert_uint_eq(c.max_context, 4096);
	ck_assert_uint_eq(c.max_id_len, 128);
	ck_assert_uint_eq(c.max_message, BP_MSG_MAX);
	ck_assert_uint_eq(c.max_clients, 1024);
	ck_assert_uint_eq(c.max_clients_per_uid, 64);
	ck_assert_uint_eq(c.max_monitors, 16);
	ck_assert_uint_eq(c.max_pending_activations, 64);
	ck_assert_uint_eq(c.client_timeout_ms, 10000);
	ck_assert_uint_eq(c.activation_timeout_ms, 30000);
	ck_assert_uint_eq(c.backoff_initial_ms, 1000);
	ck_assert_uint_eq(c.backoff_max_ms, 300000);
	ck_assert_uint_eq(c.max_keepalive_sec, 7 * 24 * 3600);
}
END_TEST

START_TEST(user_defaults)
{
	struct config u;
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	setenv("XDG_CONFIG_HOME", "/home/u/.cfg", 1);
	setenv("HOME", "/home/u", 1);
	ck_assert_int_eq(config_defaults(&u, true), 0);
	ck_assert(u.user_instance);
	ck_assert_str_eq(u.socket_path, "/run/user/1000/socket-broker/control");
	ck_assert_str_eq(u.apps_dir, "/home/u/.cfg/socket-broker/apps.d");
	ck_assert_str_eq(u.config_path, "/home/u/.cfg/socket-broker/brokerd.conf");
	ck_assert_uint_eq(u.max_held, 16384);   /* the limits are the same */
	config_free(&u);

	/* no XDG_CONFIG_HOME, or a relative one: $HOME/.config */
	unsetenv("XDG_CONFIG_HOME");
	ck_assert_int_eq(config_defaults(&u, true), 0);
	ck_assert_str_eq(u.apps_dir, "/home/u/.config/socket-broker/apps.d");
	config_free(&u);
	setenv("XDG_CONFIG_HOME", "relative/cfg", 1);
	ck_assert_int_eq(config_defaults(&u, true), 0);
	ck_assert_str_eq(u.config_path, "/home/u/.config/socket-broker/brokerd.conf");
	config_free(&u);

	/* no runtime directory: no default control socket */
	unsetenv("XDG_RUNTIME_DIR");
	ck_assert_int_eq(config_defaults(&u, true), -ENOENT);
	ck_assert_ptr_null(u.socket_path);
	setenv("XDG_RUNTIME_DIR", "run/relative", 1);
	ck_assert_int_eq(config_defaults(&u, true), -ENOENT);
	/* nor a config directory */
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("HOME");
	ck_assert_int_eq(config_defaults(&u, true), -ENOENT);
	/* the system instance needs none of these */
	ck_assert_int_eq(config_defaults(&u, false), 0);
	config_free(&u);
}
END_TEST

START_TEST(every_key)
{
	ck_assert_int_eq(config_load_string(&c,
		"[broker]\n"
		"socket = /tmp/b/control\n"
		"apps-dir = /tmp/b/apps.d\n"
		"admin-group = wheel\n"
		"[limits]\n"
		"max-held = 100\n"
		"max-held-per-app = 10\n"
		"max-context = 512\n"
		"max-id-length = 64\n"
		"max-message = 8192\n"
		"max-clients = 50\n"
		"max-clients-per-uid = 5\n"
		"max-monitors = 0\n"
		"max-pending-activations = 3\n"
		"client-timeout-ms = 500\n"
		"activation-timeout-ms = 700\n"
		"backoff-initial-ms = 20\n"
		"backoff-max-ms = 400\n"
		"max-keepalive-sec = 60\n", err, sizeof(err)), 0);
	ck_assert_str_eq(c.socket_path, "/tmp/b/control");
	ck_assert_str_eq(c.apps_dir, "/tmp/b/apps.d");
	ck_assert_str_eq(c.admin_group, "wheel");
	ck_assert_uint_eq(c.max_held, 100);
	ck_assert_uint_eq(c.max_held_per_app, 10);
	ck_assert_uint_eq(c.max_context, 512);
	ck_assert_uint_eq(c.max_id_len, 64);
	ck_assert_uint_eq(c.max_message, 8192);
	ck_assert_uint_eq(c.max_clients, 50);
	ck_assert_uint_eq(c.max_clients_per_uid, 5);
	ck_assert_uint_eq(c.max_monitors, 0);
	ck_assert_uint_eq(c.max_pending_activations, 3);
	ck_assert_uint_eq(c.client_timeout_ms, 500);
	ck_assert_uint_eq(c.activation_timeout_ms, 700);
	ck_assert_uint_eq(c.backoff_initial_ms, 20);
	ck_assert_uint_eq(c.backoff_max_ms, 400);
	ck_assert_uint_eq(c.max_keepalive_sec, 60);
	/* paths stay as the defaults where not given, and later values win */
	ck_assert_int_eq(config_load_string(&c, "[BROKER]\nSocket = /x\n[broker]\nsocket = /y\n", err, sizeof(err)), 0);
	ck_assert_str_eq(c.socket_path, "/y");
	ck_assert_str_eq(c.apps_dir, "/tmp/b/apps.d");
}
END_TEST

/* Refused: the message names the line, section, key and value. */
static void load_bad(const char *text, const char *needle)
{
	char before[64];
	snprintf(before, sizeof(before), "%s", c.socket_path);
	ck_assert_int_eq(config_load_string(&c, text, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, needle) != NULL, "message \"%s\" lacks \"%s\"", err, needle);
}

START_TEST(refused_values)
{
	load_bad("[broker]\nsocket = relative/control\n", "(string):2: [broker] socket = relative/control: invalid value");
	load_bad("[broker]\napps-dir = apps.d\n", "[broker] apps-dir = apps.d: invalid value");
	load_bad("[broker]\nadmin-group =\n", "[broker] admin-group = : invalid value");
	load_bad("[broker]\ncolour = blue\n", "[broker] colour = blue: unknown key");
	load_bad("[limits]\nmax-sockets = 3\n", "[limits] max-sockets = 3: unknown key");
	load_bad("[daemon]\nsocket = /x\n", "[daemon] socket = /x: unknown key");
	load_bad("socket = /x\n", "[] socket = /x: unknown key");
	load_bad("[broker]\nno equals here\n", "(string):2: syntax error");
	load_bad("\x01\x02\x03\xff\n", "(string):1");
	load_bad("[limits]\nmax-held = 1\nmax-held = lots\n", "(string):3: [limits] max-held = lots: invalid value");
}
END_TEST

START_TEST(limit_ranges)
{
	static const struct { const char *key; unsigned long min, max; } k[] = {
		{ "max-held", 1, 1000000 },
		{ "max-held-per-app", 1, 1000000 },
		{ "max-context", 0, BP_MSG_MAX - 1024 },
		{ "max-id-length", 1, 255 },
		{ "max-message", 1024, BP_MSG_MAX },
		{ "max-clients", 1, 100000 },
		{ "max-clients-per-uid", 1, 100000 },
		{ "max-monitors", 0, 1000 },
		{ "max-pending-activations", 1, 100000 },
		{ "client-timeout-ms", 10, 3600000 },
		{ "activation-timeout-ms", 10, 3600000 },
		{ "backoff-initial-ms", 1, 3600000 },
		{ "backoff-max-ms", 1, 86400000 },
		{ "max-keepalive-sec", 1, 365 * 24 * 3600 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(k); i++) {
		char text[128], want[128];
		/* the edges are in range */
		snprintf(text, sizeof(text), "[limits]\n%s = %lu\n%s = %lu\n", k[i].key, k[i].min, k[i].key, k[i].max);
		ck_assert_msg(config_load_string(&c, text, err, sizeof(err)) == 0, "%s", err);
		/* one past each edge is not */
		if (k[i].min > 0) {
			snprintf(text, sizeof(text), "[limits]\n%s = %lu\n", k[i].key, k[i].min - 1);
			snprintf(want, sizeof(want), "[limits] %s = %lu: out of range", k[i].key, k[i].min - 1);
			load_bad(text, want);
		}
		snprintf(text, sizeof(text), "[limits]\n%s = %lu\n", k[i].key, k[i].max + 1);
		snprintf(want, sizeof(want), "[limits] %s = %lu: out of range", k[i].key, k[i].max + 1);
		load_bad(text, want);
		static const char *const junk[] = { "-1", "+1", " ", "1k", "0x10", "1.0", "one" };
		for (size_t j = 0; j < ARRAY_SIZE(junk); j++) {
			snprintf(text, sizeof(text), "[limits]\n%s = %s\n", k[i].key, junk[j]);
			load_bad(text, "invalid value");
		}
		snprintf(text, sizeof(text), "[limits]\n%s = 184467440737095516160\n", k[i].key);
		load_bad(text, "out of range");
	}
}
END_TEST

START_TEST(parse_helpers)
{
	unsigned v = 77;
	ck_assert_int_eq(config_parse_uint("0", 0, 5, &v), 0);
	ck_assert_uint_eq(v, 0);
	v = 77;
	ck_assert_int_eq(config_parse_uint("6", 0, 5, &v), -ERANGE);
	ck_assert_int_eq(config_parse_uint("", 0, 5, &v), -EINVAL);
	ck_assert_int_eq(config_parse_uint(NULL, 0, 5, &v), -EINVAL);
	ck_assert_int_eq(config_parse_uint("5 ", 0, 5, &v), -EINVAL);
	ck_assert_uint_eq(v, 77);   /* untouched on failure */
	static const char *const yes[] = { "1", "yes", "TRUE", "On" }, *const no[] = { "0", "No", "false", "OFF" };
	for (size_t i = 0; i < 4; i++) {
		bool b = false;
		ck_assert_int_eq(config_parse_bool(yes[i], &b), 0);
		ck_assert(b);
		ck_assert_int_eq(config_parse_bool(no[i], &b), 0);
		ck_assert(!b);
	}
	bool b = true;
	ck_assert_int_eq(config_parse_bool("maybe", &b), -EINVAL);
	ck_assert_int_eq(config_parse_bool("", &b), -EINVAL);
	ck_assert(b);
}
END_TEST

START_TEST(load_files)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/absent.conf", TEMP_DIR);
	/* a missing default file is no error; a missing named one is */
	ck_assert_int_eq(config_load(&c, path, false, err, sizeof(err)), 0);
	ck_assert_str_eq(c.config_path, "/etc/socket-broker/brokerd.conf");
	ck_assert_int_eq(config_load(&c, path, true, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "absent.conf"));

	snprintf(path, sizeof(path), "%s/brokerd.conf", TEMP_DIR);
	write_temp_file("brokerd.conf", "# comment\n[broker]\nsocket = /run/x/control\n[limits]\nmax-held = 7\n");
	ck_assert_int_eq(config_load(&c, path, true, err, sizeof(err)), 0);
	ck_assert_str_eq(c.config_path, path);
	ck_assert_str_eq(c.socket_path, "/run/x/control");
	ck_assert_uint_eq(c.max_held, 7);

	write_temp_file("brokerd.conf", "[limits]\nmax-held = 0\n");
	ck_assert_int_eq(config_load(&c, path, true, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "brokerd.conf:2: [limits] max-held = 0: out of range"));
}
END_TEST

static void set_nofile(rlim_t n)
{
	struct rlimit rl = { n, n };
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Check runs each test in its own process, so lowering the limit here
 * touches nothing else. */
START_TEST(clamp_below_rlimit_nofile)
{
	set_nofile(2000);
	ck_assert_int_eq(config_finish(&c, err, sizeof(err)), 0);
	/* headroom: clients + 2 per pending activation + 64 */
	ck_assert_uint_eq(c.max_held, 2000 - (1024 + 2 * 64 + 64));
	ck_assert_uint_eq(c.max_held_per_app, 784);   /* never above max-held */

	/* a limit that leaves no room at all still leaves 16 */
	ck_assert_int_eq(config_load_string(&c, "[limits]\nmax-held = 500\nmax-held-per-app = 300\n", err, sizeof(err)), 0);
	set_nofile(100);
	ck_assert_int_eq(config_finish(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.max_held, 16);
	ck_assert_uint_eq(c.max_held_per_app, 16);
}
END_TEST

START_TEST(no_clamp_when_room)
{
	ck_assert_int_eq(config_load_string(&c, "[limits]\nmax-held = 100\nmax-clients = 10\n", err, sizeof(err)), 0);
	set_nofile(1000);
	ck_assert_int_eq(config_finish(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.max_held, 100);
	ck_assert_uint_eq(c.max_held_per_app, 100);   /* never above max-held */
}
END_TEST

START_TEST(soft_limit_raised_to_hard)
{
	struct rlimit rl = { 256, 4096 };
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_int_eq(config_finish(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_uint_eq(rl.rlim_cur, 4096);
	ck_assert_uint_eq(c.max_held, 4096 - (1024 + 2 * 64 + 64));
}
END_TEST

START_TEST(backoff_order)
{
	ck_assert_int_eq(config_load_string(&c, "[limits]\nbackoff-initial-ms = 5000\nbackoff-max-ms = 100\n",
					    err, sizeof(err)), 0);
	ck_assert_int_eq(config_finish(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.backoff_max_ms, 5000);
}
END_TEST

START_TEST(admin_group)
{
	ck_assert_int_eq(config_load_string(&c, "[broker]\nadmin-group = root\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_finish(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.admin_gid, 0);
	config_free(&c);
	ck_assert_int_eq(config_defaults(&c, false), 0);
	ck_assert_int_eq(config_load_string(&c, "[broker]\nadmin-group = no-such-group-here\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_finish(&c, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "admin-group no-such-group-here: no such group"));
	config_free(&c);
	config_free(&c);   /* twice is harmless */
	ck_assert_int_eq(config_defaults(&c, false), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, system_defaults);
	tcase_add_test(tc, user_defaults);
	tcase_add_test(tc, every_key);
	tcase_add_test(tc, refused_values);
	tcase_add_test(tc, limit_ranges);
	tcase_add_test(tc, parse_helpers);
	tcase_add_test(tc, clamp_below_rlimit_nofile);
	tcase_add_test(tc, no_clamp_when_room);
	tcase_add_test(tc, soft_limit_raised_to_hard);
	tcase_add_test(tc, backoff_order);
	tcase_add_test(tc, admin_group);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_checked_fixture(tc, temp_dir_setup, temp_dir_teardown);
	tcase_add_test(tc, load_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
