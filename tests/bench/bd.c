/* SPDX-License-Identifier: MIT */
/* One brokerd under test: its own directory, configuration and apps. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

void bd_init(struct bd *d, const char *limits_extra)
{
	*d = (struct bd){ 0 };
	snprintf(d->dir, sizeof(d->dir), "/tmp/broker-bench-XXXXXX");
	if (!mkdtemp(d->dir))
		die("mkdtemp: %m");
	snprintf(d->sock, sizeof(d->sock), "%s/control", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/brokerd.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/brokerd.log", d->dir);
	char apps[192];
	snprintf(apps, sizeof(apps), "%s/apps.d", d->dir);
	if (mkdir(apps, 0755) < 0)
		die("mkdir %s: %m", apps);
	FILE *f = fopen(d->conf, "we");
	if (!f)
		die("%s: %m", d->conf);
	/* Room for the largest scenario; activation timeouts long enough
	 * that a loaded machine does not turn a slow start into a failure. */
	fprintf(f, "[broker]\nsocket = %s\napps-dir = %s\n\n[limits]\n"
		"max-held = 18000\nmax-held-per-app = 18000\n"
		"activation-timeout-ms = 30000\nclient-timeout-ms = 30000\n%s\n",
		d->sock, apps, limits_extra ? limits_extra : "");
	fclose(f);
}

void bd_app(struct bd *d, const char *id, const char *activation)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/apps.d/%s.conf", d->dir, id);
	FILE *f = fopen(path, "we");
	if (!f)
		die("%s: %m", path);
	fprintf(f, "[app]\nid = %s\nuser = %u\n"
		"capabilities = internetClient internetClientServer privateNetworkClientServer localSocket\n\n"
		"[activation]\n%s\n", id, (unsigned)getuid(), activation);
	fclose(f);
}

void bd_start(struct bd *d, const char *const *prefix, int timeout_ms)
{
	const char *argv[16];
	size_t n = 0;
	for (; prefix && prefix[n] && n < 12; n++)
		argv[n] = prefix[n];
	argv[n++] = bench_brokerd;
	argv[n++] = "--config";
	argv[n++] = d->conf;
	argv[n] = NULL;

	pid_t parent = getpid();
	d->pid = fork();
	if (d->pid < 0)
		die("fork: %m");
	if (d->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		int log = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (log < 0 || null < 0)
			_exit(127);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
		if (chdir(d->dir) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		broker *b;
		if (broker_open(d->sock, &b) == 0) {
			broker_close(b);
			return;
		}
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			die("brokerd did not start (see %s)", d->log);
		}
		if (mono_ns() > deadline)
			die("brokerd did not answer within %d ms (see %s)", timeout_ms, d->log);
		sleep_ms(5);
	}
}

void bd_stop(struct bd *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	uint64_t deadline = mono_ns() + 60000000000ull;
	for (;;) {
		int status;
		pid_t r = waitpid(d->pid, &status, WNOHANG);
		if (r == d->pid || (r < 0 && errno != EINTR))
			break;
		if (mono_ns() > deadline) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &status, 0);
			break;
		}
		sleep_ms(2);
	}
	d->pid = 0;
}

void bd_cleanup(struct bd *d)
{
	bd_stop(d);
	if (d->dir[0])
		rm_tree(d->dir);
	d->dir[0] = 0;
}

broker *bd_connect(struct bd *d, const char *app_id)
{
	broker *b;
	int r = bd_open(d->sock, app_id, true, &b);
	if (r < 0)
		die("connect to brokerd%s%s: %s (%s)", app_id ? " as " : "", app_id ? app_id : "", broker_strerror(r),
		    broker_last_message(NULL));
	return b;
}

int bd_open(const char *sock, const char *app_id, bool in_hello, broker **ret)
{
	if (in_hello || !app_id)
		return broker_open_app(sock, app_id, BROKER_DEFAULT_TIMEOUT_MS, ret);
	broker *b;
	int r = broker_open(sock, &b);
	if (r == 0 && (r = broker_register(b, app_id)) < 0)
		b = broker_close(b);
	if (r == 0)
		*ret = b;
	return r;
}

static bool app_idle(broker *b, const char *app_id, bool any_state)
{
	broker_app **apps;
	int n = broker_list_apps(b, &apps);
	if (n < 0)
		die("list apps: %s", broker_strerror(n));
	bool idle = false;
	for (int i = 0; i < n; i++)
		if (strcmp(apps[i]->id, app_id) == 0)
			idle = (any_state || apps[i]->state == BROKER_APP_IDLE) && apps[i]->pid == 0;
	broker_app_list_free(apps);
	return idle;
}

void bd_wait_idle(broker *b, const char *app_id, int timeout_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	while (!app_idle(b, app_id, false)) {
		if (mono_ns() > deadline)
			die("app %s still active after %d ms", app_id, timeout_ms);
		sleep_ms(1);
	}
}

bool bd_wait_exited(broker *b, const char *app_id, int timeout_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	while (!app_idle(b, app_id, true)) {
		if (mono_ns() > deadline)
			return false;
		sleep_ms(1);
	}
	return true;
}

void held_set_init(struct held_set *s, unsigned cap)
{
	*s = (struct held_set){ .clients = calloc(cap, sizeof(int)) };
	s->listener = tcp_listener(&s->port);
	if (!s->clients)
		die("out of memory");
}

void held_set_add(struct held_set *s, broker *b, const char *prefix, unsigned n, uint32_t keepalive_sec)
{
	for (unsigned i = 0; i < n; i++, s->n++) {
		int c, fd;
		char id[64];
		tcp_pair(s->listener, s->port, &c, &fd);
		snprintf(id, sizeof(id), "%s%05u", prefix, s->n);
		int r = broker_transfer(b, id, fd, NULL, 0, keepalive_sec);
		if (r < 0)
			die("transfer %s: %s (%s)", id, broker_strerror(r), broker_last_message(b));
		s->clients[s->n] = c;
	}
}

void held_set_close(struct held_set *s)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->clients[i] >= 0)
			close(s->clients[i]);
	free(s->clients);
	close(s->listener);
	*s = (struct held_set){ 0 };
}

double bd_exchange(broker *b, int listener, uint16_t port, const char *id, int *ret_peer)
{
	int c, s;
	tcp_pair(listener, port, &c, &s);
	int r = broker_transfer(b, id, s, NULL, 0, 0);
	if (r < 0)
		die("transfer: %s (%s)", broker_strerror(r), broker_last_message(b));
	uint64_t t0 = mono_ns();
	if (write(c, "x", 1) != 1)
		die("write: %m");
	expect_answer(c, id);
	*ret_peer = c;
	return (double)(mono_ns() - t0) / 1e3;
}
