/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cowshare: share a region's base pages between many views, copying a
 * page into a view only when that view first writes it.
 *
 * /dev/cowshare ioctls create regions and report global counters; a
 * region fd's ioctls report on the region and on its views.
 *
 * Every argument struct starts with a __u32 size (the caller's
 * sizeof) so that it can grow without a new command number (the numbers
 * carry no size): the kernel accepts a smaller struct down to the size of
 * the struct's first version (older callers; missing fields read as
 * zero; shorter is EINVAL) and a larger one whose extra bytes are all
 * zero (else E2BIG), up to a page. Output fields the caller's struct has
 * no room for are not written. Reserved fields and unknown flags must be
 * zero (EINVAL). Unknown commands fail with ENOTTY.
 */
#ifndef _UAPI_LINUX_COWSHARE_H
#define _UAPI_LINUX_COWSHARE_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define COWSHARE_DEVICE		"/dev/cowshare"
#define COWSHARE_IOC_MAGIC	0xC5

/* cowshare_create.flags */
#define COWSHARE_CLOEXEC	_BITUL(0)	/* O_CLOEXEC on the region fd */
/* base pages in 4 KiB folios only, never PMD-size ones (huge module parameter) */
#define COWSHARE_NO_HUGE	_BITUL(2)
#define COWSHARE_CREATE_FLAGS	(COWSHARE_CLOEXEC | COWSHARE_NO_HUGE)
/* cowshare_create_from_file.flags: also COWSHARE_CLOEXEC, COWSHARE_NO_HUGE */
#define COWSHARE_SHARE_BY_FILE	_BITUL(1)

/**
 * struct cowshare_create - COWSHARE_IOC_CREATE: make a zero-filled region
 * @size: sizeof(struct cowshare_create) as the caller knows it
 * @flags: COWSHARE_CLOEXEC, COWSHARE_NO_HUGE
 * @length: bytes, 1 to the module's max_region_size; rounded up to pages
 *
 * Returns the new region fd.
 */
struct cowshare_create {
	__u32 size;
	__u32 flags;
	__u64 length;
};

/**
 * struct cowshare_global_info - COWSHARE_IOC_GLOBAL_INFO: system counters
 * @size: sizeof(struct cowshare_global_info) as the caller knows it
 * @flags: must be zero
 * @regions: live regions
 * @base_pages: base pages allocated, all regions
 * @private_pages: private copies held, all views of all regions
 * @views: live views (one per mmap() and per view inherited by fork)
 * @page_size: PAGE_SIZE of the kernel
 * @max_region_size: the max_region_size module parameter, bytes
 * @copy_pages: physical pages the module allocated as private copies and
 *	still holds (a copy shared by a forked child and its parent, or
 *	taken by a snapshot as its base, counts once)
 * @cache_pages: physical base pages of root regions (page cache)
 * @zero_pages: pages the module maps for pages never written (1, more
 *	only after billions of mappings)
 * @meta_bytes: slab memory of the module's own objects (regions, views,
 *	their index chunks), as the allocator sizes them
 * @huge_folios: PMD-size folios among the base pages of root regions (each
 *	counts PMD_SIZE / page_size pages in @cache_pages)
 * @pmd_maps: PMD mappings of base folios the views made, since load
 * @huge_fallbacks: PMD-size base folios that could not be allocated (base
 *	pages in 4 KiB folios instead), since load
 * @pmd_splits: PMD mappings of base folios that a write split to copy one
 *	page, since load
 *
 * @base_pages and @private_pages count references (a page in two
 * indexes counts twice); @copy_pages + @cache_pages + @zero_pages is the
 * memory the module holds in pages.
 */
struct cowshare_global_info {
	__u32 size;
	__u32 flags;
	__u64 regions;
	__u64 base_pages;
	__u64 private_pages;
	__u64 views;
	__u64 page_size;
	__u64 max_region_size;
	__u64 copy_pages;
	__u64 cache_pages;
	__u64 zero_pages;
	__u64 meta_bytes;
	__u64 huge_folios;
	__u64 pmd_maps;
	__u64 huge_fallbacks;
	__u64 pmd_splits;
};

