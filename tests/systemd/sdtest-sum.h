/* SPDX-License-Identifier: MIT */
/* The checksum the systemd suite's app answers with (FNV-1a, 32 bits). */
#pragma once

#include <stddef.h>
#include <stdint.h>

static inline uint32_t sdtest_sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}
