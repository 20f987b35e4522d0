// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare ioctls: one table per file type (as iommufd's IOCTL_OP()), the
 * dispatchers, and the handlers of the uapi (uapi/linux/cowshare.h).
 *
 * The dispatcher reads the caller's struct by its leading size field
 * with copy_struct_from_user(): shorter than the struct's first version is
 * EINVAL, longer than the module knows is E2BIG unless the extra bytes are
 * zero, longer than a page is E2BIG. Handlers start with their work on a
 * zero-extended kernel copy; cowshare_respond() writes back what the
 * caller's struct has room for.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/stddef.h>
#include <linux/uaccess.h>

#include <linux/cowshare.h>

#include "cowshare.h"

union cowshare_ucmd_buffer {
	struct cowshare_create create;
	struct cowshare_create_from_file from_file;
	struct cowshare_global_info global_info;
	struct cowshare_list_regions list;
	struct cowshare_region_info region_info;
	struct cowshare_view_info view_info;
	struct cowshare_range range;
	struct cowshare_seal seal;
};

struct cowshare_ucmd {
	struct file *file;
	void __user *ubuffer;
	u32 user_size;
	void *cmd;
};

struct cowshare_ioctl_op {
	unsigned int size;		/* the module's struct */
	unsigned int min_size;		/* its first version */
	unsigned int ioctl_num;
	long (*execute)(struct cowshare_ucmd *ucmd);
};

/* @_ver0: the size of the struct's first version (uapi _SIZE_VER0). */
#define COWSHARE_IOCTL_OP(_ioctl, _fn, _struct, _ver0)				\
	{									\
		.size = sizeof(_struct) +					\
			BUILD_BUG_ON_ZERO(sizeof(union cowshare_ucmd_buffer) <	\
					  sizeof(_struct)),			\
		.min_size = _ver0,						\
		.ioctl_num = _ioctl,						\
		.execute = _fn,							\
	}

/* Each first version ends with the field its _SIZE_VER0 says. */
static_assert(offsetofend(struct cowshare_create, length) == COWSHARE_CREATE_SIZE_VER0);
static_assert(offsetofend(struct cowshare_global_info, max_region_size) ==
	      COWSHARE_GLOBAL_INFO_SIZE_VER0);
static_assert(offsetofend(struct cowshare_create_from_file, length) ==
	      COWSHARE_CREATE_FROM_FILE_SIZE_VER0);
static_assert(offsetofend(struct cowshare_list_regions, total) ==
	      COWSHARE_LIST_REGIONS_SIZE_VER0);
static_assert(offsetofend(struct cowshare_region_info, creator_uid) ==
	      COWSHARE_REGION_INFO_SIZE_VER0);
static_assert(offsetofend(struct cowshare_view_info, cow_faults) ==
	      COWSHARE_VIEW_INFO_SIZE_VER0);
static_assert(offsetofend(struct cowshare_range, bitmap) == COWSHARE_RANGE_SIZE_VER0);
static_assert(offsetofend(struct cowshare_seal, flags) == COWSHARE_SEAL_SIZE_VER0);
static_assert(offsetofend(struct cowshare_region_entry, creator_uid) ==
	      COWSHARE_REGION_ENTRY_SIZE_VER0);

static int cowshare_respond(struct cowshare_ucmd *ucmd, size_t ksize)
{
	if (copy_to_user(ucmd->ubuffer, ucmd->cmd, min_t(size_t, ksize, ucmd->user_size)))
		return -EFAULT;
	return 0;
}

static struct cowshare_region *cowshare_ucmd_region(struct cowshare_ucmd *ucmd)
{
	return ucmd->file->private_data;
}

/*
 * A struct cowshare_range: flags within @allowed, a bitmap only where one
 * is reported, a page-aligned, non-empty range inside the user address
 * space. Its length in pages in *@npages.
 */
static int cowshare_range_check(const struct cowshare_range *args, unsigned int allowed,
				bool bitmap, unsigned long *npages)
{
	if (args->flags & ~allowed || (!bitmap && args->bitmap))
		return -EINVAL;
	if (!args->length || offset_in_page(args->addr) ||
	    args->length > TASK_SIZE || args->addr > TASK_SIZE - args->length)
		return -EINVAL;
	*npages = DIV_ROUND_UP(args->length, PAGE_SIZE);
	return 0;
}

/* /dev/cowshare */

/*
 * A region made here and freed on an error path is evicted with no file of
 * the pseudo filesystem held: the creating ioctls pin it meanwhile, so
 * that the eviction never unmounts it (see cowshare_fs_pin()).
 */