/**
 * struct cowshare_region_info - COWSHARE_IOC_REGION_INFO (region fd)
 * @size: sizeof(struct cowshare_region_info) as the caller knows it
 * @flags: must be zero
 * @id: region id, unique while the module is loaded
 * @length: region size in bytes (a whole number of pages)
 * @base_pages: base pages allocated
 * @private_pages: private copies held by all views of the region
 * @views: live views of the region
 * @region_flags: COWSHARE_REGION_* bits
 * @creator_uid: effective uid of the process that created the region
 * @huge_folios: PMD-size folios among its base pages
 */
struct cowshare_region_info {
	__u32 size;
	__u32 flags;
	__u64 id;
	__u64 length;
	__u64 base_pages;
	__u64 private_pages;
	__u64 views;
	__u64 region_flags;
	__u64 creator_uid;
	__u64 huge_folios;
};

/**
 * struct cowshare_create_from_file - COWSHARE_IOC_CREATE_FROM_FILE
 * @size: sizeof(struct cowshare_create_from_file) as the caller knows it
 * @flags: COWSHARE_CLOEXEC, COWSHARE_SHARE_BY_FILE, COWSHARE_NO_HUGE
 * @fd: a file descriptor of the file, open for reading
 * @reserved: must be zero
 * @offset: page-aligned offset into the file
 * @length: bytes, 1 to max_region_size; rounded up to pages. Bytes past
 *	the end of the file read as zero.
 *
 * The region's base is the file's content over the range as of this call
 * (read eagerly); the region is sealed. With COWSHARE_SHARE_BY_FILE, a
 * live region made from the same file (device, inode, size, mtime, ctime
 * and i_version unchanged) over the same range is returned instead: a new
 * fd of the same region. Returns the region fd.
 */
struct cowshare_create_from_file {
	__u32 size;
	__u32 flags;
	__s32 fd;
	__u32 reserved;
	__u64 offset;
	__u64 length;
};

/**
 * struct cowshare_region_entry - one row of COWSHARE_IOC_LIST_REGIONS
 *
 * The fields mean what they mean in struct cowshare_region_info.
 */
struct cowshare_region_entry {
	__u64 id;
	__u64 length;
	__u64 base_pages;
	__u64 private_pages;
	__u64 views;
	__u64 region_flags;
	__u64 creator_uid;
};

/**
 * struct cowshare_list_regions - COWSHARE_IOC_LIST_REGIONS (/dev/cowshare)
 * @size: sizeof(struct cowshare_list_regions) as the caller knows it
 * @flags: must be zero
 * @entries: user pointer to @nr_entries entries of @entry_size bytes
 * @nr_entries: in: room in @entries; out: entries written
 * @entry_size: sizeof(struct cowshare_region_entry) as the caller knows it:
 *	at least the size of this first version (EINVAL); a larger entry's
 *	extra bytes are zeroed
 * @start_id: list the regions whose id is at least this, in id order
 * @total: out: regions the caller may see with id >= @start_id
 *
 * Root (CAP_SYS_ADMIN) sees every region; others see the regions created
 * with their effective uid.
 */
struct cowshare_list_regions {
	__u32 size;
	__u32 flags;
	__u64 entries;
	__u32 nr_entries;
	__u32 entry_size;
	__u64 start_id;
	__u64 total;
};

/* cowshare_region_info.region_flags */
#define COWSHARE_REGION_SEALED		_BITULL(0)
#define COWSHARE_REGION_FILE_IMAGE	_BITULL(1)
#define COWSHARE_REGION_NO_HUGE		_BITULL(2)	/* made with COWSHARE_NO_HUGE, or huge=0 */

/**
 * struct cowshare_view_info - COWSHARE_IOC_VIEW_INFO (region fd)
 * @size: sizeof(struct cowshare_view_info) as the caller knows it
 * @flags: must be zero
 * @addr: in: any address inside a view of this region in the caller
 * @start: out: start of the mapping (vma) that holds @addr
 * @length: out: its length in bytes
 * @offset: out: its offset into the region in bytes
 * @private_pages: out: private copies the view holds in that mapping
 * @read_faults: out: faults that mapped base pages, whole view
 * @cow_faults: out: copies made on write, whole view
 * @view_flags: out: COWSHARE_VIEW_* bits
 * @pmd_maps: out: PMD mappings of base folios made, whole view
 * @pmd_splits: out: of those, how many a write split to copy one page
 */
