/* SPDX-License-Identifier: MIT */
/* App manifests: every key, every value of every enum, what is missing,
 * malformed or out of range, and a directory of them. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "testutil.h"
#include "util.h"

static char err[512];

#define EXEC_APP "[app]\nid = com.example.push\nuser = 1000\n[activation]\ncommand = /usr/bin/push --woken\n"

static struct manifest *parse_ok(const char *text)
{
	struct manifest *m = NULL;
	int r = manifest_parse_string(text, "t.conf", false, &m, err, sizeof(err));
	ck_assert_msg(r == 0, "parse failed (%d): %s\n--\n%s", r, err, text);
	ck_assert_ptr_nonnull(m);
	return m;
}

/* Parsing must fail, mention `needle` in the message, and leave *ret alone. */
static void parse_bad(const char *text, const char *needle)
{
	struct manifest *sentinel = (struct manifest *)0x1234, *m = sentinel;
	int r = manifest_parse_string(text, "t.conf", false, &m, err, sizeof(err));
	ck_assert_msg(r == -EINVAL, "accepted (%d):\n%s", r, text);
	ck_assert_ptr_eq(m, sentinel);
	ck_assert_msg(strstr(err, needle) != NULL, "message \"%s\" lacks \"%s\"", err, needle);
	ck_assert_msg(strncmp(err, "t.conf", 6) == 0, "message \"%s\" does not name the file", err);
}

START_TEST(minimal_exec)
{
	struct manifest *m = parse_ok(EXEC_APP);
	ck_assert_str_eq(m->id, "com.example.push");
	ck_assert_str_eq(m->user, "1000");
	ck_assert_uint_eq(m->uid, 1000);
	ck_assert_uint_eq(m->gid, 1000);   /* numeric and not looked up: gid = uid */
	ck_assert_ptr_null(m->unit);
	ck_assert_uint_eq(m->caps, 0);
	ck_assert_int_eq(m->activation, ACTIVATION_EXEC);
	ck_assert_int_eq(m->handoff, HANDOFF_LIBBROKER);
	ck_assert_str_eq(m->command, "/usr/bin/push --woken");
	ck_assert_str_eq(m->argv[0], "/usr/bin/push");
	ck_assert_str_eq(m->argv[1], "--woken");
	ck_assert_ptr_null(m->argv[2]);
	ck_assert_ptr_null(m->wake_socket);
	ck_assert_uint_eq(m->timeout_ms, 0);
	ck_assert_uint_eq(m->max_sockets, 0);
	ck_assert_uint_eq(m->max_context, 0);
	ck_assert_str_eq(m->path, "t.conf");
	manifest_free(m);
}
END_TEST

START_TEST(every_key)
{
	struct manifest *m = parse_ok(
		"; a comment\n"
		"# another\n"
		"[app]\n"
		"id = org.example.all_keys@1\n"
		"user = 0\n"
		"unit = all-keys.service\n"
		"capabilities = internetClient, privateNetworkClientServer localSocket\n"
		"[activation]\n"
		"method = wake-socket\n"
		"socket = /run/all-keys/wake\n"
		"handoff = libbroker\n"
		"timeout-ms = 2500\n"
		"[limits]\n"
		"max-sockets = 12\n"
		"max-context = 100\n");
	ck_assert_str_eq(m->id, "org.example.all_keys@1");
	ck_assert_uint_eq(m->uid, 0);
	ck_assert_str_eq(m->unit, "all-keys.service");
	ck_assert_uint_eq(m->caps, CAP_INTERNET_CLIENT | CAP_PRIVATE_NETWORK | CAP_LOCAL);
	ck_assert_int_eq(m->activation, ACTIVATION_WAKE_SOCKET);
	ck_assert_str_eq(m->wake_socket, "/run/all-keys/wake");
	ck_assert_ptr_null(m->argv);
	ck_assert_uint_eq(m->timeout_ms, 2500);
	ck_assert_uint_eq(m->max_sockets, 12);
	ck_assert_uint_eq(m->max_context, 100);
	manifest_free(m);
}
END_TEST

/* Section and key names are case-insensitive, and so are enum values. */
START_TEST(case_insensitive)
{
	struct manifest *m = parse_ok("[APP]\nID = a\nUser = 5\n[Activation]\nMETHOD = EXEC\nCommand = /x\n"
				      "HandOff = Listen-FDs\n[LIMITS]\nMax-Sockets = 3\n");
	ck_assert_int_eq(m->handoff, HANDOFF_LISTEN_FDS);
	ck_assert_uint_eq(m->max_sockets, 3);
	manifest_free(m);
}
END_TEST