static long cowshare_ioctl_create(struct cowshare_ucmd *ucmd)
{
	struct cowshare_create *args = ucmd->cmd;
	long ret;

	if (args->flags & ~COWSHARE_CREATE_FLAGS || !args->length)
		return -EINVAL;
	if (args->length > READ_ONCE(cowshare_max_region_size))
		return -E2BIG;
	ret = cowshare_fs_pin();
	if (ret)
		return ret;
	ret = cowshare_region_create(args->length, args->flags);
	cowshare_fs_unpin();
	return ret;
}

static long cowshare_ioctl_create_from_file(struct cowshare_ucmd *ucmd)
{
	struct cowshare_create_from_file *args = ucmd->cmd;
	long ret;

	if (args->flags & ~(COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE | COWSHARE_NO_HUGE) ||
	    args->reserved)
		return -EINVAL;
	if (!args->length || offset_in_page(args->offset) ||
	    args->offset > (u64)MAX_LFS_FILESIZE)
		return -EINVAL;
	if (args->length > READ_ONCE(cowshare_max_region_size))
		return -E2BIG;
	ret = cowshare_fs_pin();
	if (ret)
		return ret;
	ret = cowshare_region_create_from_file(args);
	cowshare_fs_unpin();
	return ret;
}

static long cowshare_ioctl_global_info(struct cowshare_ucmd *ucmd)
{
	struct cowshare_global_info *info = ucmd->cmd;

	if (info->flags)
		return -EINVAL;
	info->regions = atomic_long_read(&cowshare_stats.regions);
	info->base_pages = atomic_long_read(&cowshare_stats.base_pages);
	info->private_pages = atomic_long_read(&cowshare_stats.private_pages);
	info->views = atomic_long_read(&cowshare_stats.views);
	info->page_size = PAGE_SIZE;
	info->max_region_size = READ_ONCE(cowshare_max_region_size);
	info->copy_pages = atomic_long_read(&cowshare_stats.copy_pages);
	info->cache_pages = atomic_long_read(&cowshare_stats.cache_pages);
	info->zero_pages = atomic_long_read(&cowshare_stats.zero_pages);
	info->meta_bytes = atomic_long_read(&cowshare_stats.meta_bytes);
	info->huge_folios = atomic_long_read(&cowshare_stats.huge_folios);
	info->pmd_maps = atomic_long_read(&cowshare_stats.pmd_maps);
	info->huge_fallbacks = atomic_long_read(&cowshare_stats.huge_fallbacks);
	info->pmd_splits = atomic_long_read(&cowshare_stats.pmd_splits);
	return cowshare_respond(ucmd, sizeof(*info));
}

static long cowshare_ioctl_list_regions(struct cowshare_ucmd *ucmd)
{
	int ret = cowshare_list_regions(ucmd->cmd);

	return ret ? ret : cowshare_respond(ucmd, sizeof(struct cowshare_list_regions));
}

static const struct cowshare_ioctl_op cowshare_dev_ops[] = {
	COWSHARE_IOCTL_OP(COWSHARE_IOC_CREATE, cowshare_ioctl_create,
			  struct cowshare_create,
			  COWSHARE_CREATE_SIZE_VER0),
	COWSHARE_IOCTL_OP(COWSHARE_IOC_GLOBAL_INFO, cowshare_ioctl_global_info,
			  struct cowshare_global_info,
			  COWSHARE_GLOBAL_INFO_SIZE_VER0),
	COWSHARE_IOCTL_OP(COWSHARE_IOC_CREATE_FROM_FILE, cowshare_ioctl_create_from_file,
			  struct cowshare_create_from_file,
			  COWSHARE_CREATE_FROM_FILE_SIZE_VER0),
	COWSHARE_IOCTL_OP(COWSHARE_IOC_LIST_REGIONS, cowshare_ioctl_list_regions,
			  struct cowshare_list_regions,
			  COWSHARE_LIST_REGIONS_SIZE_VER0),
};

/* region fd */

static long cowshare_ioctl_region_info(struct cowshare_ucmd *ucmd)
{
	struct cowshare_region_info *info = ucmd->cmd;
	struct cowshare_region_entry e;

	if (info->flags)
		return -EINVAL;
	cowshare_fill_region_info(cowshare_ucmd_region(ucmd), &e);
	info->id = e.id;
	info->length = e.length;
	info->base_pages = e.base_pages;
	info->private_pages = e.private_pages;
	info->views = e.views;
	info->region_flags = e.region_flags;
	info->creator_uid = e.creator_uid;
	info->huge_folios = atomic_long_read(&cowshare_ucmd_region(ucmd)->root->huge_folios);
	return cowshare_respond(ucmd, sizeof(*info));
}

