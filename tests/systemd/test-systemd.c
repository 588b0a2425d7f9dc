/* SPDX-License-Identifier: MIT */
/*
 * brokerd under a real systemd user manager (tests/systemd/ns-run.sh):
 * wake-socket activation, its failures, restart and SIGKILL with the fd
 * store, torn metadata writes, the watchdog, identity by unit.  Each test
 * case runs in a namespace of its own (meson selects it with CK_RUN_CASE).
 */
#include <check.h>

#include "sdtest.h"
#include "testutil.h"

void sd_add_case_timeout(Suite *s, const char *name, const TTest *test, double seconds)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, seconds);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

void sd_add_case(Suite *s, const char *name, const TTest *test)
{
	sd_add_case_timeout(s, name, test, 150);
}

int main(void)
{
	Suite *s = suite_create("systemd");
	sd_wake_cases(s);
	sd_limit_cases(s);
	sd_restart_cases(s);
	sd_crash_cases(s);
	sd_fdstore_cases(s);
	sd_bucket_cases(s);
	sd_journal_cases(s);
	sd_instance_cases(s);
	sd_freeze_cases(s);
	return run_suite(s);
}
