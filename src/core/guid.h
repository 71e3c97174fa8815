/* SPDX-License-Identifier: MIT */
/*
 * GUIDs in the guest's wire order (guid_t: first three fields little
 * endian, facts §7.3), converted from and to the usual text form with
 * libuuid.
 */
#ifndef VMBUSD_CORE_GUID_H
#define VMBUSD_CORE_GUID_H

#include <stdbool.h>

#include "vmbusd/proto/vmbus.h"

#define GUID_STR_LEN 37 /* 36 characters and the NUL */

/* "f8615163-df3e-46c5-913f-f2d2f965ed0e" (braces allowed) -> wire bytes. */
int guid_parse(const char *text, struct guid *out);
void guid_format(const struct guid *g, char out[GUID_STR_LEN]);
void guid_generate(struct guid *out);
bool guid_equal(const struct guid *a, const struct guid *b);
bool guid_is_null(const struct guid *g);

#endif
