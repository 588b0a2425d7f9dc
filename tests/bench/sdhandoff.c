/* SPDX-License-Identifier: MIT */
/*
 * Hand-off with many sockets held, under the real user manager and
 * without it, run by tests/bench/systemd-bench.sh inside the systemd
 * suite's namespace:
 *   for 0, 5 000 and 10 000 held: transfer + claim of one more socket over
 *   one connection, brokerd as a Type=notify unit with its fd store, and
 *   brokerd as a plain child (no fd store), rounds alternating;
 *   the manager's NFileDescriptorStore at each count, and its own open
 *   fds (/proc/PID/fd: the stored ones, and everything else it keeps);
 *   with 15 000 held (--quick: 3 000): kill -9 to every socket back (the
 *   new brokerd answers and lists all of them).
 * Bounded: a fixed number of operations per point, and a timeout on each
 * wait.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "bench.h"

#define APP "bench.held"
#define UNIT "bench-brokerd.service"

static sd_bus *bus;

/* A uint32 property of the brokerd unit's Service interface. */
static uint32_t unit_property(const char *name)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	uint32_t n = 0;
	char *path = NULL;
	if (sd_bus_path_encode("/org/freedesktop/systemd1/unit", UNIT, &path) < 0)
		die("unit path");
	if (sd_bus_get_property_trivial(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Service",
					name, &err, 'u', &n) < 0)
		die("%s: %s", name, err.message ? err.message : "?");
	sd_bus_error_free(&err);
	free(path);
	return n;
}

static uint32_t manager_stored(void)
{
	return unit_property("NFileDescriptorStore");
}

/* The manager's own open fds (/proc/PID/fd), not only the stored ones:
 * its pid is the parent of brokerd's, the unit's MainPID. */
