/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The COWSHARE_1.0 entry points of the info calls, which cowshare.h hides
 * behind its macros: programs linked before the _sized calls existed still
 * call them. Declared for the library, which defines them, and for its
 * unit tests, which call them as such a program would.
 */
#ifndef COWSHARE_LIB_COMPAT_H
#define COWSHARE_LIB_COMPAT_H

#include "cowshare.h"

int (cowshare_region_info)(int region, struct cowshare_region_info *info);
int (cowshare_view_info)(int region, const void *addr,
			 struct cowshare_view_info *info);
int (cowshare_global_info)(struct cowshare_global_info *info);
int (cowshare_list_regions)(uint64_t start_id,
			    struct cowshare_region_entry *entries,
			    unsigned int nr, uint64_t *total);

#endif /* COWSHARE_LIB_COMPAT_H */