START_TEST(every_enum_value)
{
	static const struct { const char *text; int activation, handoff; } v[] = {
		{ "method = exec\ncommand = /bin/true\n", ACTIVATION_EXEC, HANDOFF_LIBBROKER },
		{ "activation = exec\ncommand = /bin/true\n", ACTIVATION_EXEC, HANDOFF_LIBBROKER },
		{ "command = /bin/true\nhandoff = libbroker\n", ACTIVATION_EXEC, HANDOFF_LIBBROKER },
		{ "command = /bin/true\nhandoff = listen-fds\n", ACTIVATION_EXEC, HANDOFF_LISTEN_FDS },
		{ "command = /bin/cat\nhandoff = inetd\n", ACTIVATION_EXEC, HANDOFF_INETD },
		{ "method = wake-socket\nsocket = /run/w\n", ACTIVATION_WAKE_SOCKET, HANDOFF_LIBBROKER },
		{ "activation = wake-socket\nsocket = /run/w\nhandoff = libbroker\n", ACTIVATION_WAKE_SOCKET, HANDOFF_LIBBROKER },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char text[512];
		snprintf(text, sizeof(text), "[app]\nid = a\nuser = 1\n[activation]\n%s", v[i].text);
		struct manifest *m = parse_ok(text);
		ck_assert_int_eq(m->activation, v[i].activation);
		ck_assert_int_eq(m->handoff, v[i].handoff);
		manifest_free(m);
	}
	ck_assert_str_eq(manifest_activation_name(ACTIVATION_EXEC), "exec");
	ck_assert_str_eq(manifest_activation_name(ACTIVATION_WAKE_SOCKET), "wake-socket");
	ck_assert_str_eq(manifest_handoff_name(HANDOFF_LIBBROKER), "libbroker");
	ck_assert_str_eq(manifest_handoff_name(HANDOFF_LISTEN_FDS), "listen-fds");
	ck_assert_str_eq(manifest_handoff_name(HANDOFF_INETD), "inetd");
}
END_TEST

START_TEST(bad_enum_values)
{
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = fork\ncommand = /x\n",
		  "t.conf:5: [activation] method: invalid value 'fork'");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod =\ncommand = /x\n", "method: invalid value");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\ncommand = /x\nhandoff = systemd\n", "handoff: invalid value");
	parse_bad("[app]\nid = a\nuser = 1\ncapabilities = internetClient bluetooth\n[activation]\ncommand = /x\n",
		  "t.conf:4: [app] capabilities: unknown capability 'bluetooth' (known: internetClient, "
		  "internetClientServer, privateNetworkClientServer, localSocket)");
	parse_bad("[app]\nid = a\nuser = 1\n[limits]\nmax-sockets = 0\n[activation]\ncommand = /x\n",
		  "t.conf:5: [limits] max-sockets: out of range '0'");
	parse_bad("[app]\nid = a\nuser = 1\nuser = 2\n[activation]\ncommand = /x\n",
		  "t.conf:4: [app] user: given twice '2'");
	/* the compatibility hand-offs need exec: brokerd runs the program */
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = wake-socket\nsocket = /w\nhandoff = inetd\n",
		  "handoff inetd needs activation exec");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = wake-socket\nsocket = /w\nhandoff = listen-fds\n",
		  "handoff listen-fds needs activation exec");
}
END_TEST

START_TEST(each_required_key_missing)
{
	parse_bad("[app]\nuser = 1\n[activation]\ncommand = /x\n", "missing [app] id");
	parse_bad("[app]\nid = a\n[activation]\ncommand = /x\n", "missing [app] user");
	parse_bad("[app]\nid = a\nuser = 1\n", "missing [activation] command");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = exec\n", "missing [activation] command");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = wake-socket\n", "missing [activation] socket");
	/* a command given for wake-socket is no socket */
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = wake-socket\ncommand = /x\n", "missing [activation] socket");
	parse_bad("", "missing [app] id");
}
END_TEST