static long cowshare_ioctl_view_info(struct cowshare_ucmd *ucmd)
{
	struct cowshare_view_info *info = ucmd->cmd;
	int ret;

	if (info->flags)
		return -EINVAL;
	ret = cowshare_view_info(cowshare_ucmd_region(ucmd), info);
	return ret ? ret : cowshare_respond(ucmd, sizeof(*info));
}

static long cowshare_ioctl_dirty(struct cowshare_ucmd *ucmd)
{
	struct cowshare_range *args = ucmd->cmd;
	unsigned long npages;
	int ret;

	ret = cowshare_range_check(args, COWSHARE_DIRTY_RESET, true, &npages);
	if (ret)
		return ret;
	return cowshare_view_dirty(cowshare_ucmd_region(ucmd), args, true,
				   args->flags & COWSHARE_DIRTY_RESET);
}

static long cowshare_ioctl_reset(struct cowshare_ucmd *ucmd)
{
	struct cowshare_range *args = ucmd->cmd;
	unsigned long npages;
	int ret;

	ret = cowshare_range_check(args, 0, false, &npages);
	if (ret)
		return ret;
	return cowshare_view_dirty(cowshare_ucmd_region(ucmd), args, false, true);
}

static long cowshare_ioctl_snapshot(struct cowshare_ucmd *ucmd)
{
	struct cowshare_range *args = ucmd->cmd;
	unsigned long npages;
	int ret;

	ret = cowshare_range_check(args, COWSHARE_CLOEXEC, false, &npages);
	if (ret)
		return ret;
	return cowshare_snapshot(cowshare_ucmd_region(ucmd), args->addr, npages, args->flags);
}

static long cowshare_ioctl_seal(struct cowshare_ucmd *ucmd)
{
	struct cowshare_seal *args = ucmd->cmd;

	if (args->flags)
		return -EINVAL;
	cowshare_region_seal_base(cowshare_ucmd_region(ucmd));
	return 0;
}

static const struct cowshare_ioctl_op cowshare_region_ops[] = {
	COWSHARE_IOCTL_OP(COWSHARE_IOC_REGION_INFO, cowshare_ioctl_region_info,
			  struct cowshare_region_info,
			  COWSHARE_REGION_INFO_SIZE_VER0),
	COWSHARE_IOCTL_OP(COWSHARE_IOC_VIEW_INFO, cowshare_ioctl_view_info,
			  struct cowshare_view_info,
			  COWSHARE_VIEW_INFO_SIZE_VER0),
	COWSHARE_IOCTL_OP(COWSHARE_IOC_DIRTY, cowshare_ioctl_dirty,
			  struct cowshare_range,
			  COWSHARE_RANGE_SIZE_VER0),
	COWSHARE_IOCTL_OP(COWSHARE_IOC_RESET, cowshare_ioctl_reset,
			  struct cowshare_range,
			  COWSHARE_RANGE_SIZE_VER0),
	COWSHARE_IOCTL_OP(COWSHARE_IOC_SNAPSHOT, cowshare_ioctl_snapshot,
			  struct cowshare_range,
			  COWSHARE_RANGE_SIZE_VER0),
	COWSHARE_IOCTL_OP(COWSHARE_IOC_SEAL, cowshare_ioctl_seal,
			  struct cowshare_seal,
			  COWSHARE_SEAL_SIZE_VER0),
};

static long cowshare_dispatch(const struct cowshare_ioctl_op *ops, size_t nr_ops,
			      struct file *file, unsigned int cmd, unsigned long arg)
{
	struct cowshare_ucmd ucmd = { .file = file, .ubuffer = (void __user *)arg };
	union cowshare_ucmd_buffer buf;
	const struct cowshare_ioctl_op *op;
	int ret;

	for (op = ops; op < ops + nr_ops && op->ioctl_num != cmd; op++)
		;
	if (op == ops + nr_ops)
		return -ENOTTY;
	if (get_user(ucmd.user_size, (u32 __user *)ucmd.ubuffer))
		return -EFAULT;
	if (ucmd.user_size < op->min_size)
		return -EINVAL;
	if (ucmd.user_size > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(&buf, op->size, ucmd.ubuffer, ucmd.user_size);
	if (ret)
		return ret;
	ucmd.cmd = &buf;
	return op->execute(&ucmd);
}

long cowshare_dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return cowshare_dispatch(cowshare_dev_ops, ARRAY_SIZE(cowshare_dev_ops), file, cmd, arg);
}

long cowshare_region_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return cowshare_dispatch(cowshare_region_ops, ARRAY_SIZE(cowshare_region_ops), file,
				 cmd, arg);
}
