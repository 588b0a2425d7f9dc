/* SPDX-License-Identifier: MIT */
/* The security suites' brokerd setup, on top of tests/e2e/harness.c. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sec.h"

void sec_setup_named(struct hb *b, const char *name, const char *extra)
{
	hb_init(b, name, extra);
	/* other users (uid 65534) must reach the control socket */
	char parent[sizeof(b->dir)];
	snprintf(parent, sizeof(parent), "%s", b->dir);
	ck_assert_int_eq(chmod(dirname(parent), 0755), 0);
	ck_assert_int_eq(chmod(b->dir, 0755), 0);
}

void sec_app(struct hb *b, const char *file, const char *text)
{
	char rel[300];
	snprintf(rel, sizeof(rel), "apps.d/%s", file);
	hb_write(hb_path(b, rel), "%s", text);
}

void sec_app_simple(struct hb *b, const char *id, uid_t uid, const char *caps)
{
	char file[300], text[1024];
	snprintf(file, sizeof(file), "%s.conf", id);
	snprintf(text, sizeof(text), "[app]\nid = %s\nuser = %u\ncapabilities = %s\n\n"
		 "[activation]\nmethod = exec\ncommand = /bin/true\n", id, (unsigned)uid, caps);
	sec_app(b, file, text);
}

void sec_begin_named(struct hb *b, const char *name, const char *extra)
{
	sec_setup_named(b, name, extra);
	sec_app_simple(b, SEC_GOOD_APP, 0, "localSocket");
	hb_start(b);
	sec_good_client(b, SEC_GOOD_APP);
	hb_assert_fds(b, b->base_fds);
}

void sec_end(struct hb *b)
{
	sec_good_client(b, SEC_GOOD_APP);
	hb_assert_fds(b, b->base_fds);
	hb_finish(b);
}

int sec_run_brokerd(const char *const *args, char *out, size_t outlen)
{
	int pipefd[2];
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		hb_exec_brokerd(args);
	}
	close(pipefd[1]);
	FILE *f = fdopen(pipefd[0], "r");
	ck_assert_ptr_nonnull(f);
	size_t used = 0;
	int ch;
	while ((ch = fgetc(f)) != EOF)
		if (out && used + 1 < outlen)
			out[used++] = (char)ch;
	if (out)
		out[used] = 0;
	fclose(f);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int log_count(const struct hb *b, const char *text)
{
	FILE *f = fopen(b->log, "re");
	if (!f)
		return 0;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n = getdelim(&buf, &len, 0, f);   /* the whole log: it has no NUL */
	fclose(f);
	int found = 0;
	for (const char *p = n > 0 ? strstr(buf, text) : NULL; p; p = strstr(p + 1, text))
		found++;
	free(buf);
	return found;
}

bool sec_log_has(const struct hb *b, const char *text, int times)
{
	return HB_WAIT(log_count(b, text) >= times, 5000);
}
