/* SPDX-License-Identifier: MIT */
/* CRC-32C (Castagnoli), for the registry log's records.  None of our
 * dependencies that brokerd links exports a plain checksum. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, buf, len) starts a checksum; pass the result back in to go on. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
