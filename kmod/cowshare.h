/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowshare internals: the objects shared by the module's files.
 *
 * region  - a set of base pages: the page cache of the region's own inode
 *           on the module's pseudo filesystem. Region fds are files on that
 *           inode; the region lives as long as the inode (last fd and last
 *           view gone).
 * view    - what one mmap() of a region fd made in one process: the vmas
 *           split or moved from it, and the private copies they own, keyed
 *           by page offset into the region. A forked child gets a view of
 *           its own for each of the parent's, with copies of its copies.
 */
#ifndef _COWSHARE_H
#define _COWSHARE_H

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/time64.h>
#include <linux/xarray.h>

#include <linux/cowshare.h>

struct cowshare_stats {
	atomic_long_t regions;
	atomic_long_t base_pages;
	atomic_long_t private_pages;
	atomic_long_t views;
};

extern struct cowshare_stats cowshare_stats;
extern unsigned long cowshare_max_region_size;
extern struct page *cowshare_zero_page;

/* What makes two file images the same (COWSHARE_SHARE_BY_FILE). */
struct cowshare_file_key {
	dev_t dev;
	u64 ino;
	loff_t size;
	struct timespec64 mtime;
	struct timespec64 ctime;
	u64 version;
	u64 offset;
	pgoff_t npages;
};

struct cowshare_region {
	u64 id;
	struct list_head node;		/* cowshare_regions, under its lock */
	pgoff_t npages;
	struct inode *inode;		/* base pages: inode->i_mapping */
	atomic_long_t base_pages;
	atomic_long_t private_pages;	/* copies held by all its views */
	atomic_long_t views;
	kuid_t creator;
	bool exec_mapped;		/* some view had VM_MAYEXEC: keep icache in sync */
	bool sealed;			/* base immutable; set once, under inode_lock */
	bool file_image;		/* made by COWSHARE_IOC_CREATE_FROM_FILE */
	/*
	 * A snapshot is a layer over the region it was taken from (@lower, at
	 * @lower_off, referenced through its inode): its own base pages are in
	 * @overlay, the rest are @lower's. @root is the bottom of the chain,
	 * whose page cache holds every other page; index i of this region is
	 * index i + @root_off of the root.
	 */
	struct cowshare_region *lower;
	pgoff_t lower_off;
	struct cowshare_region *root;
	pgoff_t root_off;
	struct xarray overlay;
	bool shared_image;		/* found by others with the same file_key */
	struct cowshare_file_key file_key;
};

/*
 * Mark on view->copies entries, changed under the copy's page lock.
 *
 * COPY_UNMAPPED: the copy is not mapped yet (new, or inherited by fork), or
 * the module unmapped it itself; a fault maps it back. A copy found without
 * this mark and not mapped anywhere was dropped by the user
 * (MADV_DONTNEED), and the view shows the base there again.
 */
#define COPY_UNMAPPED	XA_MARK_0
/*
 * COPY_REPLACE: at fork the copy was referenced outside the view (spliced
 * into a pipe, pinned): the view copies it again before using it, so that
 * the holder keeps the content it had, as for anonymous memory after fork.
 */
#define COPY_REPLACE	XA_MARK_1
/*
 * COPY_FROZEN: a snapshot took the copy as a base page: the view may map it
 * read-only but copies it again before writing.
 */
#define COPY_FROZEN	XA_MARK_2

struct cowshare_view {
	struct cowshare_region *region;
	struct mm_struct *mm;		/* the mm its vmas live in; no reference */
	/* its vmas' vm_file, so that 6.12 never merges two views' vmas */
	struct file *file;
	/* fork: the view the last fork made of this one, and the reverse */
	struct cowshare_view *fork_child;
	struct cowshare_view *fork_parent;
	pgoff_t shift;			/* vm_pgoff - index: region->root_off */
	struct xarray copies;		/* pgoff -> private copy (struct page *) */
	/*
	 * The copies' page->mapping, with page->index their offset: a shared
	 * futex in a copy is keyed by (this inode, offset), so it is the
	 * view's own; a page without mapping in a shared vma has no key.
	 * Made with the view's first copy.
	 */
	struct inode *copies_inode;
	bool fork_failed;		/* fork could not copy a copy: OOM on fault */
	struct mutex lock;		/* vmas list */
	struct list_head vmas;
	atomic_long_t nr_copies;
	atomic_long_t read_faults;
	atomic_long_t cow_faults;
};

/* region.c */
int cowshare_fs_init(void);
void cowshare_fs_exit(void);
struct cowshare_region *cowshare_region_alloc(pgoff_t npages);
int cowshare_region_install_fd(struct cowshare_region *region, unsigned int flags);
int cowshare_region_create(u64 length, unsigned int flags);
int cowshare_region_create_from_file(const struct cowshare_create_from_file *args);
int cowshare_list_regions(void __user *uarg);
struct cowshare_region *cowshare_region_from_file(struct file *file);
struct file *cowshare_file_alloc(struct inode *inode, const char *name,
				 const struct file_operations *fops, void *private_data);
struct page *cowshare_base_page(struct cowshare_region *region, pgoff_t index);
struct page *cowshare_base_get(struct cowshare_region *region, pgoff_t index, bool zero_ok);
struct page *cowshare_base_peek(struct cowshare_region *region, pgoff_t index);
void cowshare_region_seal_base(struct cowshare_region *region);
long cowshare_region_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* view.c */
int cowshare_view_mmap(struct cowshare_region *region, struct vm_area_struct *vma);
int cowshare_view_info(struct cowshare_region *region, void __user *uarg);
long cowshare_view_range(struct cowshare_region *region, unsigned int cmd,
			 void __user *uarg);
int cowshare_view_snapshot(struct cowshare_region *region, void __user *uarg);
struct inode *cowshare_alloc_inode(void);

/* main.c */
int cowshare_copy_struct_in(void *dst, size_t ksize, size_t min_size,
			    void __user *uarg, u32 *usize);
int cowshare_copy_struct_out(void __user *uarg, const void *src, size_t ksize, u32 usize);

#endif /* _COWSHARE_H */
