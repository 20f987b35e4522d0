// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare regions: the pseudo filesystem their inodes live on, the base
 * pages of root regions (the page cache of the region's inode, where
 * migration may move them: a mapper references what it maps), file
 * images, the region list, and the region fd's file operations.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/iversion.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include <linux/cowshare.h>

#include "compat.h"
#include "cowshare.h"

#define COWSHARE_FS_MAGIC	0x636f7773	/* "cows" */

static atomic64_t cowshare_next_region_id;

/* Live regions in id order, for COWSHARE_IOC_LIST_REGIONS and file sharing. */
static LIST_HEAD(cowshare_regions);
static DEFINE_MUTEX(cowshare_regions_lock);

/*
 * The pseudo filesystem is mounted while a region exists (each region
 * inode pins it, as drm_fs_inode_new() does) and holds the module while
 * mounted (.owner): a file's last fput drops its module reference before
 * it evicts the inode, and the eviction runs cowshare_evict_inode(), so
 * without this an rmmod in between would run freed module text. The pin
 * of an evicted region is released in its eviction; every caller of that
 * eviction holds the mount (a file on it) or a pin of its own
 * (cowshare_fs_pin() around the /dev/cowshare ioctls), so that the
 * filesystem is never torn down inside an eviction.
 */
static struct vfsmount *cowshare_mnt;
static int cowshare_mnt_count;
static struct file_system_type cowshare_fs_type;

int cowshare_fs_pin(void)
{
	return simple_pin_fs(&cowshare_fs_type, &cowshare_mnt, &cowshare_mnt_count);
}

void cowshare_fs_unpin(void)
{
	simple_release_fs(&cowshare_mnt, &cowshare_mnt_count);
}

static void cowshare_region_free(struct cowshare_region *region)
{
	mutex_lock(&cowshare_regions_lock);
	list_del(&region->node);
	mutex_unlock(&cowshare_regions_lock);
	if (cowshare_region_is_layer(region))
		cowshare_layer_free(region);
	else
		atomic_long_sub(atomic_long_read(&region->base_pages), &cowshare_stats.cache_pages);
	atomic_long_sub(atomic_long_read(&region->huge_folios), &cowshare_stats.huge_folios);
	atomic_long_sub(atomic_long_read(&region->base_pages), &cowshare_stats.base_pages);
	atomic_long_dec(&cowshare_stats.regions);
	cowshare_meta_free(region, sizeof(*region));
}

/* Drop the region's own references of its PMD-size base folios (cowshare_base_huge()). */
static void cowshare_base_unpin(struct cowshare_region *region)
{
	struct address_space *mapping = region->inode->i_mapping;
	struct folio *folio;
	pgoff_t idx;

	/* Only at PMD-aligned indexes: a 16 GiB region is 8192 looks, not 4M entries. */
	for (idx = 0; region->npages - idx >= COWSHARE_PMD_PAGES; idx += COWSHARE_PMD_PAGES) {
		folio = xa_load(&mapping->i_pages, idx);
		/* The page cache's references keep it until the truncation. */
		if (folio && !xa_is_value(folio) && folio->index == idx &&
		    folio_order(folio) == COWSHARE_PMD_ORDER)
			folio_put(folio);
		cond_resched();
	}
}

/* The last fd, the last view and the last layer over it are gone. */
static void cowshare_evict_inode(struct inode *inode)
{
	struct cowshare_region *region = inode->i_private;

	if (region && atomic_long_read(&region->huge_folios))
		cowshare_base_unpin(region);
	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (region) {
		cowshare_region_free(region);
		cowshare_fs_unpin();
	}
}

static const struct super_operations cowshare_super_ops = {
	.statfs = simple_statfs,
	.drop_inode = generic_delete_inode,
	.evict_inode = cowshare_evict_inode,
};

static int cowshare_init_fs_context(struct fs_context *fc)
{
	struct pseudo_fs_context *ctx = init_pseudo(fc, COWSHARE_FS_MAGIC);

	if (!ctx)
		return -ENOMEM;
	ctx->ops = &cowshare_super_ops;
	return 0;
}

