// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT
/*
 * libcowshare: ioctl and mmap wrappers. No libkmod dependency.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cowshare.h"
#include "compat.h"

/* Open /dev/cowshare; the fd or -errno (ENOENT: no node, module not loaded). */
static int cowshare_open_dev(void)
{
	int fd = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* ioctl(fd, cmd, arg): its non-negative result or -errno. */
static int cowshare_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

/* One ioctl on a freshly opened /dev/cowshare, closed again. */
static int cowshare_dev_ioctl(unsigned long cmd, void *arg)
{
	int fd = cowshare_open_dev();
	int ret;

	if (fd < 0)
		return fd;
	ret = cowshare_ioctl(fd, cmd, arg);
	close(fd);
	return ret;
}

int cowshare_create(size_t size, unsigned int flags)
{
	struct cowshare_create req;

	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.flags = flags;	/* unchanged: the kernel rejects unknown bits */
	req.length = size;
	return cowshare_dev_ioctl(COWSHARE_IOC_CREATE, &req);
}

int cowshare_map(int region, size_t length, int prot, off_t offset,
		 void **addr)
{
	void *p;

	if (!addr)
		return -EFAULT;
	p = mmap(NULL, length, prot, MAP_SHARED, region, offset);
	if (p == MAP_FAILED)
		return -errno;
	*addr = p;
	return 0;
}

int cowshare_unmap(void *addr, size_t length)
{
	return munmap(addr, length) < 0 ? -errno : 0;
}

/*
 * An info struct of @size bytes as the caller's header declares it: the
 * kernel fills min(its size, @size) and never more, so neither does this.
 */
static int cowshare_info_prepare(void *info, size_t size, size_t min_size)
{
	if (!info)
		return -EFAULT;
	if (size < min_size || size > UINT32_MAX)
		return -EINVAL;
	memset(info, 0, size);
	*(uint32_t *)info = (uint32_t)size;	/* every struct's size field */
	return 0;
}

int cowshare_region_info_sized(int region, struct cowshare_region_info *info,
			       size_t size)
{
	int ret = cowshare_info_prepare(info, size, COWSHARE_REGION_INFO_SIZE_VER0);

	return ret ? ret : cowshare_ioctl(region, COWSHARE_IOC_REGION_INFO, info);
}

int cowshare_view_info_sized(int region, const void *addr,
			     struct cowshare_view_info *info, size_t size)
{
	int ret = cowshare_info_prepare(info, size, COWSHARE_VIEW_INFO_SIZE_VER0);

	if (ret)
		return ret;
	info->addr = (uintptr_t)addr;
	return cowshare_ioctl(region, COWSHARE_IOC_VIEW_INFO, info);
}

int cowshare_global_info_sized(struct cowshare_global_info *info, size_t size)
{
	int ret = cowshare_info_prepare(info, size, COWSHARE_GLOBAL_INFO_SIZE_VER0);

	return ret ? ret : cowshare_dev_ioctl(COWSHARE_IOC_GLOBAL_INFO, info);
}

/*
 * The COWSHARE_1.0 entry points, for programs linked before the _sized
 * calls existed: they cannot say how large their struct is, so they get
 * the first version of it, which every one of them has. Programs built
 * against this header call the _sized ones through the header's macros.
 */
int (cowshare_region_info)(int region, struct cowshare_region_info *info)
{
	return cowshare_region_info_sized(region, info,
					  COWSHARE_REGION_INFO_SIZE_VER0);
}

int (cowshare_view_info)(int region, const void *addr,
			 struct cowshare_view_info *info)
{
	return cowshare_view_info_sized(region, addr, info,
					COWSHARE_VIEW_INFO_SIZE_VER0);
}

int (cowshare_global_info)(struct cowshare_global_info *info)
{
	return cowshare_global_info_sized(info, COWSHARE_GLOBAL_INFO_SIZE_VER0);
}

/* COWSHARE_IOC_DIRTY, _RESET or _SNAPSHOT on [addr, addr + length). */
static int cowshare_range_ioctl(int region, unsigned long cmd,
				const void *addr, size_t length,
				uint64_t *bitmap, unsigned int flags)
{
	struct cowshare_range req;

	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.flags = flags;	/* unchanged: the kernel rejects unknown bits */
	req.addr = (uintptr_t)addr;
	req.length = length;
	req.bitmap = (uintptr_t)bitmap;
	return cowshare_ioctl(region, cmd, &req);
}

int cowshare_dirty(int region, const void *addr, size_t length,
		   uint64_t *bitmap, unsigned int flags)
{
	return cowshare_range_ioctl(region, COWSHARE_IOC_DIRTY, addr, length,
				    bitmap, flags);
}

int cowshare_reset(int region, const void *addr, size_t length)
{
	return cowshare_range_ioctl(region, COWSHARE_IOC_RESET, addr, length,
				    NULL, 0);
}

int cowshare_snapshot(int region, const void *addr, size_t length,
		      unsigned int flags)
{
	return cowshare_range_ioctl(region, COWSHARE_IOC_SNAPSHOT, addr,
				    length, NULL, flags);
}

int cowshare_seal(int region)
{
	struct cowshare_seal req;

	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	return cowshare_ioctl(region, COWSHARE_IOC_SEAL, &req);
}

int cowshare_create_from_file(int file_fd, off_t offset, size_t length,
			      unsigned int flags)
{
	struct cowshare_create_from_file req;

	if (offset < 0)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.flags = flags;	/* unchanged: the kernel rejects unknown bits */
	req.fd = file_fd;
	req.offset = (uint64_t)offset;
	req.length = length;
	return cowshare_dev_ioctl(COWSHARE_IOC_CREATE_FROM_FILE, &req);
}

int cowshare_list_regions_sized(uint64_t start_id,
				struct cowshare_region_entry *entries,
				unsigned int nr, size_t entry_size,
				uint64_t *total)
{
	struct cowshare_list_regions req;
	int ret;

	if (nr && !entries)
		return -EFAULT;
	if (!nr)	/* counting only: entries may be a bare NULL */
		entry_size = COWSHARE_REGION_ENTRY_SIZE_VER0;
	if (entry_size < COWSHARE_REGION_ENTRY_SIZE_VER0 || entry_size > UINT32_MAX)
		return -EINVAL;
	if (nr > INT32_MAX)	/* the count written must fit the result */
		nr = INT32_MAX;
	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.entries = (uintptr_t)entries;
	req.nr_entries = nr;
	req.entry_size = (uint32_t)entry_size;
	req.start_id = start_id;
	ret = cowshare_dev_ioctl(COWSHARE_IOC_LIST_REGIONS, &req);
	if (ret < 0)
		return ret;
	if (req.nr_entries > nr)	/* never from a sane kernel */
		return -EIO;
	if (total)
		*total = req.total;
	return (int)req.nr_entries;
}

int (cowshare_list_regions)(uint64_t start_id,
			    struct cowshare_region_entry *entries,
			    unsigned int nr, uint64_t *total)
{
	return cowshare_list_regions_sized(start_id, entries, nr,
					   COWSHARE_REGION_ENTRY_SIZE_VER0, total);
}

const char *cowshare_version(void)
{
#define COWSHARE_STR2(x) #x
#define COWSHARE_STR(x) COWSHARE_STR2(x)
	return COWSHARE_STR(COWSHARE_VERSION_MAJOR) "."
	       COWSHARE_STR(COWSHARE_VERSION_MINOR) "."
	       COWSHARE_STR(COWSHARE_VERSION_PATCH);
}