START_TEST(unknown_keys_and_sections)
{
	parse_bad(EXEC_APP "[app]\ncolour = blue\n", "[app] colour: unknown key");
	parse_bad(EXEC_APP "[activation]\nrestart = always\n", "[activation] restart: unknown key");
	parse_bad(EXEC_APP "[limits]\nmax-held = 3\n", "[limits] max-held: unknown key");
	parse_bad(EXEC_APP "[service]\nExecStart = /x\n", "[service] ExecStart: unknown key");
	parse_bad("id = a\n" EXEC_APP, "[] id: unknown key");   /* a key before any section */
}
END_TEST

START_TEST(garbage)
{
	parse_bad(EXEC_APP "this line has no equals sign\n", "t.conf:6: syntax error");
	parse_bad("[app\nid = a\n", "t.conf:1");
	parse_bad("\x7f" "ELF\x02\x01\x01\n\x03\x00>", "t.conf:1");
	parse_bad("\xff\xfe[\x00a\x00p\x00p\x00]\x00\n", "t.conf:1");
	/* the first error is the one reported, with its line */
	parse_bad("[app]\nid = a\nuser = 1\nbogus = 1\nworse\n[activation]\ncommand = /x\n", "t.conf:4: [app] bogus: unknown key");
}
END_TEST

START_TEST(bad_ids)
{
	static const char *const ids[] = { ".hidden", "-dash", "a:b", "a/b", "a b c", "caf\xc3\xa9" };
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		char text[512];
		snprintf(text, sizeof(text), "[app]\nid = %s\nuser = 1\n[activation]\ncommand = /x\n", ids[i]);
		parse_bad(text, "[app] id: invalid value");
	}
	/* The longest id: 255 bytes (BROKER_ID_MAX), longer than libinih's
	 * default 200-byte line, which brokerd lifts (config_ini_setup()). */
	char text[600], id[300];
	memset(id, 'a', 255);
	id[255] = 0;
	snprintf(text, sizeof(text), "[app]\nid = %s\nuser = 1\n[activation]\ncommand = /x\n", id);
	struct manifest *m = parse_ok(text);
	ck_assert_uint_eq(strlen(m->id), 255);
	manifest_free(m);
	memset(id, 'a', 256);
	id[256] = 0;
	snprintf(text, sizeof(text), "[app]\nid = %s\nuser = 1\n[activation]\ncommand = /x\n", id);
	parse_bad(text, "[app] id: invalid value");
}
END_TEST

START_TEST(out_of_range_numbers)
{
	static const struct { const char *key, *value, *msg; } v[] = {
		{ "timeout-ms", "9", "out of range" },
		{ "timeout-ms", "3600001", "out of range" },
		{ "timeout-ms", "-5", "invalid value" },
		{ "timeout-ms", "+5", "invalid value" },
		{ "timeout-ms", "5s", "invalid value" },
		{ "timeout-ms", "0x10", "invalid value" },
		{ "timeout-ms", "99999999999999999999999", "out of range" },
		{ "timeout-ms", "", "invalid value" },
		{ "max-sockets", "0", "out of range" },
		{ "max-sockets", "1000001", "out of range" },
		{ "max-context", "65537", "out of range" },
		{ "max-context", "1.5", "invalid value" },
		{ "trigger-limit-burst", "0", "out of range" },
		{ "trigger-limit-burst", "1000001", "out of range" },
		{ "trigger-limit-interval-ms", "86400001", "out of range" },
		{ "trigger-limit-interval-ms", "10s", "invalid value" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char text[512];
		const char *section = strcmp(v[i].key, "timeout-ms") == 0 ? "activation" : "limits";
		snprintf(text, sizeof(text), EXEC_APP "[%s]\n%s = %s\n", section, v[i].key, v[i].value);
		char want[128];
		snprintf(want, sizeof(want), "[%s] %s: %s", section, v[i].key, v[i].msg);
		parse_bad(text, want);
	}
	/* the edges themselves are in range */
	struct manifest *m = parse_ok(EXEC_APP "timeout-ms = 10\n[limits]\nmax-sockets = 1\nmax-context = 0\n");
	ck_assert_uint_eq(m->timeout_ms, 10);
	ck_assert_uint_eq(m->max_sockets, 1);
	ck_assert_uint_eq(m->max_context, 0);
	manifest_free(m);
	m = parse_ok(EXEC_APP "timeout-ms = 3600000\n[limits]\nmax-sockets = 1000000\nmax-context = 65536\n");
	ck_assert_uint_eq(m->timeout_ms, 3600000);
	ck_assert_uint_eq(m->max_sockets, 1000000);
	ck_assert_uint_eq(m->max_context, 65536);
	ck_assert_uint_eq(m->trigger_limit_burst, 0);   /* brokerd's */
	ck_assert(!m->trigger_interval_set);
	manifest_free(m);
	m = parse_ok(EXEC_APP "[limits]\ntrigger-limit-burst = 1\ntrigger-limit-interval-ms = 0\n");
	ck_assert_uint_eq(m->trigger_limit_burst, 1);
	ck_assert(m->trigger_interval_set);   /* 0: no limit for this app */
	ck_assert_uint_eq(m->trigger_limit_interval_ms, 0);
	manifest_free(m);
}
END_TEST

START_TEST(keys_given_twice)
{
	parse_bad("[app]\nid = a\nid = b\nuser = 1\n[activation]\ncommand = /x\n", "[app] id: given twice");
	parse_bad("[app]\nid = a\nuser = 1\nuser = 2\n[activation]\ncommand = /x\n", "[app] user: given twice");
	parse_bad("[app]\nid = a\nuser = 1\nunit = a.service\nunit = b.service\n[activation]\ncommand = /x\n",
		  "[app] unit: given twice");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\ncommand = /x\ncommand = /y\n", "[activation] command: given twice");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = exec\nactivation = exec\ncommand = /x\n",
		  "[activation] activation: given twice");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = wake-socket\nsocket = /a\nsocket = /b\n",
		  "[activation] socket: given twice");
}
END_TEST