static struct file_system_type cowshare_fs_type = {
	.owner = THIS_MODULE,
	.name = "cowshare",
	.init_fs_context = cowshare_init_fs_context,
	.kill_sb = kill_anon_super,
};

int cowshare_fs_init(void)
{
	return 0;
}

void cowshare_fs_exit(void)
{
	/* The filesystem holds the module: nothing can still be mounted. */
	WARN_ON(READ_ONCE(cowshare_mnt));
}

/*
 * A new file on a region inode. Each holds an inode reference, the mount
 * and a module reference (its fops'), dropped when the file is released.
 */
struct file *cowshare_file_alloc(struct inode *inode, const char *name,
				 const struct file_operations *fops, void *private_data)
{
	struct file *file;

	if (!try_module_get(THIS_MODULE))
		return ERR_PTR(-ENOENT);
	ihold(inode);
	/* The caller holds a region, which pins the mount. */
	file = alloc_file_pseudo(inode, READ_ONCE(cowshare_mnt), name, O_RDWR, fops);
	if (IS_ERR(file)) {
		iput(inode);
		module_put(THIS_MODULE);
		return file;
	}
	file->f_mode |= COWSHARE_FMODE_SEEK;
	file->private_data = private_data;
	return file;
}

/*
 * A new root region of @npages base pages, none allocated yet (every page
 * reads as zero). The caller owns the inode reference it comes with:
 * iput() frees it all.
 */
struct cowshare_region *cowshare_region_alloc(pgoff_t npages)
{
	struct cowshare_region *region;
	struct inode *inode;
	int ret;

	ret = cowshare_fs_pin();
	if (ret)
		return ERR_PTR(ret);
	region = cowshare_meta_alloc(sizeof(*region), GFP_KERNEL | __GFP_ZERO);
	if (!region) {
		ret = -ENOMEM;
		goto err_unpin;
	}
	region->npages = npages;
	region->no_huge = true;
	region->creator = current_euid();
	region->root = region;
	INIT_LIST_HEAD(&region->node);
	cowshare_pages_init(&region->overlay);
	init_rwsem(&region->holes_sem);

	inode = alloc_anon_inode(READ_ONCE(cowshare_mnt)->mnt_sb);
	if (IS_ERR(inode)) {
		ret = PTR_ERR(inode);
		goto err_free;
	}
	/*
	 * Base pages are never written back, so they must never be reclaimed:
	 * unevictable, and not from ZONE_MOVABLE since copies pin them briefly.
	 */
	mapping_set_unevictable(inode->i_mapping);
	mapping_set_gfp_mask(inode->i_mapping, GFP_HIGHUSER);
	inode->i_size = (loff_t)npages << PAGE_SHIFT;
	region->inode = inode;
	inode->i_private = region;	/* from here on, iput() frees the region */
	atomic_long_inc(&cowshare_stats.regions);

	mutex_lock(&cowshare_regions_lock);
	region->id = atomic64_inc_return(&cowshare_next_region_id);
	list_add_tail(&region->node, &cowshare_regions);
	mutex_unlock(&cowshare_regions_lock);
	return region;

err_free:
	cowshare_meta_free(region, sizeof(*region));
err_unpin:
	cowshare_fs_unpin();
	return ERR_PTR(ret);
}

/* A new fd of @region; the region keeps the caller's inode reference. */
/* A free fd for a region's file, so that nothing fails once it is made. */
int cowshare_region_reserve_fd(unsigned int flags)
{
	return get_unused_fd_flags(O_RDWR | ((flags & COWSHARE_CLOEXEC) ? O_CLOEXEC : 0));
}

/* Open @region on the reserved @fd, or give the fd back. */
int cowshare_region_install_reserved(struct cowshare_region *region, int fd)
{
	struct file *file;

	file = cowshare_file_alloc(region->inode, "cowshare-region", &cowshare_region_fops,
				   region);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	fd_install(fd, file);
	return fd;
}

