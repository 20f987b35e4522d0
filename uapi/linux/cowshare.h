/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cowshare: share a region's base pages between many views, copying a
 * page into a view only when that view first writes it.
 *
 * /dev/cowshare ioctls create regions and report global counters; a
 * region fd's ioctls report on the region and on its views.
 *
 * Every argument struct starts with a __u32 size (the caller's
 * sizeof) so that it can grow: the kernel accepts a smaller struct
 * (older callers; missing fields read as zero) and a larger one whose
 * extra bytes are all zero (else E2BIG). Output fields the caller's
 * struct has no room for are not written. Reserved fields and unknown
 * flags must be zero (EINVAL). Unknown commands fail with ENOTTY.
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
#define COWSHARE_CREATE_FLAGS	(COWSHARE_CLOEXEC)

/**
 * struct cowshare_create - COWSHARE_IOC_CREATE: make a zero-filled region
 * @size: sizeof(struct cowshare_create) as the caller knows it
 * @flags: COWSHARE_CLOEXEC
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
};

/* cowshare_region_info.region_flags */
#define COWSHARE_REGION_SEALED		_BITULL(0)
#define COWSHARE_REGION_FILE_IMAGE	_BITULL(1)

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
};

/* /dev/cowshare */
#define COWSHARE_IOC_CREATE	 _IOW(COWSHARE_IOC_MAGIC, 0x00, struct cowshare_create)
#define COWSHARE_IOC_GLOBAL_INFO _IOWR(COWSHARE_IOC_MAGIC, 0x01, struct cowshare_global_info)
/* region fd */
#define COWSHARE_IOC_REGION_INFO _IOWR(COWSHARE_IOC_MAGIC, 0x40, struct cowshare_region_info)
#define COWSHARE_IOC_VIEW_INFO	 _IOWR(COWSHARE_IOC_MAGIC, 0x41, struct cowshare_view_info)

#endif /* _UAPI_LINUX_COWSHARE_H */