START_TEST(users)
{
	/* numeric: taken as they are, up to (uid_t)-2 */
	struct manifest *m = parse_ok("[app]\nid = a\nuser = 4294967294\n[activation]\ncommand = /x\n");
	ck_assert_uint_eq(m->uid, 4294967294u);
	manifest_free(m);
	parse_bad("[app]\nid = a\nuser = 4294967295\n[activation]\ncommand = /x\n", "[app] user: no such user");
	/* names need the user database, which this parse may not use */
	parse_bad("[app]\nid = a\nuser = root\n[activation]\ncommand = /x\n", "[app] user: no such user");
	parse_bad("[app]\nid = a\nuser =\n[activation]\ncommand = /x\n", "[app] user: no such user");

	/* with the user database: root is uid 0 everywhere */
	char e[256];
	m = NULL;
	ck_assert_int_eq(manifest_parse_string("[app]\nid = a\nuser = root\n[activation]\ncommand = /x\n", "r.conf",
					       true, &m, e, sizeof(e)), 0);
	ck_assert_uint_eq(m->uid, 0);
	ck_assert_uint_eq(m->gid, 0);
	ck_assert_str_eq(m->user, "root");
	manifest_free(m);
	struct manifest *sentinel = (struct manifest *)0x1234;
	m = sentinel;
	ck_assert_int_eq(manifest_parse_string("[app]\nid = a\nuser = no-such-user-here\n[activation]\ncommand = /x\n",
					       "r.conf", true, &m, e, sizeof(e)), -EINVAL);
	ck_assert_ptr_eq(m, sentinel);
	ck_assert_ptr_nonnull(strstr(e, "no such user"));
}
END_TEST

START_TEST(command_splitting)
{
	struct manifest *m = parse_ok("[app]\nid = a\nuser = 1\n[activation]\n"
				      "command = /usr/lib/socket-proxyd   --flag\t127.0.0.1:8080 \"quoted arg\" $HOME\n");
	static const char *const want[] = { "/usr/lib/socket-proxyd", "--flag", "127.0.0.1:8080", "\"quoted",
					    "arg\"", "$HOME", NULL };
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		if (want[i])
			ck_assert_str_eq(m->argv[i], want[i]);
		else
			ck_assert_ptr_null(m->argv[i]);
	}
	/* the command is kept as written, for display */
	ck_assert_str_eq(m->command, "/usr/lib/socket-proxyd   --flag\t127.0.0.1:8080 \"quoted arg\" $HOME");
	manifest_free(m);

	/* many words: the array grows */
	char text[2048] = "[app]\nid = a\nuser = 1\n[activation]\ncommand = /bin/echo";
	for (int i = 0; i < 40; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), " w%d", i);
	strcat(text, "\n");
	m = parse_ok(text);
	ck_assert_str_eq(m->argv[40], "w39");
	ck_assert_ptr_null(m->argv[41]);
	manifest_free(m);

	/* the program must be an absolute path */
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\ncommand = push-client\n", "[activation] command: invalid value");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\ncommand = ./push\n", "[activation] command: invalid value");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\ncommand =\n", "[activation] command: invalid value");
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = wake-socket\nsocket = run/w\n", "[activation] socket: invalid value");
}
END_TEST

