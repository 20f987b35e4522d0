// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare: module init/exit, its limits, the /dev/cowshare misc device and
 * the global counters.
 */
#include <linux/build_bug.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include <linux/cowshare.h>

#include "cowshare.h"

unsigned long cowshare_max_region_size = 16UL << 30;
module_param_named(max_region_size, cowshare_max_region_size, ulong, 0644);
MODULE_PARM_DESC(max_region_size, "Largest region a create may ask for, in bytes (default 16 GiB)");

struct cowshare_stats cowshare_stats;

/* What a view maps for a never-written page of a sealed region. */
struct page *cowshare_zero_page;

/* The ioctl numbers encode each struct's first (and minimum) size. */
static_assert(_IOC_SIZE(COWSHARE_IOC_CREATE) == sizeof(struct cowshare_create));
static_assert(_IOC_SIZE(COWSHARE_IOC_GLOBAL_INFO) == sizeof(struct cowshare_global_info));
static_assert(_IOC_SIZE(COWSHARE_IOC_REGION_INFO) == sizeof(struct cowshare_region_info));
static_assert(_IOC_SIZE(COWSHARE_IOC_VIEW_INFO) == sizeof(struct cowshare_view_info));
static_assert(_IOC_SIZE(COWSHARE_IOC_DIRTY) == sizeof(struct cowshare_range));
static_assert(_IOC_SIZE(COWSHARE_IOC_RESET) == sizeof(struct cowshare_range));
static_assert(_IOC_SIZE(COWSHARE_IOC_SEAL) == sizeof(struct cowshare_seal));
static_assert(_IOC_SIZE(COWSHARE_IOC_CREATE_FROM_FILE) ==
	      sizeof(struct cowshare_create_from_file));
static_assert(_IOC_SIZE(COWSHARE_IOC_LIST_REGIONS) == sizeof(struct cowshare_list_regions));
static_assert(_IOC_SIZE(COWSHARE_IOC_SNAPSHOT) == sizeof(struct cowshare_range));

/*
 * Read an extensible argument struct that starts with its __u32 size:
 * shorter than @min_size is EINVAL, longer than we know is fine only when
 * the extra bytes are zero (E2BIG otherwise, from copy_struct_from_user).
 */
int cowshare_copy_struct_in(void *dst, size_t ksize, size_t min_size,
			    void __user *uarg, u32 *usize)
{
	int ret;

	if (get_user(*usize, (u32 __user *)uarg))
		return -EFAULT;
	if (*usize < min_size)
		return -EINVAL;
	if (*usize > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(dst, ksize, uarg, *usize);
	return ret;
}

/* Write back what the caller's struct has room for; the rest is not touched. */
int cowshare_copy_struct_out(void __user *uarg, const void *src, size_t ksize, u32 usize)
{
	if (copy_to_user(uarg, src, min_t(size_t, ksize, usize)))
		return -EFAULT;
	return 0;
}

static long cowshare_ioctl_create(void __user *uarg)
{
	struct cowshare_create args;
	u32 usize;
	int ret;

	ret = cowshare_copy_struct_in(&args, sizeof(args), sizeof(args), uarg, &usize);
	if (ret)
		return ret;
	if (args.flags & ~COWSHARE_CREATE_FLAGS)
		return -EINVAL;
	if (!args.length)
		return -EINVAL;
	if (args.length > READ_ONCE(cowshare_max_region_size))
		return -E2BIG;
	return cowshare_region_create(args.length, args.flags);
}

static long cowshare_ioctl_create_from_file(void __user *uarg)
{
	struct cowshare_create_from_file args;
	u32 usize;
	int ret;

	ret = cowshare_copy_struct_in(&args, sizeof(args), sizeof(args), uarg, &usize);
	if (ret)
		return ret;
	if (args.flags & ~(COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE) || args.reserved)
		return -EINVAL;
	if (!args.length || offset_in_page(args.offset) ||
	    args.offset > (u64)MAX_LFS_FILESIZE)
		return -EINVAL;
	if (args.length > READ_ONCE(cowshare_max_region_size))
		return -E2BIG;
	return cowshare_region_create_from_file(&args);
}

static long cowshare_ioctl_global_info(void __user *uarg)
{
	struct cowshare_global_info info;
	u32 usize;
	int ret;

	ret = cowshare_copy_struct_in(&info, sizeof(info), sizeof(info), uarg, &usize);
	if (ret)
		return ret;
	if (info.flags)
		return -EINVAL;
	info.regions = atomic_long_read(&cowshare_stats.regions);
	info.base_pages = atomic_long_read(&cowshare_stats.base_pages);
	info.private_pages = atomic_long_read(&cowshare_stats.private_pages);
	info.views = atomic_long_read(&cowshare_stats.views);
	info.page_size = PAGE_SIZE;
	info.max_region_size = READ_ONCE(cowshare_max_region_size);
	return cowshare_copy_struct_out(uarg, &info, sizeof(info), usize);
}

static long cowshare_dev_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case COWSHARE_IOC_CREATE:
		return cowshare_ioctl_create(uarg);
	case COWSHARE_IOC_GLOBAL_INFO:
		return cowshare_ioctl_global_info(uarg);
	case COWSHARE_IOC_CREATE_FROM_FILE:
		return cowshare_ioctl_create_from_file(uarg);
	case COWSHARE_IOC_LIST_REGIONS:
		return cowshare_list_regions(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations cowshare_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = cowshare_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * World read-write: a region is reachable only through its fd, so creating
 * one grants nothing beyond the memory it costs, which is charged to the
 * creator's memory cgroup like any other memory.
 */
static struct miscdevice cowshare_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "cowshare",
	.fops = &cowshare_dev_fops,
	.mode = 0666,
};

static int __init cowshare_init(void)
{
	int ret;

	cowshare_zero_page = alloc_page(GFP_HIGHUSER | __GFP_ZERO);
	if (!cowshare_zero_page)
		return -ENOMEM;
	ret = cowshare_fs_init();
	if (ret)
		goto err_zero;
	ret = misc_register(&cowshare_misc);
	if (ret)
		goto err_fs;
	return 0;

err_fs:
	cowshare_fs_exit();
err_zero:
	__free_page(cowshare_zero_page);
	return ret;
}

static void __exit cowshare_exit(void)
{
	misc_deregister(&cowshare_misc);
	cowshare_fs_exit();
	/* Every view is gone (each held a module reference): so are its mappings. */
	__free_page(cowshare_zero_page);
}

module_init(cowshare_init);
module_exit(cowshare_exit);
MODULE_DESCRIPTION("Copy-on-write sharing of memory regions between processes");
MODULE_LICENSE("GPL");
