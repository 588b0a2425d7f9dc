/* SPDX-License-Identifier: MIT */
/*
 * Test-only hooks, for the systemd suite (tests/systemd/README.md).  No
 * production setup sets these variables; they only make brokerd fail in
 * ways a test must be able to force:
 *   BROKER_TEST_TEAR=FILE   FILE names a registry write (put, update,
 *                           remove, snapshot or header).  At start brokerd
 *                           reads and deletes FILE; the first such write
 *                           then stops halfway and brokerd kills itself
 *                           with SIGKILL: a crash in the middle of an update.
 *   BROKER_TEST_BLOCK_SIGNAL=1
 *                           SIGUSR2 blocks the event loop for good: a hung
 *                           brokerd for the watchdog to catch.
 */
#pragma once

struct daemon;

/* Before the restore, so that a snapshot or header tear hits its compaction. */
void testhook_setup(struct daemon *d);