START_TEST(capabilities)
{
	static const struct { const char *value; unsigned caps; } v[] = {
		{ "", 0 },
		{ "internetClient", CAP_INTERNET_CLIENT },
		{ "internetClientServer", CAP_INTERNET_CLIENT_SERVER },
		{ "privateNetworkClientServer", CAP_PRIVATE_NETWORK },
		{ "localSocket", CAP_LOCAL },
		{ "INTERNETCLIENT,localsocket", CAP_INTERNET_CLIENT | CAP_LOCAL },
		{ "internetClient internetClient", CAP_INTERNET_CLIENT },
		{ "internetClientServer\tprivateNetworkClientServer , localSocket,,internetClient",
		  CAP_INTERNET_CLIENT | CAP_INTERNET_CLIENT_SERVER | CAP_PRIVATE_NETWORK | CAP_LOCAL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char text[512];
		snprintf(text, sizeof(text), EXEC_APP "[app]\ncapabilities = %s\n", v[i].value);
		struct manifest *m = parse_ok(text);
		ck_assert_uint_eq(m->caps, v[i].caps);
		manifest_free(m);
	}
	char buf[128];
	manifest_caps_format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	manifest_caps_format(CAP_INTERNET_CLIENT | CAP_LOCAL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "internetClient localSocket");
	manifest_caps_format(CAP_INTERNET_CLIENT | CAP_INTERNET_CLIENT_SERVER | CAP_PRIVATE_NETWORK | CAP_LOCAL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "internetClient internetClientServer privateNetworkClientServer localSocket");
	/* a short buffer: cut, but terminated */
	memset(buf, 'x', sizeof(buf));
	manifest_caps_format(CAP_INTERNET_CLIENT | CAP_LOCAL, buf, 20);
	ck_assert_uint_eq(strlen(buf), 19);
	ck_assert_int_eq(strncmp(buf, "internetClient loca", 19), 0);
}
END_TEST

START_TEST(environment)
{
	struct manifest *m = parse_ok(EXEC_APP);
	ck_assert_ptr_null(m->environment);   /* none given: none */
	ck_assert_uint_eq(m->nenv, 0);
	manifest_free(m);

	/* words add up over repeated keys; a value may hold '=' or be empty */
	m = parse_ok(EXEC_APP "environment = PYTHONPATH=/opt/push/lib  LANG=C.UTF-8\n"
		     "Environment =\tOPTS=a=b,c=d EMPTY= _x9=1\n");
	static const char *const want[] = { "PYTHONPATH=/opt/push/lib", "LANG=C.UTF-8", "OPTS=a=b,c=d",
					    "EMPTY=", "_x9=1" };
	ck_assert_uint_eq(m->nenv, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		ck_assert_str_eq(m->environment[i], want[i]);
	ck_assert_ptr_null(m->environment[ARRAY_SIZE(want)]);
	ck_assert(manifest_env_overrides(m, "PYTHONPATH=/usr/lib/python3"));
	ck_assert(manifest_env_overrides(m, "EMPTY=x"));
	ck_assert(!manifest_env_overrides(m, "PYTHONPATHX=1"));
	ck_assert(!manifest_env_overrides(m, "PYTHON=1"));
	ck_assert(!manifest_env_overrides(m, "no equals sign"));
	ck_assert(!manifest_env_overrides(NULL, "LANG=C"));
	manifest_free(m);

	/* names that only look like brokerd's are the manifest's */
	m = parse_ok(EXEC_APP "environment = LISTENER=1 BROKERAGE=2 NOTIFY_SOCKETS=3 WATCHDOG=4\n");
	ck_assert_uint_eq(m->nenv, 4);
	manifest_free(m);
}
END_TEST

START_TEST(environment_refused)
{
	/* brokerd's own variables, each named, with the file and line */
	static const char *const mine[] = { "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_ANYTHING",
					   "BROKER_SOCKET", "BROKER_APP_ID", "BROKER_REASON", "BROKER_",
					   "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC" };
	for (size_t i = 0; i < ARRAY_SIZE(mine); i++) {
		char text[512], want[256];
		snprintf(text, sizeof(text), EXEC_APP "environment = A=1 %s=/tmp/x\n", mine[i]);
		snprintf(want, sizeof(want), "t.conf:6: [activation] environment: %s is brokerd's to set", mine[i]);
		parse_bad(text, want);
	}
	static const char *const words[] = { "NOEQUALS", "=value", "1ABC=x", "A-B=c", "A.B=c", "\xc3\xa9=1" };
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		char text[512];
		snprintf(text, sizeof(text), EXEC_APP "environment = %s\n", words[i]);
		parse_bad(text, "t.conf:6: [activation] environment: '");
		ck_assert_msg(strstr(err, "is not NAME=VALUE") != NULL, "%s", err);
	}
	parse_bad(EXEC_APP "environment = A=1\nenvironment = B=2 A=3\n", "t.conf:7: [activation] environment: A given twice");
	parse_bad(EXEC_APP "environment =\n", "t.conf:6: [activation] environment: empty");
	parse_bad(EXEC_APP "environment = \t \n", "environment: empty");
	/* systemd, not brokerd, starts a wake-socket app */
	parse_bad("[app]\nid = a\nuser = 1\n[activation]\nmethod = wake-socket\nsocket = /w\nenvironment = A=1\n",
		  "environment needs activation exec");
}
END_TEST

START_TEST(environment_bounds)
{
	/* MANIFEST_ENV_MAX variables, then one more */
	char text[16384] = EXEC_APP "environment =";
	for (int i = 0; i < MANIFEST_ENV_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), " V%d=%d", i, i);
	strcat(text, "\n");
	struct manifest *m = parse_ok(text);
	ck_assert_uint_eq(m->nenv, MANIFEST_ENV_MAX);
	ck_assert_str_eq(m->environment[MANIFEST_ENV_MAX - 1], "V63=63");
	manifest_free(m);
	strcat(text, "environment = ONE_MORE=1\n");
	parse_bad(text, "t.conf:7: [activation] environment: more than 64 variables or 8192 bytes");

	/* MANIFEST_ENV_BYTES of text, NULs counted, then one byte more */
	char value[MANIFEST_ENV_BYTES];
	size_t len = MANIFEST_ENV_BYTES - 1 - strlen("BIG=");
	memset(value, 'v', len);
	value[len] = 0;
	snprintf(text, sizeof(text), EXEC_APP "environment = BIG=%s\n", value);
	m = parse_ok(text);
	ck_assert_uint_eq(strlen(m->environment[0]) + 1, MANIFEST_ENV_BYTES);
	manifest_free(m);
	snprintf(text, sizeof(text), EXEC_APP "environment = BIG=%sv\n", value);
	parse_bad(text, "more than 64 variables or 8192 bytes");
	snprintf(text, sizeof(text), EXEC_APP "environment = A=\nenvironment = BIG=%s\n", value);
	parse_bad(text, "t.conf:7: [activation] environment: more than");
}
END_TEST

