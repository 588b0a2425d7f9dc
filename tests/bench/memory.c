/* SPDX-License-Identifier: MIT */
/*
 * Memory: brokerd's RSS at 0, 1k, 5k and 15k held loopback TCP sockets
 * (the remote ends stay in this process), the least-squares slope in bytes
 * per held socket, and beside it the kernel's slab growth over the same
 * steps (/proc/meminfo Slab: machine-wide, so both ends of each connection
 * and anything else the machine did meanwhile; a guide, not a figure to
 * compare with brokerd's).
 */
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

static double slope(const double *x, const double *y, unsigned n)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0;
	for (unsigned i = 0; i < n; i++) {
		sx += x[i];
		sy += y[i];
		sxx += x[i] * x[i];
		sxy += x[i] * y[i];
	}
	return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

void run_memory(void)
{
	static const unsigned full[] = { 0, 1000, 5000, 15000 }, quick[] = { 0, 1000, 3000, 5000 };
	const unsigned *levels = B.quick ? quick : full;
	const unsigned nlevels = 4, max = levels[nlevels - 1];
	note("memory: RSS at %u, %u, %u and %u held sockets", levels[0], levels[1], levels[2], levels[3]);

	struct bd d;
	bd_init(&d, NULL);
	bd_app(&d, "bench.mem", "method = exec\ncommand = /bin/false");
	bd_start(&d, NULL, 10000);
	broker *b = bd_connect(&d, "bench.mem");
	struct held_set set;
	held_set_init(&set, max);

	FILE *dat = fopen(out_path("memory.dat"), "we");
	if (!dat)
		die("%s: %m", out_path("memory.dat"));
	fprintf(dat, "# held rss_kib slab_growth_kib\n");
	double x[4], rss[4], slab[4];
	long slab0 = meminfo_kb("Slab");
	for (unsigned i = 0; i < nlevels; i++) {
		held_set_add(&set, b, "m", levels[i] - set.n, 0);
		unsigned held = set.n;
		sleep_ms(300);   /* let the kernel's deferred frees settle */
		x[i] = held;
		rss[i] = (double)proc_status(d.pid, "VmRSS") * 1024;
		slab[i] = (double)(meminfo_kb("Slab") - slab0) * 1024;
		fprintf(dat, "%u %.0f %.0f\n", held, rss[i] / 1024, slab[i] / 1024);
		char metric[64];
		snprintf(metric, sizeof(metric), "RSS at %u", held);
		result("memory", "brokerd", metric, rss[i] / 1024, "KiB", NULL);
	}
	fclose(dat);
	result("memory", "brokerd", "RSS slope", slope(x, rss, nlevels), "B/socket", "<= 256");
	result("memory", "brokerd", "RSS growth 0..max", (rss[nlevels - 1] - rss[0]) / max, "B/socket", NULL);
	result("memory", "kernel slab (both ends)", "slope", slope(x, slab, nlevels), "B/conn", NULL);

	held_set_close(&set);
	broker_close(b);
	bd_cleanup(&d);
}