int cowshare_region_install_fd(struct cowshare_region *region, unsigned int flags)
{
	int fd = cowshare_region_reserve_fd(flags);

	return fd < 0 ? fd : cowshare_region_install_reserved(region, fd);
}

/*
 * A root's base may hold PMD-size folios unless its creator or the huge
 * parameter says no, or the kernel cannot map them (no THP: PREEMPT_RT).
 */
static bool cowshare_want_no_huge(unsigned int flags)
{
	return !IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) || (flags & COWSHARE_NO_HUGE) ||
	       !READ_ONCE(cowshare_huge);
}

static void cowshare_region_allow_huge(struct cowshare_region *region, bool no_huge)
{
	if (no_huge)
		return;
	region->no_huge = false;
	mapping_set_large_folios(region->inode->i_mapping);
}

int cowshare_region_create(u64 length, unsigned int flags)
{
	struct cowshare_region *region;
	int fd;

	region = cowshare_region_alloc(DIV_ROUND_UP_ULL(length, PAGE_SIZE));
	if (IS_ERR(region))
		return PTR_ERR(region);
	cowshare_region_allow_huge(region, cowshare_want_no_huge(flags));
	fd = cowshare_region_install_fd(region, flags);
	iput(region->inode);	/* the fd holds its own reference */
	return fd;
}

/*
 * A base page entered the page cache of @root at [@index, @index + @nr),
 * zero-filled and uptodate: the drain of holes_sem waits out views that
 * mapped the zero page there from the old state, and their ptes go.
 */
static void cowshare_base_filled(struct cowshare_region *root, pgoff_t index, unsigned long nr)
{
	atomic_long_add(nr, &root->base_pages);
	atomic_long_add(nr, &cowshare_stats.base_pages);
	atomic_long_add(nr, &cowshare_stats.cache_pages);
	down_write(&root->holes_sem);
	up_write(&root->holes_sem);
	unmap_mapping_pages(root->inode->i_mapping, index, nr, false);
}

/* Not with 64 KiB pages: a PMD-size folio is order 13 there, beyond the page cache's. */
static bool cowshare_pmd_folio_fits(void)
{
	unsigned int order = COWSHARE_PMD_ORDER;

	return order <= MAX_PAGECACHE_ORDER;
}

/*
 * A PMD-size base folio at @index of @root, for a base write that covers
 * all of it: locked, referenced, zero-filled and uptodate, its first page
 * returned. NULL if the region or the kernel allows none there, the range
 * holds a base page already, or no such folio can be had now with at most
 * one pass of reclaim (__GFP_NORETRY; counted as a fallback: the write
 * goes on in 4 KiB pages).
 */
static struct page *cowshare_base_huge(struct cowshare_region *root, pgoff_t index)
{
	struct address_space *mapping = root->inode->i_mapping;
	unsigned long first = index, i;
	struct folio *folio;
	gfp_t gfp;
	int ret;

	if (!IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) || root->no_huge ||
	    !cowshare_pmd_folio_fits() ||
	    !IS_ALIGNED(index, COWSHARE_PMD_PAGES) || root->npages - index < COWSHARE_PMD_PAGES)
		return NULL;
	if (xa_find(&mapping->i_pages, &first, index + COWSHARE_PMD_PAGES - 1, XA_PRESENT))
		return NULL;
	gfp = mapping_gfp_mask(mapping);
	folio = folio_alloc(gfp | __GFP_NORETRY | __GFP_NOWARN, COWSHARE_PMD_ORDER);
	if (!folio) {
		atomic_long_inc(&cowshare_stats.huge_fallbacks);
		return NULL;
	}
	for (i = 0; i < COWSHARE_PMD_PAGES; i++) {
		clear_highpage(folio_page(folio, i));
		cond_resched();		/* 32 MiB with 16 KiB pages */
	}
	flush_dcache_folio(folio);
	folio_mark_uptodate(folio);
	/*
	 * Fails with -EEXIST if a 4 KiB base page came meanwhile, -ENOMEM if
	 * the memory cgroup refuses 2 MiB at once (a fallback); locked if not.
	 */
	ret = filemap_add_folio(mapping, folio, index, gfp);
	if (ret) {
		if (ret != -EEXIST)
			atomic_long_inc(&cowshare_stats.huge_fallbacks);
		folio_put(folio);
		return NULL;
	}
	/*
	 * The region's own reference, until eviction: with it no split
	 * (MADV_COLD or MADV_PAGEOUT of part of a PMD, in any view) and no
	 * migration can take the folio apart, so @huge_folios stays exact
	 * and every view keeps its PMDs.
	 */
	folio_get(folio);
	atomic_long_inc(&root->huge_folios);
	atomic_long_inc(&cowshare_stats.huge_folios);
	cowshare_base_filled(root, index, COWSHARE_PMD_PAGES);
	return folio_page(folio, 0);
}

