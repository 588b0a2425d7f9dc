/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"
#include "wire.h"

#define VALGRIND_ERROR 99

static bool under_valgrind(void)
{
	const char *v = getenv("BROKER_TEST_VALGRIND");
	return v && *v && strcmp(v, "0") != 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

void sec_setup(struct sec_brokerd *b, const char *extra)
{
	*b = (struct sec_brokerd){ .pid = -1 };
	snprintf(b->dir, sizeof(b->dir), "/tmp/broker-sec-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(b->dir));
	ck_assert_int_eq(chmod(b->dir, 0755), 0);
	snprintf(b->socket, sizeof(b->socket), "%s/control", b->dir);
	snprintf(b->conf, sizeof(b->conf), "%s/brokerd.conf", b->dir);
	snprintf(b->apps, sizeof(b->apps), "%s/apps.d", b->dir);
	snprintf(b->log, sizeof(b->log), "%s/brokerd.log", b->dir);
	ck_assert_int_eq(mkdir(b->apps, 0755), 0);
	char text[4096];
	snprintf(text, sizeof(text), "[broker]\nsocket = %s\napps-dir = %s\n%s", b->socket, b->apps,
		 extra ? extra : "");
	write_file(b->conf, text, 0644);
}

void sec_app(struct sec_brokerd *b, const char *file, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", b->apps, file);
	write_file(path, text, 0644);
}

void sec_app_simple(struct sec_brokerd *b, const char *id, uid_t uid, const char *caps)
{
	char file[300], text[1024];
	snprintf(file, sizeof(file), "%s.conf", id);
	snprintf(text, sizeof(text), "[app]\nid = %s\nuser = %u\ncapabilities = %s\n\n"
		 "[activation]\nmethod = exec\ncommand = /bin/true\n", id, (unsigned)uid, caps);
	sec_app(b, file, text);
}

/* argv for brokerd, under valgrind if asked. */
static void exec_brokerd(const char *const *args)
{
	const char *argv[32];
	size_t n = 0;
	if (under_valgrind()) {
		static const char *const vg[] = {
			"valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
			"--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
			"--child-silent-after-fork=yes", "--track-fds=no",
		};
		for (size_t i = 0; i < ARRAY_SIZE(vg); i++)
			argv[n++] = vg[i];
	}
	argv[n++] = BROKERD_PATH;
	for (; *args && n < ARRAY_SIZE(argv) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

void sec_start(struct sec_brokerd *b)
{
	int log = open(b->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(log, 0);
	b->pid = fork();
	ck_assert_int_ge(b->pid, 0);
	if (b->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);   /* a failed test takes brokerd with it */
		dup2(log, STDERR_FILENO);
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		const char *args[] = { "--system", "--config", b->conf, "--verbose", NULL };
		exec_brokerd(args);
	}
	close(log);
	/* Ready when the control socket answers a hello. */
	for (int i = 0; i < 3000; i++) {
		broker *c;
		if (broker_open(b->socket, &c) == 0) {
			broker_close(c);
			sec_fds_settle(b, -1);
			return;
		}
		int status;
		ck_assert_msg(waitpid(b->pid, &status, WNOHANG) == 0, "brokerd exited at start; see %s", b->log);
		usleep(10000);
	}
	ck_abort_msg("brokerd did not answer on %s", b->socket);
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
		exec_brokerd(args);
	}
	close(pipefd[1]);
	size_t used = 0;
	ssize_t n;
	char sink[4096];
	while ((n = read(pipefd[0], out && used + 1 < outlen ? out + used : sink,
			 out && used + 1 < outlen ? outlen - used - 1 : sizeof(sink))) > 0)
		if (out && used + 1 < outlen)
			used += (size_t)n;
	if (out)
		out[used] = 0;
	close(pipefd[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

void sec_stop(struct sec_brokerd *b)
{
	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		int status;
		ck_assert_int_eq(waitpid(b->pid, &status, 0), b->pid);
		b->pid = -1;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			/* brokerd's (or valgrind's) own words, for the test log */
			char line[1024];
			FILE *f = fopen(b->log, "re");
			while (f && fgets(line, sizeof(line), f))
				fputs(line, stderr);
			if (f)
				fclose(f);
		}
		ck_assert_msg(WIFEXITED(status), "brokerd died of signal %d; see %s", WTERMSIG(status), b->log);
		ck_assert_msg(WEXITSTATUS(status) != VALGRIND_ERROR, "valgrind found errors or leaks; see %s", b->log);
		ck_assert_msg(WEXITSTATUS(status) == 0, "brokerd exited with %d; see %s", WEXITSTATUS(status), b->log);
	}
	nftw(b->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int sec_fd_count(const struct sec_brokerd *b)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)b->pid);
	DIR *d = opendir(path);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

void sec_fds_settle(const struct sec_brokerd *b, int want)
{
	/* want < 0: record the baseline once the count stops changing. */
	struct sec_brokerd *mb = (struct sec_brokerd *)b;
	int last = -1, same = 0;
	for (int i = 0; i < 1000; i++) {
		int n = sec_fd_count(b);
		if (want >= 0 && n == want)
			return;
		if (want < 0) {
			same = n == last ? same + 1 : 0;
			last = n;
			if (same >= 5) {
				mb->baseline = n;
				return;
			}
		}
		usleep(10000);
	}
	ck_abort_msg("brokerd has %d fds open, expected %d", sec_fd_count(b), want);
}

bool sec_log_has(const struct sec_brokerd *b, const char *text, int times)
{
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(b->log, "re");
		char *buf = NULL;
		size_t len = 0;
		int found = 0;
		if (f) {
			ssize_t n = getdelim(&buf, &len, 0, f);   /* the whole log: it has no NUL */
			fclose(f);
			for (const char *p = n > 0 ? strstr(buf, text) : NULL; p; p = strstr(p + 1, text))
				found++;
			free(buf);
		}
		if (found >= times)
			return true;
		usleep(10000);
	}
	return false;
}

void sec_begin(struct sec_brokerd *b, const char *extra)
{
	sec_setup(b, extra);
	sec_app_simple(b, SEC_GOOD_APP, 0, "localSocket");
	sec_start(b);
	sec_good_client(b, SEC_GOOD_APP);
	sec_fds_settle(b, b->baseline);
}

void sec_end(struct sec_brokerd *b)
{
	sec_good_client(b, SEC_GOOD_APP);
	sec_fds_settle(b, b->baseline);
	sec_stop(b);
}

int sec_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