struct cowshare_view_info {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 start;
	__u64 length;
	__u64 offset;
	__u64 private_pages;
	__u64 read_faults;
	__u64 cow_faults;
	__u64 view_flags;
	__u64 pmd_maps;
	__u64 pmd_splits;
};

/*
 * cowshare_view_info.view_flags: the view maps base folios through PMDs
 * where the range holds nothing of its own (a sealed root region with
 * every page written and PMD-size base folios, mapped at an address
 * congruent with its offset modulo PMD_SIZE; see docs/design.md).
 */
#define COWSHARE_VIEW_HUGE		_BITULL(0)

/**
 * struct cowshare_range - a page range of the caller's view of a region
 * @size: sizeof(struct cowshare_range) as the caller knows it
 * @flags: COWSHARE_DIRTY_RESET for COWSHARE_IOC_DIRTY, else zero
 * @addr: page-aligned start, inside one mapping (vma) of a view
 * @length: bytes, rounded up to pages; the range must end in that mapping
 * @bitmap: COWSHARE_IOC_DIRTY: user pointer to (pages + 63) / 64 __u64
 *	words; bit i (of word i / 64, bit i % 64) is set when page i of the
 *	range holds a private copy. Other commands: zero.
 *
 * COWSHARE_IOC_DIRTY returns the number of pages holding a copy; with
 * COWSHARE_DIRTY_RESET it also drops exactly those copies (a write racing
 * the call is either reported and dropped, or kept for the next call).
 * COWSHARE_IOC_RESET drops the copies of the range and returns their count.
 * COWSHARE_IOC_SNAPSHOT (flags: COWSHARE_CLOEXEC) returns a new region fd
 * whose base is the view's content over the range.
 */
struct cowshare_range {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 length;
	__u64 bitmap;
};

#define COWSHARE_DIRTY_RESET	_BITUL(0)

/**
 * struct cowshare_seal - COWSHARE_IOC_SEAL: make the region's base immutable
 * @size: sizeof(struct cowshare_seal) as the caller knows it
 * @flags: must be zero
 */
struct cowshare_seal {
	__u32 size;
	__u32 flags;
};

/*
 * The size of each struct's first version: the smallest size field the
 * kernel accepts (as OPEN_HOW_SIZE_VER0 in linux/openat2.h).
 */
#define COWSHARE_CREATE_SIZE_VER0		16
#define COWSHARE_GLOBAL_INFO_SIZE_VER0		56
#define COWSHARE_CREATE_FROM_FILE_SIZE_VER0	32
#define COWSHARE_LIST_REGIONS_SIZE_VER0		40
#define COWSHARE_REGION_INFO_SIZE_VER0		64
#define COWSHARE_VIEW_INFO_SIZE_VER0		64
#define COWSHARE_RANGE_SIZE_VER0		32
#define COWSHARE_SEAL_SIZE_VER0			8
/* The smallest entry_size COWSHARE_IOC_LIST_REGIONS accepts. */
#define COWSHARE_REGION_ENTRY_SIZE_VER0		56

/* /dev/cowshare */
#define COWSHARE_IOC_CREATE		_IO(COWSHARE_IOC_MAGIC, 0x00)
#define COWSHARE_IOC_GLOBAL_INFO	_IO(COWSHARE_IOC_MAGIC, 0x01)
#define COWSHARE_IOC_CREATE_FROM_FILE	_IO(COWSHARE_IOC_MAGIC, 0x02)
#define COWSHARE_IOC_LIST_REGIONS	_IO(COWSHARE_IOC_MAGIC, 0x03)
/* region fd */
#define COWSHARE_IOC_REGION_INFO	_IO(COWSHARE_IOC_MAGIC, 0x40)
#define COWSHARE_IOC_VIEW_INFO		_IO(COWSHARE_IOC_MAGIC, 0x41)
#define COWSHARE_IOC_DIRTY		_IO(COWSHARE_IOC_MAGIC, 0x42)
#define COWSHARE_IOC_RESET		_IO(COWSHARE_IOC_MAGIC, 0x43)
#define COWSHARE_IOC_SNAPSHOT		_IO(COWSHARE_IOC_MAGIC, 0x44)
#define COWSHARE_IOC_SEAL		_IO(COWSHARE_IOC_MAGIC, 0x45)

#endif /* _UAPI_LINUX_COWSHARE_H */
