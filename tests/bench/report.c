/* SPDX-License-Identifier: MIT */
/* The terminal table and DIR/summary.md, from DIR/results.csv. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* "met", "MISSED" or "" for a value against a target like "<= 1.25". */
static const char *verdict(double v, const char *target)
{
	char op[3] = "";
	double t;
	if (sscanf(target, "%2[<>=] %lf", op, &t) != 2)
		return "";
	bool ok = strcmp(op, "<=") == 0 ? v <= t : strcmp(op, ">=") == 0 ? v >= t
		: strcmp(op, "<") == 0 ? v < t : strcmp(op, ">") == 0 ? v > t
		: strcmp(op, "==") == 0 ? v == t : false;
	return ok ? "met" : "MISSED";
}

static void format_value(char *buf, size_t size, double v)
{
	if (v != 0 && (v >= 1e6 || v < 0.01) && v > -1e6)
		snprintf(buf, size, "%.4g", v);
	else if (v == (long long)v)
		snprintf(buf, size, "%lld", (long long)v);
	else
		snprintf(buf, size, "%.3f", v);
}

/* Split one CSV line in place into at most n fields (quotes as RFC 4180). */
static int csv_split(char *line, char **col, int n)
{
	int k = 0;
	char *p = line;
	while (k < n) {
		char *w = p;
		col[k++] = w;
		if (*p == '"') {
			for (p++; *p; p++) {
				if (*p == '"' && p[1] == '"')
					*w++ = *p++;
				else if (*p == '"')
					break;
				else
					*w++ = *p;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',')
				*w++ = *p++;
		}
		bool more = *p == ',';
		*w = 0;
		if (!more)
			break;
		p++;
	}
	return k;
}

int run_report(void)
{
	FILE *f = fopen(out_path("results.csv"), "re");
	if (!f)
		die("%s: %m", out_path("results.csv"));
	FILE *md = fopen(out_path("summary.md"), "we");
	if (!md)
		die("%s: %m", out_path("summary.md"));
	fprintf(md, "| scenario | subject | metric | value | unit | target | |\n"
		"|---|---|---|---:|---|---|---|\n");
	printf("%-10s  %-32s  %-24s  %12s  %-9s  %-8s  %s\n", "scenario", "subject", "metric", "value",
	       "unit", "target", "");
	char line[1024], last[64] = "";
	unsigned met = 0, missed = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *col[6];
		if (csv_split(line, col, 6) != 6 || strcmp(col[0], "scenario") == 0)
			continue;
		double v = strtod(col[3], NULL);
		const char *vd = verdict(v, col[5]);
		met += strcmp(vd, "met") == 0;
		missed += strcmp(vd, "MISSED") == 0;
		char value[32];
		format_value(value, sizeof(value), v);
		if (strcmp(last, col[0]) != 0 && last[0])
			putchar('\n');
		snprintf(last, sizeof(last), "%s", col[0]);
		printf("%-10s  %-32s  %-24s  %12s  %-9s  %-8s  %s\n", col[0], col[1], col[2], value, col[4],
		       col[5], vd);
		fprintf(md, "| %s | %s | %s | %s | %s | %s | %s |\n", col[0], col[1], col[2], value, col[4],
			col[5], vd);
	}
	printf("\ntargets met: %u, missed: %u\n", met, missed);
	fclose(f);
	fclose(md);
	return 0;
}
