/* SPDX-License-Identifier: MIT */
/* Output, statistics and /proc readers for broker-bench. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct bench B;

static void vsay(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "broker-bench: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay("", fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay("fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

/* A CSV field, quoted when it holds a comma or a quote. */
static void csv_field(const char *s, char sep)
{
	if (!strpbrk(s, ",\"")) {
		fprintf(B.csv, "%s%c", s, sep);
		return;
	}
	fputc('"', B.csv);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', B.csv);
		fputc(*s, B.csv);
	}
	fprintf(B.csv, "\"%c", sep);
}

void result(const char *scenario, const char *subject, const char *metric,
	    double value, const char *unit, const char *target)
{
	csv_field(scenario, ',');
	csv_field(subject, ',');
	csv_field(metric, ',');
	fprintf(B.csv, "%.6g,", value);
	csv_field(unit, ',');
	csv_field(target ? target : "", '\n');
	fflush(B.csv);
	note("  %-10s %-28s %-22s %12.6g %-8s %s", scenario, subject, metric, value, unit,
	     target ? target : "");
}

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void samples_add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double samples_quantile(struct samples *s, double q)
{
	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	/* nearest rank */
	size_t i = (size_t)(q * (double)s->n + 0.5);
	if (i > 0)
		i--;
	if (i >= s->n)
		i = s->n - 1;
	return s->v[i];
}

void samples_write(struct samples *s, const char *name)
{
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	FILE *f = fopen(out_path(name), "we");
	if (!f)
		die("%s: %m", out_path(name));
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "%.3f %.5f\n", s->v[i], (double)(i + 1) / (double)s->n);
	fclose(f);
}

void samples_free(struct samples *s)
{
	free(s->v);
	*s = (struct samples){ 0 };
}

void samples_report_ms(struct samples *s, const char *scenario, const char *subject, const char *file,
		       double *med, double *p99)
{
	*med = samples_quantile(s, 0.5) / 1e3;
	*p99 = samples_quantile(s, 0.99) / 1e3;
	result(scenario, subject, "median", *med, "ms", NULL);
	result(scenario, subject, "p99", *p99, "ms", NULL);
	samples_write(s, file);
	samples_free(s);
}

void samples_report_pair_ms(struct samples s[2], const char *scenario, const char *const names[2],
			    const char *const files[2], const char *ratio, const char *target)
{
	double med[2], p99[2];
	for (unsigned v = 0; v < 2; v++)
		samples_report_ms(&s[v], scenario, names[v], files[v], &med[v], &p99[v]);
	result(scenario, ratio, "median ratio", med[1] / med[0], "x", target);
	result(scenario, ratio, "p99 ratio", p99[1] / p99[0], "x", target);
}

const char *out_path(const char *name)
{
	static char buf[4][512];
	static unsigned next;
	char *p = buf[next++ % 4];
	snprintf(p, sizeof(buf[0]), "%s/%s", B.out, name);
	return p;
}

unsigned long raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

/* The number after "key:" in a file of such lines, or -1. */
static long key_value(const char *path, const char *key)
{
	char line[256];
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t klen = strlen(key);
	long v = -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

long proc_status(pid_t pid, const char *key)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return key_value(path, key);
}

long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* after "(comm)": state is field 3, utime 14, stime 15 */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long utime, stime;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
		return -1;
	return (long)(utime + stime);
}

long meminfo_kb(const char *key)
{
	return key_value("/proc/meminfo", key);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int run_wait(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
