// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare: module init/exit, its parameters, the /dev/cowshare misc
 * device, the global counters and the zero page views map for holes.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/spinlock.h>

#include <linux/cowshare.h>

#include "cowshare.h"

unsigned long cowshare_max_region_size = 16UL << 30;
module_param_named(max_region_size, cowshare_max_region_size, ulong, 0644);
MODULE_PARM_DESC(max_region_size, "Largest region a create may ask for, in bytes (default 16 GiB)");

unsigned int cowshare_fault_around_pages = PTRS_PER_PTE;
module_param_named(fault_around_pages, cowshare_fault_around_pages, uint, 0644);
MODULE_PARM_DESC(fault_around_pages,
		 "Pages a read fault maps around the faulting address: a power of two, at most one page table (default: one page table)");

bool cowshare_huge = true;
module_param_named(huge, cowshare_huge, bool, 0644);
MODULE_PARM_DESC(huge,
		 "Put a PMD-size folio in a new region's base where a write covers a whole PMD range, so that views can map it with one PMD (default Y; a region made with COWSHARE_NO_HUGE never does)");

struct cowshare_stats cowshare_stats;

/*
 * What views map for a page that no one ever wrote. Every such mapping
 * takes a reference on one page, so the page is replaced by a fresh one
 * long before its reference count could overflow; the old one lives on
 * until its last mapping goes. Never written: it is never a copy, never
 * in an index.
 */
static struct page *cowshare_zero;
static DEFINE_SPINLOCK(cowshare_zero_lock);
#define COWSHARE_ZERO_REFS_MAX	BIT(30)

struct page *cowshare_zero_page(void)
{
	struct page *zero = READ_ONCE(cowshare_zero), *fresh;

	if (likely(page_ref_count(zero) < COWSHARE_ZERO_REFS_MAX))
		return zero;
	fresh = alloc_page(GFP_HIGHUSER | __GFP_ZERO);
	if (!fresh)
		return zero;		/* still a billion references from overflow */
	spin_lock(&cowshare_zero_lock);
	if (cowshare_zero == zero) {
		WRITE_ONCE(cowshare_zero, fresh);
		fresh = NULL;
	}
	spin_unlock(&cowshare_zero_lock);
	if (fresh) {
		__free_page(fresh);
	} else {
		atomic_long_inc(&cowshare_stats.zero_pages);
		put_page(zero);		/* the module's; its mappings keep it */
	}
	return READ_ONCE(cowshare_zero);
}

/* Only an optimisation (clear rather than copy): a stale zero page is all zero too. */
bool cowshare_is_zero_page(struct page *page)
{
	return page == READ_ONCE(cowshare_zero);
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

	cowshare_zero = alloc_page(GFP_HIGHUSER | __GFP_ZERO);
	if (!cowshare_zero)
		return -ENOMEM;
	atomic_long_set(&cowshare_stats.zero_pages, 1);
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
	__free_page(cowshare_zero);
	return ret;
}

/*
 * Every region holds the pseudo filesystem, which holds the module: when
 * this runs, every region, view and mapping is gone.
 */
static void __exit cowshare_exit(void)
{
	misc_deregister(&cowshare_misc);
	cowshare_fs_exit();
	put_page(cowshare_zero);
}

module_init(cowshare_init);
module_exit(cowshare_exit);
MODULE_DESCRIPTION("Copy-on-write sharing of memory regions between processes");
MODULE_LICENSE("GPL");
