/* SPDX-License-Identifier: MIT */
/* brokerd's log off the journal: the head of a line for a file (a
 * timestamp), a pipe (<N>) and its text, %m from the error passed, errno
 * kept; and the per-uid limit on messages a client can cause. */
#include <errno.h>
#include <regex.h>
#include <string.h>

#include "log.h"
#include "testutil.h"

/* Log one message with stderr on fd, and read back what reached it. */
static void logged(int fd, bool verbose, char *out, size_t size, void (*emit)(void))
{
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	log_setup(verbose);
	emit();
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	ssize_t n = pread(fd, out, size - 1, 0);
	out[n < 0 ? 0 : n] = 0;
}

static void emit_enoent(void)
{
	errno = EBADF;
	log_full_errno(LOG_ERR, -ENOENT, "org.test.a", "s1", 0, "cannot open: %m");
	ck_assert_int_eq(errno, EBADF);   /* as it was */
	log_debug("not shown unless verbose");
}

static bool matches(const char *text, const char *pattern)
{
	regex_t re;
	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	bool ok = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

START_TEST(file_lines_have_timestamps)
{
	char path[] = "/tmp/test-log-XXXXXX", out[1024];
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	logged(fd, false, out, sizeof(out), emit_enoent);
	char want[256];
	snprintf(want, sizeof(want), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}[+-][0-9]{4} "
		 "brokerd\\[%d\\] error: org\\.test\\.a/s1: cannot open: No such file or directory\n$", (int)getpid());
	ck_assert_msg(matches(out, want), "logged: '%s'", out);
	close(fd);
}
END_TEST

START_TEST(pipe_lines_have_priorities)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	char out[1024];
	int saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	log_setup(true);
	emit_enoent();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	ssize_t n = read(p[0], out, sizeof(out) - 1);
	out[n < 0 ? 0 : n] = 0;
	ck_assert_str_eq(out, "<3>org.test.a/s1: cannot open: No such file or directory\n"
			      "<7>not shown unless verbose\n");
	close(p[0]);
}
END_TEST

START_TEST(ratelimit_per_uid)
{
	unsigned suppressed = 99;
	for (unsigned i = 0; i < LOG_BURST; i++) {
		ck_assert(log_ratelimit_uid(1000, &suppressed));
		ck_assert_uint_eq(suppressed, 0);
	}
	suppressed = 99;
	ck_assert(!log_ratelimit_uid(1000, &suppressed));
	ck_assert_uint_eq(suppressed, 99);   /* untouched when refused */
	ck_assert(!log_ratelimit_uid(1000, &suppressed));
	/* another uid has a budget of its own, and so do many more */
	for (uid_t u = 2000; u < 2100; u++)
		ck_assert(log_ratelimit_uid(u, &suppressed));
	/* 1000 was pushed out by the newer ones: it starts afresh */
	ck_assert(log_ratelimit_uid(1000, &suppressed));
	ck_assert_uint_eq(suppressed, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_add_test(tc, file_lines_have_timestamps);
	tcase_add_test(tc, pipe_lines_have_priorities);
	tcase_add_test(tc, ratelimit_per_uid);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
