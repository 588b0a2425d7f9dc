/* SPDX-License-Identifier: MIT */
/*
 * The test app's report: one line per event, appended with a single write()
 * so lines from overlapping instances never interleave.
 *
 *   KIND key=value key=value ...
 *
 * KIND is one of start, handback, retransfer, crash, noack, hang, error, exit
 * (testapp.c says when each is written).  Values never contain blanks: bytes
 * outside printable ASCII, the blank, '\\', '[' and ']' are written as \xHH,
 * other bytes as themselves (report_escape()).  Record-oriented data
 * (datagrams, seqpacket records) is written as one [escaped] group per
 * record, so an empty datagram shows as [].
 */
#pragma once

#include <stddef.h>
#include <stdio.h>

/* Escape len bytes of data into out (size bytes, always NUL-terminated);
 * returns the length the full escape needs (like snprintf). */
static inline size_t report_escape(const void *data, size_t len, char *out, size_t size)
{
	const unsigned char *p = data;
	size_t used = 0, written = 0;
	for (size_t i = 0; i < len; i++) {
		char tmp[5];
		unsigned c = p[i];
		size_t n;
		if (c > ' ' && c < 0x7f && c != '\\' && c != '[' && c != ']') {
			tmp[0] = (char)c;
			n = 1;
		} else {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		}
		if (written == used && used + n < size) {   /* never a partial escape */
			for (size_t k = 0; k < n; k++)
				out[used + k] = tmp[k];
			written += n;
		}
		used += n;
	}
	if (size)
		out[written] = 0;
	return used;
}
