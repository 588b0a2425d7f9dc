/* SPDX-License-Identifier: MIT */
/*
 * broker-bench [--out DIR] [--quick] SCENARIO...
 *
 * Scenarios: handoff activation frozen keeper wss memory idle storm upgrade callgrind (or "all" for
 * these), sd-activation and sd-handoff (run by tests/bench/systemd-bench.sh), and
 * report (table and summary.md from DIR/results.csv).
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

const char *bench_brokerd = BENCH_BROKERD;
const char *bench_app = BENCH_APP;

static void usage(FILE *f)
{
	fprintf(f, "Usage: broker-bench [--out DIR] [--quick] SCENARIO...\n"
		"Scenarios: handoff activation frozen keeper wss memory idle storm upgrade callgrind all\n"
		"           sd-activation PORT WAKE-SOCKET, sd-handoff (from tests/bench/systemd-bench.sh)\n"
		"           report\n"
		"           free-port (print a free TCP port on 127.0.0.1)\n"
		"Results go to DIR (default bench-out): results.csv, *.dat, summary.md.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	B.out = "bench-out";
	int c;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': B.out = optarg; break;
		case 'q': B.quick = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *env = getenv("BENCH_BROKERD");
	if (env && *env)
		bench_brokerd = env;
	env = getenv("BENCH_APP");
	if (env && *env)
		bench_app = env;

	if (strcmp(argv[optind], "free-port") == 0) {
		printf("%u\n", free_port());
		return 0;
	}
	mkdir(B.out, 0755);
	if (strcmp(argv[optind], "report") == 0)
		return run_report();

	B.csv = fopen(out_path("results.csv"), "ae");
	if (!B.csv)
		die("%s: %m", out_path("results.csv"));
	if (ftell(B.csv) == 0)
		fprintf(B.csv, "scenario,subject,metric,value,unit,target\n");
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	static const struct {
		const char *name;
		void (*run)(void);
	} scenarios[] = {
		{ "handoff", run_handoff },
		{ "activation", run_activation },
		{ "frozen", run_frozen },
		{ "keeper", run_keeper },
		{ "wss", run_wss },
		{ "memory", run_memory },
		{ "idle", run_idle },
		{ "storm", run_storm },
		{ "upgrade", run_upgrade },
		{ "callgrind", run_callgrind },
	};
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "sd-handoff") == 0) {
			run_sd_handoff();
			continue;
		}
		if (strcmp(argv[i], "sd-activation") == 0) {
			run_sd_activation(argc - i - 1, argv + i + 1);
			break;
		}
		bool all = strcmp(argv[i], "all") == 0, found = all;
		for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++)
			if (all || strcmp(argv[i], scenarios[k].name) == 0) {
				scenarios[k].run();
				found = true;
			}
		if (!found) {
			usage(stderr);
			return 2;
		}
	}
	fclose(B.csv);
	return 0;
}