/*
 * Base page @index of root @root for a base write, locked and referenced,
 * allocated zero-filled if it was a hole (in a PMD-size folio if
 * @whole_pmd: the write covers the aligned PMD range @index starts). Views
 * map the zero page at a hole: once the page is in the page cache (new
 * mappings find it), cowshare_base_filled() zaps what they mapped before.
 */
static struct page *cowshare_base_page(struct cowshare_region *root, pgoff_t index,
				       bool whole_pmd)
{
	struct address_space *mapping = root->inode->i_mapping;
	struct page *page;

	if (whole_pmd) {
		page = cowshare_base_huge(root, index);
		if (page)
			return page;
	}
	page = pagecache_get_page(mapping, index, FGP_LOCK | FGP_CREAT, mapping_gfp_mask(mapping));
	if (!page)
		return ERR_PTR(-ENOMEM);
	if (!PageUptodate(page)) {
		clear_highpage(page);
		flush_dcache_page(page);
		SetPageUptodate(page);
		cowshare_base_filled(root, index, 1);
	}
	return page;
}

/*
 * The identity of a file's content: equal keys mean the same bytes, as far
 * as the filesystem tells (size, times and change counter unchanged).
 * inode_query_iversion() marks i_version as seen, so that the next change
 * of the file increments it even within one timestamp tick.
 */
static int cowshare_file_key(struct file *file, u64 offset, pgoff_t npages,
			     struct cowshare_file_key *key)
{
	struct inode *inode = file_inode(file);
	struct kstat stat;
	int ret;

	memset(key, 0, sizeof(*key));
	key->version = inode_query_iversion(inode);
	ret = vfs_getattr(&file->f_path, &stat, STATX_BASIC_STATS, AT_STATX_SYNC_AS_STAT);
	if (ret)
		return ret;
	key->dev = stat.dev;
	key->ino = stat.ino;
	key->size = stat.size;
	key->mtime = stat.mtime;
	key->ctime = stat.ctime;
	key->offset = offset;
	key->npages = npages;
	return 0;
}

static bool cowshare_file_key_equal(const struct cowshare_file_key *a,
				    const struct cowshare_file_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       timespec64_equal(&a->mtime, &b->mtime) &&
	       timespec64_equal(&a->ctime, &b->ctime) &&
	       a->version == b->version && a->offset == b->offset &&
	       a->npages == b->npages;
}

/* A live shareable image of the same content, with an inode reference. */
static struct cowshare_region *cowshare_find_image(const struct cowshare_file_key *key)
{
	struct cowshare_region *region;

	list_for_each_entry(region, &cowshare_regions, node) {
		/* An image is shared only with callers who asked for the same folios. */
		if (!region->shared_image || region->no_huge != key->no_huge ||
		    !cowshare_file_key_equal(&region->file_key, key))
			continue;
		/* igrab() fails while the region is being freed. */
		if (igrab(region->inode))
			return region;
	}
	return NULL;
}

/*
 * Read the file's content into the base, eagerly: the region must not
 * change when the file does later, and no reference to the file is kept.
 * Pages past the end of the file stay holes (they read as zero).
 */