static uint32_t manager_fds(void)
{
	uint32_t main_pid = unit_property("MainPID");
	char file[64];
	snprintf(file, sizeof(file), "/proc/%u/stat", main_pid);
	FILE *f = fopen(file, "re");
	int manager = 0;
	if (!f || fscanf(f, "%*d (%*[^)]) %*c %d", &manager) != 1)
		die("%s: no parent", file);
	fclose(f);
	snprintf(file, sizeof(file), "/proc/%d/fd", manager);
	DIR *dir = opendir(file);
	if (!dir)
		die("%s: %m", file);
	uint32_t n = 0;
	for (struct dirent *e; (e = readdir(dir));)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* brokerd as a unit of the manager, socket-activated as shipped (its fd
 * store comes with LISTEN_FDS), with d's configuration. */
static void unit_write(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void unit_write(const char *name, const char *fmt, ...)
{
	const char *units = getenv("SDTEST_UNITS");
	if (!units)
		die("SDTEST_UNITS is not set: run from tests/bench/systemd-bench.sh");
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", units, name);
	FILE *f = fopen(path, "we");
	if (!f)
		die("%s: %m", path);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

static void unit_start(struct bd *d)
{
	unit_write("bench-brokerd.socket", "[Unit]\nDefaultDependencies=no\n[Socket]\nListenSequentialPacket=%s\n"
		   "FileDescriptorName=control\nSocketMode=0600\nTriggerLimitIntervalSec=0\n", d->sock);
	unit_write(UNIT, "[Unit]\nDefaultDependencies=no\nStartLimitIntervalSec=0\n[Service]\nType=notify\n"
		   "ExecStart=%s --config %s\nRestart=always\nRestartSec=0\nFileDescriptorStoreMax=20000\n"
		   "LimitNOFILE=20000\n", bench_brokerd, d->conf);
	if (system("systemctl --user daemon-reload && systemctl --user start bench-brokerd.socket " UNIT) != 0)
		die("cannot start " UNIT);
}

static void unit_stop(void)
{
	if (system("systemctl --user stop bench-brokerd.socket " UNIT) != 0)
		note("cannot stop " UNIT);
}

static const unsigned counts[] = { 0, 5000, 10000 };
#define NCOUNTS 3

/* One brokerd (a unit of the manager, or a plain child) raised to each
 * count in turn (the test process keeps every peer: one brokerd at a
 * time fits the fd limit); the median hand-off at each, and what the
 * manager stores. */
static void run_series(bool systemd, unsigned steps, double *med, uint32_t *stored, uint32_t *mgr_fds)
{
	unsigned rounds = B.quick ? 5 : 30, n = 100;
	struct bd d;
	bd_init(&d, "max-held = 16000\nmax-held-per-app = 16000");
	bd_app(&d, APP, "method = exec\ncommand = /bin/false");
	if (systemd)
		unit_start(&d);
	else
		bd_start(&d, NULL, 10000);
	broker *b = bd_connect(&d, APP);
	struct held_set hs;
	held_set_init(&hs, counts[NCOUNTS - 1]);
	int probe, peer;
	tcp_pair(hs.listener, hs.port, &peer, &probe);
	for (unsigned c = 0; c < steps; c++) {
		held_set_add(&hs, b, "h", counts[c] - hs.n, 0);
		struct samples s = { 0 };
		for (unsigned r = 0; r <= rounds; r++) {
			double us = handoff_round(b, "probe", &probe, n);
			if (r)
				samples_add(&s, us);
		}
		med[c] = samples_quantile(&s, 0.5);
		samples_free(&s);
		if (systemd) {
			stored[c] = manager_stored();
			mgr_fds[c] = manager_fds();
		}
	}
	close(probe);
	close(peer);
	held_set_close(&hs);
	broker_close(b);
	if (systemd)
		unit_stop();
	else
		bd_stop(&d);
	bd_cleanup(&d);
}

static void run_counts(void)
{
	unsigned steps = B.quick ? 2 : NCOUNTS;
	double med[2][NCOUNTS];
	uint32_t stored[NCOUNTS], mgr_fds[NCOUNTS];
	run_series(true, steps, med[0], stored, mgr_fds);
	run_series(false, steps, med[1], stored, mgr_fds);
	FILE *dat = fopen(out_path("sd-handoff.dat"), "we");
	if (!dat)
		die("sd-handoff.dat: %m");
	fprintf(dat, "# held  systemd_us  plain_us\n");
	for (unsigned c = 0; c < steps; c++) {
		char subject[64];
		snprintf(subject, sizeof(subject), "%u held, under systemd", counts[c]);
		result("sd-handoff", subject, "us/op", med[0][c], "us", NULL);
		snprintf(subject, sizeof(subject), "%u held, no systemd", counts[c]);
		result("sd-handoff", subject, "us/op", med[1][c], "us", NULL);
		snprintf(subject, sizeof(subject), "%u held: systemd / none", counts[c]);
		result("sd-handoff", subject, "time ratio", med[0][c] / med[1][c], "x",
		       counts[c] == 10000 ? "<= 1.5" : NULL);
		snprintf(subject, sizeof(subject), "%u held", counts[c]);
		result("sd-handoff", subject, "manager's stored fds", stored[c], "fds", NULL);
		result("sd-handoff", subject, "manager's open fds", mgr_fds[c], "fds", NULL);
		fprintf(dat, "%u %.2f %.2f\n", counts[c], med[0][c], med[1][c]);
	}
	fclose(dat);
}

/* kill -9 with many held; the time until the new brokerd has them all. */
static void run_restore(void)
{
	unsigned n = B.quick ? 3000 : 15000;
	struct bd sd;
	bd_init(&sd, "max-held = 16000\nmax-held-per-app = 16000");
	bd_app(&sd, APP, "method = exec\ncommand = /bin/false");
	unit_start(&sd);
	broker *b = bd_connect(&sd, APP);
	struct held_set hs;
	held_set_init(&hs, n);
	uint64_t t0 = mono_ns();
	held_set_add(&hs, b, "r", n, 0);
	double fill = (double)(mono_ns() - t0) / 1e9;
	broker_status st;
	if (broker_get_status(b, &st) < 0)
		die("status");
	broker_close(b);
	uint32_t stored = manager_stored(), mgr = manager_fds();
	t0 = mono_ns();
	if (system("systemctl --user kill -s KILL " UNIT) != 0)
		die("cannot kill " UNIT);
	uint64_t deadline = t0 + 30000000000ull;
	unsigned got = 0;
	while (got != n) {
		if (mono_ns() > deadline)
			die("after kill -9: %u of %u held after 30 s", got, n);
		sleep_ms(5);
		broker_status now;
		if (broker_open(sd.sock, &b) == 0) {
			got = broker_get_status(b, &now) == 0 && now.pid != st.pid ? now.held : 0;
			broker_close(b);
		}
	}
	double back = (double)(mono_ns() - t0) / 1e9;
	char subject[64];
	snprintf(subject, sizeof(subject), "%u held: transfers under systemd", n);
	result("sd-restore", subject, "time", fill, "s", NULL);
	snprintf(subject, sizeof(subject), "%u held: kill -9 to all back", n);
	result("sd-restore", subject, "time", back, "s", "<= 1");
	snprintf(subject, sizeof(subject), "%u held", n);
	result("sd-restore", subject, "manager's stored fds", stored, "fds", NULL);
	result("sd-restore", subject, "manager's open fds", mgr, "fds", NULL);
	held_set_close(&hs);
	unit_stop();
	bd_cleanup(&sd);
}

void run_sd_handoff(void)
{
	int r = sd_bus_open_user(&bus);
	if (r < 0)
		die("user bus: %s", strerror(-r));
	note("hand-off with sockets held, under the user manager and without it");
	run_counts();
	run_restore();
	sd_bus_unref(bus);
}
