/* SPDX-License-Identifier: MIT */
/* Hostile configuration: brokerd.conf and manifests full of garbage,
 * manifests brokerd must not trust, and manifests that claim an app that is
 * not theirs. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sec.h"

static void write_raw(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* brokerd --check on a brokerd.conf of these bytes: exit status, output in out. */
static int check_conf(const struct hb *b, const void *data, size_t len, char *out, size_t outlen)
{
	write_raw(b->conf, data, len, 0644);
	const char *args[] = { "--check", "--config", b->conf, "--apps-dir", hb_path(b, "apps.d"), NULL };
	return sec_run_brokerd(args, out, outlen);
}

START_TEST(garbage_brokerd_conf)
{
	struct hb b;
	sec_setup(&b, NULL);
	static const struct {
		const char *text;
		const char *says;
	} t[] = {
		{ "[limits]\nmax-held = -1\n", "brokerd.conf:2: [limits] max-held = -1: invalid value" },
		{ "[limits]\nmax-held = 99999999999999999999999\n", "out of range" },
		{ "[limits]\nmax-held = 0\n", "out of range" },
		{ "[limits]\nmax-message = 10\n", "[limits] max-message = 10: out of range" },
		{ "[limits]\nmax-id-length = 256\n", "out of range" },
		{ "[limits]\nclient-timeout-ms = 1e3\n", "invalid value" },
		{ "[limits]\nmax-held = 12 apples\n", "invalid value" },
		{ "[limits]\nmax-held =\n", "invalid value" },
		{ "[broker]\nsocket = relative/path\n", "invalid value" },
		{ "[broker]\nadmin-group =\n", "invalid value" },
		{ "[broker]\nadmin-group = no-such-group-here\n", "admin-group no-such-group-here: no such group" },
		{ "[nonsense]\nkey = value\n", "unknown key" },
		{ "key = value outside any section\n", "unknown key" },
		{ "[limits\nmax-held = 3\n", "brokerd.conf:1:" },
		{ "just words\n", "brokerd.conf:1:" },
	};
	char out[8192];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = check_conf(&b, t[i].text, strlen(t[i].text), out, sizeof(out));
		ck_assert_msg(r == 2, "case %zu: exit %d: %s", i, r, out);
		ck_assert_msg(strstr(out, t[i].says), "case %zu: '%s' not in: %s", i, t[i].says, out);
	}
	/* bytes of every kind, and lines far longer than any buffer */
	srand(4);
	static char junk[200000];
	for (int round = 0; round < 20; round++) {
		size_t len = (size_t)rand() % sizeof(junk);
		for (size_t k = 0; k < len; k++)
			junk[k] = (char)(round % 2 ? rand() : " =[]#;\nabcdefmax-held0123456789"[rand() % 30]);
		int r = check_conf(&b, junk, len, out, sizeof(out));
		ck_assert_msg(r == 0 || r == 2, "junk round %d: exit %d: %s", round, r, out);
	}
	/* and one that is fine after all that */
	const char *good = "# comment\n[broker]\nadmin-group = nogroup\n[limits]\nmax-held = 10\n";
	int r = check_conf(&b, good, strlen(good), out, sizeof(out));
	ck_assert_msg(r == 0, "exit %d: %s", r, out);
	hb_finish(&b);
}
END_TEST