static char reports[4096];
static int nreports;

static void report(void *ud, const char *path, const char *message)
{
	(void)ud;
	nreports++;
	snprintf(reports + strlen(reports), sizeof(reports) - strlen(reports), "%s|%s\n",
		 strrchr(path, '/') + 1, message);
}

START_TEST(parse_file)
{
	char path[4096], e[512];
	struct manifest *m = NULL;
	write_temp_file("one.conf", EXEC_APP);
	snprintf(path, sizeof(path), "%s/one.conf", TEMP_DIR);
	ck_assert_int_eq(manifest_parse_file(path, false, &m, e, sizeof(e)), 0);
	ck_assert_str_eq(m->path, path);
	ck_assert_str_eq(m->id, "com.example.push");
	manifest_free(m);

	struct manifest *sentinel = (struct manifest *)0x1234;
	m = sentinel;
	snprintf(path, sizeof(path), "%s/none.conf", TEMP_DIR);
	ck_assert_int_eq(manifest_parse_file(path, false, &m, e, sizeof(e)), -ENOENT);
	ck_assert_ptr_eq(m, sentinel);
	ck_assert_ptr_nonnull(strstr(e, "none.conf"));

	write_temp_file("bad.conf", "[app]\nid = a\nnonsense\n");
	snprintf(path, sizeof(path), "%s/bad.conf", TEMP_DIR);
	ck_assert_int_eq(manifest_parse_file(path, false, &m, e, sizeof(e)), -EINVAL);
	ck_assert_ptr_eq(m, sentinel);
	ck_assert_ptr_nonnull(strstr(e, "bad.conf:3"));
}
END_TEST

