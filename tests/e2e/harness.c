/* SPDX-License-Identifier: MIT */
/* End-to-end harness: one real brokerd per scenario (see harness.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testutil.h"

#define ROOT_ENV "HB_ROOT"

static const char *env_path(const char *name)
{
	const char *p = getenv(name);
	if (!p || p[0] != '/')
		ck_abort_msg("%s must be set to an absolute path (meson sets it)", name);
	return p;
}

uint64_t hb_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t hb_now_ms(void)
{
	return hb_now_us() / 1000u;
}

void hb_nap(void)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

bool hb_exists(const char *path)
{
	return access(path, F_OK) == 0;
}


bool hb_file_contains(const char *path, const char *text)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[HB_LINE_MAX];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

const char *hb_path(const struct hb *b, const char *rel)
{
	static char ring[8][PATH_MAX];
	static unsigned next;
	char *p = ring[next++ % 8];
	snprintf(p, PATH_MAX, "%s/%s", b->dir, rel);
	return p;
}

const char *hb_report(const struct hb *b, const char *app_id)
{
	char rel[300];
	snprintf(rel, sizeof(rel), "%s.report", app_id);
	return hb_path(b, rel);
}

void hb_write(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "we");
	ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
}

void hb_touch(const char *path)
{
	hb_write(path, "%s", "");
}

void hb_init(struct hb *b, const char *name, const char *conf_extra)
{
	*b = (struct hb){ 0 };
	signal(SIGPIPE, SIG_IGN);
	const char *root = getenv(ROOT_ENV);
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->dir, sizeof(b->dir), "%s/%s-XXXXXX", root ? root : "/tmp", name);
	ck_assert_msg(mkdtemp(b->dir) != NULL, "mkdtemp %s: %s", b->dir, strerror(errno));
	int n = snprintf(b->socket, sizeof(b->socket), "%s/control", b->dir);
	ck_assert_msg(n > 0 && (size_t)n < sizeof(b->socket), "scenario path too long for a socket");
	snprintf(b->conf, sizeof(b->conf), "%s/brokerd.conf", b->dir);
	snprintf(b->log, sizeof(b->log), "%s/brokerd.log", b->dir);
	ck_assert_int_eq(mkdir(hb_path(b, "apps.d"), 0755), 0);
	hb_write(b->conf,
		 "[broker]\nsocket = %s\napps-dir = %s/apps.d\n"
		 "[limits]\nactivation-timeout-ms = 5000\nbackoff-initial-ms = 100\nbackoff-max-ms = 400\n%s",
		 b->socket, b->dir, conf_extra ? conf_extra : "");
}

void hb_app(struct hb *b, const char *id, const char *handoff, const char *command)
{
	char rel[300];
	snprintf(rel, sizeof(rel), "apps.d/%s.conf", id);
	hb_write(hb_path(b, rel),
		 "[app]\nid = %s\nuser = %u\n"
		 "capabilities = internetClient internetClientServer privateNetworkClientServer localSocket\n"
		 "[activation]\nmethod = exec\nhandoff = %s\ncommand = %s\n",
		 id, (unsigned)getuid(), handoff, command);
}

const char *hb_lighttpd_app(struct hb *b, const char *id, bool daemonize)
{
	ck_assert_int_eq(mkdir(hb_path(b, "www"), 0755), 0);
	hb_write(hb_path(b, "www/index.html"), "hello from lighttpd\n");
	char conf[PATH_MAX];
	snprintf(conf, sizeof(conf), "%s", hb_path(b, "lighttpd.conf"));
	hb_write(conf, "server.document-root = \"%s\"\nserver.systemd-socket-activation = \"enable\"\n"
		 "server.port = 1\nserver.errorlog = \"%s\"\nindex-file.names = ( \"index.html\" )\n",
		 hb_path(b, "www"), hb_path(b, "lighttpd.log"));
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "/usr/sbin/lighttpd %s-f %s", daemonize ? "" : "-D ", conf);
	hb_app(b, id, "listen-fds", cmd);
	return hb_path(b, "lighttpd.conf");
}

void hb_testapp(struct hb *b, const char *id, const char *options_fmt, ...)
{
	char options[2048] = "", command[4096];
	va_list ap;
	va_start(ap, options_fmt);
	vsnprintf(options, sizeof(options), options_fmt, ap);
	va_end(ap);
	/* brokerd runs in the scenario directory: relative names keep the
	 * line short and readable in logs. */
	snprintf(command, sizeof(command), "%s --report %s.report %s", env_path("TESTAPP"), id, options);
	hb_app(b, id, "libbroker", command);
}

static void dump_file(const char *path, const char *title)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	fprintf(stderr, "----- %s -----\n", title);
	char line[HB_LINE_MAX];
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fprintf(stderr, "----- end of %s -----\n", title);
	fclose(f);
}

