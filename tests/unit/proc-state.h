/* SPDX-License-Identifier: MIT */
/* A process's state as /proc shows it, for the suites and the benchmark
 * (no Check here: the benchmark does not link it). */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* Is pid stopped (SIGSTOP, state T)?  False if it is gone. */
static inline bool proc_stopped(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');   /* the name may hold anything */
	return p && p[1] == ' ' && p[2] == 'T';
}