START_TEST(garbage_manifests)
{
	struct hb b;
	sec_setup(&b, NULL);
	sec_app_simple(&b, SEC_GOOD_APP, 0, "localSocket");
	static const char *const bad[] = {
		"",
		"[app]\nid = com.example.b1\n",                                            /* no user */
		"[app]\nuser = 0\n[activation]\ncommand = /bin/true\n",                    /* no id */
		"[app]\nid = com.example.b3\nuser = no-such-user-x\n[activation]\ncommand = /bin/true\n",
		"[app]\nid = com.example.b4\nuser = 0\ncapabilities = everything\n[activation]\ncommand = /bin/true\n",
		"[app]\nid = com.example.b5\nuser = 0\n[activation]\ncommand = true\n",    /* not absolute */
		"[app]\nid = com.example.b6\nid = com.example.b6b\nuser = 0\n[activation]\ncommand = /bin/true\n",
		"[app]\nid = ../../etc\nuser = 0\n[activation]\ncommand = /bin/true\n",
		"[app]\nid = com.example.b8\nuser = 0\n[activation]\nmethod = teleport\ncommand = /bin/true\n",
		"[app]\nid = com.example.b9\nuser = 0\n[limits]\nmax-sockets = 0\n[activation]\ncommand = /bin/true\n",
		"[app]\nid = com.example.b10\nuser = 0\n[activation]\nmethod = wake-socket\n",   /* no socket */
		"[app]\nid = com.example.b11\nuser = 0\n[what]\nx = y\n[activation]\ncommand = /bin/true\n",
	};
	static const char elf[] = "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0[app]\nid = com.example.b12\nuser = 0\n"
				  "[activation]\ncommand = /bin/true\n";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/apps.d/bad%02zu.conf", b.dir, i);
		write_raw(path, bad[i], strlen(bad[i]), 0644);
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/apps.d/bad12.conf", b.dir);
	write_raw(path, elf, sizeof(elf) - 1, 0644);
	snprintf(path, sizeof(path), "%s/apps.d/a-directory.conf", b.dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/apps.d/a-fifo.conf", b.dir);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	snprintf(path, sizeof(path), "%s/apps.d/zero.conf", b.dir);
	ck_assert_int_eq(symlink("/dev/zero", path), 0);
	snprintf(path, sizeof(path), "%s/apps.d/dangling.conf", b.dir);
	ck_assert_int_eq(symlink("/nonexistent/x", path), 0);

	hb_start(&b);
	sec_good_client(&b, SEC_GOOD_APP);   /* the good one works among them */
	ck_assert(sec_log_has(&b, "manifest skipped", 17));
	ck_assert(sec_log_has(&b, "bad00.conf: missing [app] id", 1));
	ck_assert(sec_log_has(&b, "bad03.conf:3: [app] user: no such user", 1));
	ck_assert(sec_log_has(&b, "a-fifo.conf: not a regular file", 1));
	ck_assert(sec_log_has(&b, "zero.conf: not a regular file", 1));
	broker *c;
	ck_assert_int_eq(broker_open(b.socket, &c), 0);
	broker_app **apps;
	ck_assert_int_eq(broker_list_apps(c, &apps), 1);
	ck_assert_str_eq(apps[0]->id, SEC_GOOD_APP);
	broker_app_list_free(apps);
	for (int i = 1; i < 13; i++) {
		char id[64];
		snprintf(id, sizeof(id), "com.example.b%d", i);
		ck_assert_int_eq(broker_register(c, id), -ENOENT);
	}
	/* The app's user hears that its manifest was skipped, and why; an
	 * id no file claims is simply unknown. */
	ck_assert_int_eq(broker_register(c, "com.example.b4"), -ENOENT);
	ck_assert_msg(strstr(broker_last_message(c), "the manifest for com.example.b4 was skipped, so brokerd does "
			     "not know the app: ") &&
		      strstr(broker_last_message(c), "bad04.conf:4: [app] capabilities: unknown capability 'everything'"),
		      "%s", broker_last_message(c));
	ck_assert_int_eq(broker_register(c, "com.example.none"), -ENOENT);
	ck_assert_str_eq(broker_last_message(c), "no manifest declares an app com.example.none that uid 0 may act as");
	broker_close(c);
	sec_end(&b);
}
END_TEST

START_TEST(untrusted_and_conflicting_manifests)
{
	struct hb b;
	sec_setup(&b, NULL);
	sec_app_simple(&b, SEC_GOOD_APP, 0, "localSocket");
	/* another user's file: claims the good app, and one of its own */
	sec_app(&b, "00-evil.conf", "[app]\nid = " SEC_GOOD_APP "\nuser = 65534\ncapabilities = localSocket\n"
		"[activation]\ncommand = /bin/true\n");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/apps.d/00-evil.conf", b.dir);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	sec_app(&b, "01-world.conf", "[app]\nid = com.example.world\nuser = 0\n[activation]\ncommand = /bin/true\n");
	snprintf(path, sizeof(path), "%s/apps.d/01-world.conf", b.dir);
	ck_assert_int_eq(chmod(path, 0666), 0);
	sec_app(&b, "02-group.conf", "[app]\nid = com.example.group\nuser = 0\n[activation]\ncommand = /bin/true\n");
	snprintf(path, sizeof(path), "%s/apps.d/02-group.conf", b.dir);
	ck_assert_int_eq(chmod(path, 0664), 0);
	/* two trusted files that claim one id: neither is used */
	sec_app_simple(&b, "com.example.twin", 0, "localSocket");
	sec_app(&b, "zz-twin.conf", "[app]\nid = com.example.twin\nuser = 65534\n[activation]\ncommand = /bin/true\n");

	hb_start(&b);
	sec_good_client(&b, SEC_GOOD_APP);
	ck_assert(sec_log_has(&b, "00-evil.conf is owned by uid 65534, neither root nor brokerd's user", 1));
	ck_assert(sec_log_has(&b, "01-world.conf is writable by everyone", 1));
	ck_assert(sec_log_has(&b, "02-group.conf is writable by its group", 1));
	ck_assert(sec_log_has(&b, "app com.example.twin is declared by 2 files", 2));
	broker *c;
	ck_assert_int_eq(broker_open(b.socket, &c), 0);
	static const char *const refused[] = { "com.example.world", "com.example.group", "com.example.twin" };
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(broker_register(c, refused[i]), -ENOENT);
	broker_app **apps;
	ck_assert_int_eq(broker_list_apps(c, &apps), 1);
	ck_assert_uint_eq(apps[0]->uid, 0);   /* the good app is still root's */
	broker_app_list_free(apps);

	/* apps.d itself writable by others: a reload refuses it and keeps
	 * what is in force; a start refuses to run on it */
	ck_assert_int_eq(chmod(hb_path(&b, "apps.d"), 0777), 0);
	ck_assert_int_eq(broker_reload(c), -EPERM);
	ck_assert_msg(strstr(broker_last_message(c), "reload failed: ") &&
		      strstr(broker_last_message(c), "apps.d is not trusted; the old manifests stay in force"),
		      "%s", broker_last_message(c));
	ck_assert(sec_log_has(&b, "apps.d is writable by everyone", 1));
	broker_close(c);
	sec_good_client(&b, SEC_GOOD_APP);
	const char *args[] = { "--check", "--config", b.conf, NULL };
	char out[4096];
	ck_assert_int_eq(sec_run_brokerd(args, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "apps.d is writable by everyone"));
	ck_assert_int_eq(chmod(hb_path(&b, "apps.d"), 0755), 0);
	sec_end(&b);
}
END_TEST

/* brokerd --check fails on any manifest that would not be served, and
 * says which file, line, key and value; a program that is missing or that
 * the app's user may not run is a problem too. */
START_TEST(check_broken_apps_dir)
{
	struct hb b;
	sec_setup(&b, NULL);
	sec_app_simple(&b, SEC_GOOD_APP, 0, "localSocket");
	/* in /tmp, which every user may search: only the file's mode counts */
	char prog[] = "/tmp/sb-check-XXXXXX";
	int pfd = mkstemp(prog);
	ck_assert_int_ge(pfd, 0);
	close(pfd);
	write_raw(prog, "#!/bin/sh\n", 10, 0700);
	char text[PATH_MAX + 200];
	sec_app(&b, "a-good.conf", "[app]\nid = com.example.fine\nuser = 0\n[activation]\ncommand = /bin/true\n");
	sec_app(&b, "b-caps.conf", "[app]\nid = com.example.caps\nuser = 0\ncapabilities = localSocket bluetooth\n"
		"[activation]\ncommand = /bin/true\n");
	sec_app(&b, "c-missing.conf", "[app]\nid = com.example.missing\nuser = 0\n[activation]\n"
		"command = /nonexistent/binary --flag\n");
	snprintf(text, sizeof(text), "[app]\nid = com.example.denied\nuser = 65534\n[activation]\ncommand = %s\n", prog);
	sec_app(&b, "d-denied.conf", text);
	sec_app(&b, "e-timeout.conf", "[app]\nid = com.example.t\nuser = 0\n[activation]\ncommand = /bin/true\n"
		"timeout-ms = 5s\n");
	const char *args[] = { "--check", "--config", b.conf, NULL };
	char out[8192];
	ck_assert_int_eq(sec_run_brokerd(args, out, sizeof(out)), 1);
	static const char *const says[] = {
		"a-good.conf: com.example.fine (exec, libbroker)",
		"b-caps.conf:4: [app] capabilities: unknown capability 'bluetooth'",
		"c-missing.conf: [activation] command: /nonexistent/binary: No such file or directory",
		"d-denied.conf: [activation] command: user 65534 may not run ",
		"e-timeout.conf:6: [activation] timeout-ms: invalid value '5s'",
		"4 problem(s) in ",
	};
	for (size_t i = 0; i < sizeof(says) / sizeof(says[0]); i++)
		ck_assert_msg(strstr(out, says[i]), "'%s' not in: %s", says[i], out);
	ck_assert_int_eq(chmod(prog, 0755), 0);   /* now nobody may run it */
	for (const char *f = "bcde"; *f; f++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/apps.d/%c-%s.conf", b.dir, *f,
			 *f == 'b' ? "caps" : *f == 'c' ? "missing" : *f == 'd' ? "denied" : "timeout");
		if (*f != 'd')
			ck_assert_int_eq(unlink(path), 0);
	}
	ck_assert_int_eq(sec_run_brokerd(args, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "d-denied.conf: com.example.denied"), "%s", out);
	unlink(prog);
	hb_start(&b);
	sec_end(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, garbage_brokerd_conf);
	tcase_add_test(tc, garbage_manifests);
	tcase_add_test(tc, untrusted_and_conflicting_manifests);
	tcase_add_test(tc, check_broken_apps_dir);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return hb_run_suite(suite());
}