/* The brokerd log and every report in a scenario directory. */
static void dump_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		bool report = n > 7 && strcmp(e->d_name + n - 7, ".report") == 0;
		if (strcmp(e->d_name, "brokerd.log") == 0 || report) {
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			dump_file(path, path);
		}
	}
	closedir(d);
}

void hb_dump(const struct hb *b)
{
	dump_dir(b->dir);
}

int hb_fds(const struct hb *b)
{
	return fds_of(b->pid);
}

void hb_assert_fds(const struct hb *b, int n)
{
	if (HB_WAIT(hb_fds(b) == n, HB_WAIT_MS))
		return;
	int now = hb_fds(b);
	hb_dump(b);
	ck_abort_msg("brokerd has %d open fds, expected %d", now, n);
}

static bool exited(struct hb *b, int *status)
{
	pid_t r = waitpid(b->pid, status, WNOHANG);
	return r == b->pid || (r < 0 && errno == ECHILD);
}

void hb_exec_brokerd(const char *const *args)
{
	const char *brokerd = env_path("BROKERD");
	const char *argv[32];
	size_t n = 0;
	const char *vg = getenv("BROKER_TEST_VALGRIND");
	if (vg && *vg && strcmp(vg, "0") != 0) {
		static const char *const memcheck[] = {
			"valgrind", "-q", "--error-exitcode=" HB_STR(HB_VALGRIND_STATUS), "--leak-check=full",
			"--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
			"--child-silent-after-fork=yes",
		};
		for (size_t i = 0; i < sizeof(memcheck) / sizeof(memcheck[0]); i++)
			argv[n++] = memcheck[i];
	}
	argv[n++] = brokerd;
	while (*args && n < sizeof(argv) / sizeof(argv[0]) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	execvp(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

void hb_start(struct hb *b)
{
	(void)env_path("BROKERD");   /* fail here, not in the child */
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* brokerd must not outlive a test that dies half-way. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || chdir(b->dir) < 0)
			_exit(127);
		int log = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (log < 0 || null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(127);
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDNAMES");
		unsetenv("NOTIFY_SOCKET");
		unsetenv("BROKER_SOCKET");
		const char *args[] = { "--config", b->conf, "--verbose", NULL };
		hb_exec_brokerd(args);
	}
	b->pid = pid;

	/* Ready means a hello is answered: the event loop runs. */
	broker *c = NULL;
	int status, r = -1;
	bool died = false;
	bool up = HB_WAIT((died = exited(b, &status)) || (r = broker_open(b->socket, &c)) == 0, HB_WAIT_MS);
	if (!up || died) {
		hb_dump(b);
		if (!died)
			kill(b->pid, SIGKILL), waitpid(b->pid, &status, 0);
		b->pid = 0;
		ck_abort_msg("brokerd did not come up: %s", died ? "it exited" : broker_strerror(r));
	}
	/* The count with our connection, minus it, once brokerd closed its end. */
	int with_client = hb_fds(b);
	broker_close(c);
	b->base_fds = with_client - 1;
	hb_assert_fds(b, b->base_fds);
}

void hb_stop(struct hb *b, int sig)
{
	ck_assert_int_gt(b->pid, 0);
	ck_assert_int_eq(kill(b->pid, sig), 0);
	int status = 0;
	bool gone = HB_WAIT(exited(b, &status), HB_WAIT_MS);
	if (!gone) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, &status, 0);
	}
	b->pid = 0;
	if (!gone || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		hb_dump(b);
		ck_abort_msg("brokerd did not exit cleanly on signal %d: %s %d%s", sig,
			     !gone ? "still running, killed" : WIFEXITED(status) ? "exit status" : "signal",
			     !gone ? 0 : WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			     gone && WIFEXITED(status) && WEXITSTATUS(status) == HB_VALGRIND_STATUS
				     ? " (valgrind found errors or definite leaks)" : "");
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void hb_finish(struct hb *b)
{
	if (b->pid > 0)
		hb_stop(b, SIGTERM);
	if (!getenv("HB_KEEP"))
		rm_rf(b->dir);
}

void hb_diag(const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	dprintf(STDOUT_FILENO, "# %s\n", text);
}

int hb_run_suite(Suite *s)
{
	const char *tmp = getenv("TMPDIR");
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/broker-e2e-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	setenv(ROOT_ENV, root, 1);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	if (getenv("HB_KEEP")) {
		fprintf(stderr, "HB_KEEP: scenario directories kept under %s\n", root);
		return failed ? 1 : 0;
	}
	/* A passing scenario removed its directory: what is left failed. */
	DIR *d = opendir(root);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[PATH_MAX + 256];
		snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
		fprintf(stderr, "===== unfinished scenario %s =====\n", e->d_name);
		dump_dir(path);
	}
	if (d)
		closedir(d);
	rm_rf(root);
	return failed ? 1 : 0;
}