static int cowshare_fill_from_file(struct cowshare_region *region, struct file *file,
				   u64 offset, u64 file_size)
{
	pgoff_t idx, fill;
	struct page *page;
	ssize_t got = 0;
	size_t done;
	void *kaddr;
	loff_t pos;

	fill = file_size > offset ?
	       min_t(u64, region->npages, DIV_ROUND_UP_ULL(file_size - offset, PAGE_SIZE)) : 0;
	for (idx = 0; idx < fill; idx++) {
		page = cowshare_base_page(region, idx, fill - idx >= COWSHARE_PMD_PAGES);
		if (IS_ERR(page))
			return PTR_ERR(page);
		pos = offset + ((u64)idx << PAGE_SHIFT);
		kaddr = kmap_local_page(page);
		/* A read may return less than asked before the end of file. */
		for (done = 0; done < PAGE_SIZE; done += got) {
			got = kernel_read(file, kaddr + done, PAGE_SIZE - done, &pos);
			if (got <= 0)
				break;
		}
		kunmap_local(kaddr);
		flush_dcache_page(page);
		unlock_page(page);
		put_page(page);
		if (got < 0)
			return got;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

/*
 * Publish a filled image under @key unless an equal one was published
 * meanwhile (that one is returned instead, with a reference) or the file
 * changed while it was read (then the image is returned unshared: its
 * content is not what the key describes).
 */
static struct cowshare_region *cowshare_publish_image(struct cowshare_region *region,
						      struct file *file,
						      const struct cowshare_file_key *key)
{
	struct cowshare_file_key after;
	struct cowshare_region *other;

	if (cowshare_file_key(file, key->offset, key->npages, &after) ||
	    !cowshare_file_key_equal(key, &after))
		return region;		/* the file changed while it was read */
	mutex_lock(&cowshare_regions_lock);
	other = cowshare_find_image(key);
	if (!other) {
		region->file_key = *key;
		region->shared_image = true;
	}
	mutex_unlock(&cowshare_regions_lock);
	if (!other)
		return region;
	iput(region->inode);
	return other;
}

int cowshare_region_create_from_file(const struct cowshare_create_from_file *args)
{
	bool share = args->flags & COWSHARE_SHARE_BY_FILE;
	struct cowshare_region *region = NULL;
	struct cowshare_file_key key;
	struct fd f;
	pgoff_t npages;
	int ret;

	npages = DIV_ROUND_UP_ULL(args->length, PAGE_SIZE);
	f = fdget(args->fd);
	if (!fd_file(f))
		return -EBADF;
	ret = -EBADF;
	if (!(fd_file(f)->f_mode & FMODE_READ))
		goto out_fdput;
	ret = -EINVAL;
	if (!S_ISREG(file_inode(fd_file(f))->i_mode))
		goto out_fdput;
	ret = cowshare_file_key(fd_file(f), args->offset, npages, &key);
	if (ret)
		goto out_fdput;
	key.no_huge = cowshare_want_no_huge(args->flags);

	if (share) {
		mutex_lock(&cowshare_regions_lock);
		region = cowshare_find_image(&key);
		mutex_unlock(&cowshare_regions_lock);
		if (region)
			goto install;
	}
	/* Built without a lock held: reading a large or slow file blocks no one. */
	region = cowshare_region_alloc(npages);
	if (IS_ERR(region)) {
		ret = PTR_ERR(region);
		goto out_fdput;
	}
	cowshare_region_allow_huge(region, key.no_huge);
	ret = cowshare_fill_from_file(region, fd_file(f), args->offset, key.size);
	if (ret)
		goto out_iput;
	region->file_image = true;
	cowshare_region_seal_base(region);
	if (share)
		region = cowshare_publish_image(region, fd_file(f), &key);
install:
	ret = cowshare_region_install_fd(region, args->flags);
out_iput:
	iput(region->inode);
out_fdput:
	fdput(f);
	return ret;
}

void cowshare_fill_region_info(struct cowshare_region *region, struct cowshare_region_entry *e)
{
	e->id = region->id;
	e->length = (u64)region->npages << PAGE_SHIFT;
	e->base_pages = atomic_long_read(&region->base_pages);
	e->private_pages = atomic_long_read(&region->private_pages);
	e->views = atomic_long_read(&region->views);
	e->region_flags = (cowshare_region_sealed(region) ? COWSHARE_REGION_SEALED : 0) |
			  (region->file_image ? COWSHARE_REGION_FILE_IMAGE : 0) |
			  (region->root->no_huge ? COWSHARE_REGION_NO_HUGE : 0);
	e->creator_uid = from_kuid_munged(current_user_ns(), region->creator);
}

#define COWSHARE_LIST_MAX	4096	/* entries per call */

/* COWSHARE_IOC_LIST_REGIONS: @args in, nr_entries and total out. */
int cowshare_list_regions(struct cowshare_list_regions *args)
{
	bool all = capable(CAP_SYS_ADMIN);
	struct cowshare_region_entry *rows;
	struct cowshare_region *region;
	u32 n = 0, i, esize;
	u64 total = 0;
	int ret;

	if (args->flags)
		return -EINVAL;
	if (args->nr_entries && args->entry_size < COWSHARE_REGION_ENTRY_SIZE_VER0)
		return -EINVAL;
	if (args->entry_size > PAGE_SIZE)
		return -E2BIG;
	esize = args->entry_size;
	args->nr_entries = min_t(u32, args->nr_entries, COWSHARE_LIST_MAX);
	rows = kvcalloc(args->nr_entries ?: 1, sizeof(*rows), GFP_KERNEL_ACCOUNT);
	if (!rows)
		return -ENOMEM;

	mutex_lock(&cowshare_regions_lock);
	list_for_each_entry(region, &cowshare_regions, node) {
		if (region->id < args->start_id ||
		    (!all && !uid_eq(region->creator, current_euid())))
			continue;
		if (n < args->nr_entries)
			cowshare_fill_region_info(region, &rows[n++]);
		total++;
	}
	mutex_unlock(&cowshare_regions_lock);

	ret = -EFAULT;
	for (i = 0; i < n; i++) {
		void __user *dst = u64_to_user_ptr(args->entries) + (u64)i * esize;
		u32 known = min_t(u32, esize, sizeof(rows[i]));

		if (copy_to_user(dst, &rows[i], known) ||
		    clear_user(dst + known, esize - known))
			goto out_free;
	}
	args->nr_entries = n;
	args->total = total;
	ret = 0;
out_free:
	kvfree(rows);
	return ret;
}

/*
 * The base page @index of @region, referenced, or NULL at a hole (zero).
 * Not locked.
 */
struct page *cowshare_base_peek(struct cowshare_region *region, pgoff_t index)
{
	struct page *page;

	if (cowshare_region_is_layer(region)) {
		page = cowshare_pages_peek(&region->overlay, index);
		if (page) {
			get_page(page);
			return page;
		}
		index += region->root_off;
		region = region->root;
	}
	page = pagecache_get_page(region->inode->i_mapping, index, 0, 0);
	if (page && !PageUptodate(page)) {
		lock_page(page);	/* wait for the zero-fill */
		unlock_page(page);
	}
	return page;
}

static ssize_t cowshare_region_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct cowshare_region *region = iocb->ki_filp->private_data;
	loff_t size = (loff_t)region->npages << PAGE_SHIFT;
	loff_t pos = iocb->ki_pos;
	ssize_t done = 0;

	if (pos >= size)
		return 0;
	iov_iter_truncate(to, size - pos);
	while (iov_iter_count(to)) {
		size_t offset = pos & ~PAGE_MASK;
		size_t len = min_t(size_t, PAGE_SIZE - offset, iov_iter_count(to));
		struct page *page;
		size_t copied;

		/*
		 * Not locked while copying out: the user buffer may be a view
		 * of this very page, whose write fault locks it to copy it.
		 */
		page = cowshare_base_peek(region, pos >> PAGE_SHIFT);
		if (page && unlikely(PageHWPoison(page))) {
			put_page(page);
			if (!done)
				return -EIO;
			break;
		}
		if (page) {
			copied = copy_page_to_iter(page, offset, len, to);
			put_page(page);
		} else {
			copied = iov_iter_zero(len, to);
		}
		done += copied;
		pos += copied;
		if (copied < len) {
			if (!done)
				return -EFAULT;
			break;
		}
		if (fatal_signal_pending(current))
			break;
		cond_resched();
	}
	iocb->ki_pos = pos;
	return done;
}

static ssize_t cowshare_region_write_locked(struct kiocb *iocb, struct iov_iter *from)
{
	struct cowshare_region *region = iocb->ki_filp->private_data;
	loff_t size = (loff_t)region->npages << PAGE_SHIFT;
	loff_t pos = iocb->ki_pos;
	ssize_t done = 0;

	if (!iov_iter_count(from))
		return 0;
	/* Layers are sealed from birth: only a root's base is ever written. */
	if (cowshare_region_sealed(region))
		return -EPERM;
	/* A region never grows: writing at or past its end has no room. */
	if (pos >= size)
		return -ENOSPC;
	iov_iter_truncate(from, size - pos);
	while (iov_iter_count(from)) {
		size_t offset = pos & ~PAGE_MASK;
		size_t len = min_t(size_t, PAGE_SIZE - offset, iov_iter_count(from));
		struct page *page;
		size_t copied;

		/*
		 * The source may be a view of this region: fault it in first,
		 * then copy with page faults off while the base page is locked.
		 */
		if (fault_in_iov_iter_readable(from, len) == len) {
			if (!done)
				done = -EFAULT;
			break;
		}
		page = cowshare_base_page(region, pos >> PAGE_SHIFT,
					  IS_ALIGNED(pos, PMD_SIZE) &&
					  iov_iter_count(from) >= PMD_SIZE);
		if (IS_ERR(page)) {
			if (!done)
				done = PTR_ERR(page);
			break;
		}
		pagefault_disable();
		copied = copy_page_from_iter_atomic(page, offset, len, from);
		pagefault_enable();
		flush_dcache_page(page);
		if (copied && READ_ONCE(region->exec_mapped))
			cowshare_sync_icache(page);
		unlock_page(page);
		put_page(page);
		done += copied;
		pos += copied;
		if (fatal_signal_pending(current))
			break;
		cond_resched();
	}
	if (done > 0)
		iocb->ki_pos = pos;
	return done;
}

static ssize_t cowshare_region_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	ssize_t ret;

	/* The inode lock orders base writes against COWSHARE_IOC_SEAL. */
	inode_lock(inode);
	ret = cowshare_region_write_locked(iocb, from);
	inode_unlock(inode);
	return ret;
}

static int cowshare_region_mmap(struct file *file, struct vm_area_struct *vma)
{
	return cowshare_view_mmap(file->private_data, vma);
}

/*
 * After this no base write runs or starts: they hold the inode lock. The
 * release pairs with cowshare_region_sealed(): a mapper that sees the
 * region sealed sees every hole a base write filled before.
 */
void cowshare_region_seal_base(struct cowshare_region *region)
{
	inode_lock(region->inode);
	/* Pairs with cowshare_region_sealed(). */
	smp_store_release(&region->sealed, true);
	inode_unlock(region->inode);
}

const struct file_operations cowshare_region_fops = {
	.owner = THIS_MODULE,
	.llseek = generic_file_llseek,
	.read_iter = cowshare_region_read_iter,
	.write_iter = cowshare_region_write_iter,
	.mmap = cowshare_region_mmap,
	/* PMD-aligned views where they are large enough: huge views need it (NULL without THP). */
	.get_unmapped_area = thp_get_unmapped_area,
	.fsync = noop_fsync,		/* msync(MS_SYNC) of a view: nothing to write back */
	.unlocked_ioctl = cowshare_region_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};