START_TEST(load_dir)
{
	write_temp_file("10-push.conf", EXEC_APP);
	write_temp_file("20-other.conf", "[app]\nid = org.other\nuser = 2\n[activation]\ncommand = /bin/other\n");
	write_temp_file("30-dup.conf", "[app]\nid = com.example.push\nuser = 3\n[activation]\ncommand = /bin/dup\n");
	write_temp_file("40-broken.conf", "[app]\nid = broken\n");
	write_temp_file("05-first.conf", "[app]\nid = aaa.first\nuser = 4\n[activation]\ncommand = /bin/first\n");
	write_temp_file(".hidden.conf", "[app]\nid = hidden\nuser = 5\n[activation]\ncommand = /bin/h\n");
	write_temp_file("notes.txt", "[app]\nid = txt\nuser = 5\n[activation]\ncommand = /bin/t\n");
	write_temp_file("conf", "[app]\nid = bare\nuser = 5\n[activation]\ncommand = /bin/t\n");
	write_temp_file(".conf", "[app]\nid = dot\nuser = 5\n[activation]\ncommand = /bin/t\n");

	struct manifest **list = NULL;
	reports[0] = 0;
	nreports = 0;
	int n = manifests_load_dir(TEMP_DIR, false, report, NULL, &list);
	ck_assert_int_eq(n, 2);
	/* sorted by id; both files that claim com.example.push and the broken one skipped */
	ck_assert_str_eq(list[0]->id, "aaa.first");
	ck_assert_str_eq(list[1]->id, "org.other");
	ck_assert_ptr_null(list[2]);
	ck_assert_int_eq(nreports, 3);
	ck_assert_msg(strstr(reports, "10-push.conf|app com.example.push is declared by 2 files") != NULL &&
		      strstr(reports, "30-dup.conf|app com.example.push is declared by 2 files") != NULL,
		      "%s", reports);
	ck_assert_msg(strstr(reports, "40-broken.conf|") != NULL && strstr(reports, "missing [app] user") != NULL,
		      "%s", reports);
	manifests_free(list);

	/* no reporter: still skipped quietly */
	ck_assert_int_eq(manifests_load_dir(TEMP_DIR, false, NULL, NULL, &list), 2);
	manifests_free(list);
}
END_TEST

START_TEST(load_dir_missing_or_not_a_dir)
{
	char path[4096];
	struct manifest **list = NULL;
	snprintf(path, sizeof(path), "%s/absent", TEMP_DIR);
	ck_assert_int_eq(manifests_load_dir(path, false, NULL, NULL, &list), 0);   /* no apps.d: no apps */
	ck_assert_ptr_nonnull(list);
	ck_assert_ptr_null(list[0]);
	manifests_free(list);

	write_temp_file("file", "x");
	snprintf(path, sizeof(path), "%s/file", TEMP_DIR);
	struct manifest **sentinel = (struct manifest **)0x1234;
	list = sentinel;
	ck_assert_int_eq(manifests_load_dir(path, false, NULL, NULL, &list), -ENOTDIR);
	ck_assert_ptr_eq(list, sentinel);
	manifests_free(NULL);
	ck_assert_ptr_null(manifest_free(NULL));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, minimal_exec);
	tcase_add_test(tc, every_key);
	tcase_add_test(tc, case_insensitive);
	tcase_add_test(tc, every_enum_value);
	tcase_add_test(tc, bad_enum_values);
	tcase_add_test(tc, each_required_key_missing);
	tcase_add_test(tc, unknown_keys_and_sections);
	tcase_add_test(tc, garbage);
	tcase_add_test(tc, bad_ids);
	tcase_add_test(tc, out_of_range_numbers);
	tcase_add_test(tc, keys_given_twice);
	tcase_add_test(tc, users);
	tcase_add_test(tc, command_splitting);
	tcase_add_test(tc, capabilities);
	tcase_add_test(tc, environment);
	tcase_add_test(tc, environment_refused);
	tcase_add_test(tc, environment_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, temp_dir_setup, temp_dir_teardown);
	tcase_add_test(tc, parse_file);
	tcase_add_test(tc, load_dir);
	tcase_add_test(tc, load_dir_missing_or_not_a_dir);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
