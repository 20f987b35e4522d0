/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * libcowshare: userspace library for the cowshare kernel module.
 *
 * Every function returns 0 (or a non-negative result) on success and a
 * negative errno value on failure; errno itself is not a reliable
 * indication of failure. The library keeps no global state: functions
 * that talk to /dev/cowshare open it (O_CLOEXEC) and close it again.
 */
#ifndef COWSHARE_H
#define COWSHARE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/cowshare.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One version for the header, the library (SONAME libcowshare.so.MAJOR,
 * symbol nodes COWSHARE_MAJOR.MINOR), cowshare.pc, the DKMS package and
 * cowctl --version. cowshare_version() is the library's at run time.
 */
#define COWSHARE_VERSION_MAJOR	1
#define COWSHARE_VERSION_MINOR	3
#define COWSHARE_VERSION_PATCH	0

/* "MAJOR.MINOR.PATCH" of the libcowshare the program runs with. */
const char *cowshare_version(void);

/* Region fd for a new zero-filled region; flags: COWSHARE_CLOEXEC. */
int cowshare_create(size_t size, unsigned int flags);

/* mmap(MAP_SHARED) a view of a region; *addr receives its start. */
int cowshare_map(int region, size_t length, int prot, off_t offset,
		 void **addr);
int cowshare_unmap(void *addr, size_t length);

/*
 * The info calls fill the caller's struct as large as the header the
 * caller was compiled with declares it (the macros pass its sizeof): a
 * program built against an older, smaller struct and run with a newer
 * library or kernel is never written past its struct, and the fields it does not know stay unwritten. A size
 * below the struct's first version (COWSHARE_*_SIZE_VER0) is -EINVAL.
 */
int cowshare_region_info_sized(int region, struct cowshare_region_info *info,
			       size_t size);
int cowshare_view_info_sized(int region, const void *addr,
			     struct cowshare_view_info *info, size_t size);
int cowshare_global_info_sized(struct cowshare_global_info *info, size_t size);
#define cowshare_region_info(region, info) \
	cowshare_region_info_sized((region), (info), sizeof(struct cowshare_region_info))
#define cowshare_view_info(region, addr, info) \
	cowshare_view_info_sized((region), (addr), (info), \
				 sizeof(struct cowshare_view_info))
#define cowshare_global_info(info) \
	cowshare_global_info_sized((info), sizeof(struct cowshare_global_info))

/*
 * Page ranges of the caller's view: addr page-aligned, [addr, addr +
 * length) inside one mapping of a view of the region.
 *
 * cowshare_dirty: bit i of bitmap ((pages + 63) / 64 words) set when page
 * i holds a private copy; returns their number. flags: COWSHARE_DIRTY_RESET
 * also drops exactly the copies reported.
 * cowshare_reset: drop the range's copies; returns their number.
 * cowshare_snapshot: new region (fd) whose base is the view's content
 * over the range; flags: COWSHARE_CLOEXEC.
 */
int cowshare_dirty(int region, const void *addr, size_t length,
		   uint64_t *bitmap, unsigned int flags);
int cowshare_reset(int region, const void *addr, size_t length);
int cowshare_snapshot(int region, const void *addr, size_t length,
		      unsigned int flags);
/* Make the region's base immutable (pwrite fails with EPERM). */
int cowshare_seal(int region);

/*
 * Sealed region whose base is [offset, offset + length) of the file open
 * for reading as file_fd, read now; flags: COWSHARE_CLOEXEC,
 * COWSHARE_SHARE_BY_FILE (reuse a live region of the unchanged file).
 */
int cowshare_create_from_file(int file_fd, off_t offset, size_t length,
			      unsigned int flags);
/*
 * Up to nr regions with id >= start_id, in id order, into entries (each
 * entry_size bytes, as the caller's header declares the struct: the
 * macro passes its sizeof); returns the number written. *total (if not NULL):
 * regions visible to the caller with id >= start_id.
 */
int cowshare_list_regions_sized(uint64_t start_id,
				struct cowshare_region_entry *entries,
				unsigned int nr, size_t entry_size,
				uint64_t *total);
#define cowshare_list_regions(start_id, entries, nr, total) \
	cowshare_list_regions_sized((start_id), (entries), (nr), \
				    sizeof(struct cowshare_region_entry), (total))

/*
 * Load the module from ko_path, or by name "cowshare" from the module
 * path (/lib/modules/$(uname -r)) when ko_path is NULL. Returns 0 if
 * the module is already loaded. -ENOSYS if built without libkmod.
 */
int cowshare_module_load(const char *ko_path);
/* Unload without force: -EBUSY in use, -ENOENT not loaded. */
int cowshare_module_unload(void);

#ifdef __cplusplus
}
#endif

#endif /* COWSHARE_H */
