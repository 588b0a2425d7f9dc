/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the Check suites. */
#pragma once

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Open fds of process pid, as /proc/PID/fd lists them; -1 if the process
 * is gone (callers that poll for a count use this one). */
static inline int fds_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The same, failing the test if the process cannot be looked at. */
static inline int count_fds_of(pid_t pid)
{
	int n = fds_of(pid);
	ck_assert_msg(n >= 0, "cannot list /proc/%d/fd", (int)pid);
	return n;
}

/* Open fds of this process. */
static inline int count_fds(void)
{
	return count_fds_of(getpid()) - 1;   /* the directory's own fd */
}

static inline bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static inline bool fd_is_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);
	return flags >= 0 && (flags & FD_CLOEXEC);
}

/* Run fn(arg) in a child process that exits with its result; returns the
 * pid.  The caller reaps it with wait_child(). */
static inline pid_t run_child(int (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

/* Reap pid and insist that it exited with status 0. */
static inline void wait_child(pid_t pid)
{
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status 0x%x)", status);
}

/* A fresh private directory under $TMPDIR (or /tmp), e.g. for socket
 * files; the caller removes it with remove_tree(). */
static inline char *make_temp_dir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;
	ck_assert_int_ge(asprintf(&path, "%s/broker-test-XXXXXX", base && *base ? base : "/tmp"), 0);
	ck_assert_ptr_nonnull(mkdtemp(path));
	return path;
}

static inline int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void remove_tree(char *path)
{
	ck_assert_int_eq(nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(path);
}

/* A private directory for each test of a TCase:
 * tcase_add_checked_fixture(tc, temp_dir_setup, temp_dir_teardown). */
static inline char **temp_dir_slot(void)
{
	static char *dir;
	return &dir;
}
#define TEMP_DIR (*temp_dir_slot())

static inline void temp_dir_setup(void)
{
	TEMP_DIR = make_temp_dir();
}

static inline void temp_dir_teardown(void)
{
	remove_tree(TEMP_DIR);
	TEMP_DIR = NULL;
}

/* Write a file from a format. */
static inline void __attribute__((format(printf, 2, 3))) write_text(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "we");
	ck_assert_msg(f != NULL, "cannot write %s", path);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
}

/* Write text to TEMP_DIR/name. */
static inline void write_temp_file(const char *name, const char *text)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", TEMP_DIR, name);
	FILE *f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Run the suite with TAP output where CK_TAP_LOG_FILE_NAME asks for it. */
static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
