/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowshare internals: the objects the module's files share.
 *
 * region   - a set of base pages. A root region's base pages are the page
 *            cache of its own inode on the module's pseudo filesystem (the
 *            views' vmas are on that inode, so a zap reaches them all); a
 *            snapshot is a layer over a root region: its own base pages in
 *            an index (@overlay), every other page the root's. Layers are
 *            always one deep: a snapshot of a layer's view copies the
 *            layer's index, never stacks on it.
 * view     - what one mmap() of a region fd made in one process: the vmas
 *            split or moved from it, and its private copies, in an index
 *            keyed by page offset into the region. A forked child gets a
 *            view of its own for each of the parent's, sharing the
 *            parent's copies until either side writes.
 * copy     - a page the module allocated for a view's first write to a
 *            page. Its holders (view indexes, snapshot indexes) are
 *            counted in page->private; only a copy with one holder that
 *            no fork or snapshot shared since (exclusive) is written in
 *            place.
 *
 * Lock order (outermost first):
 *
 *   inode lock of a region (base writes, seal; a base write faults in
 *   its source buffer)
 *     mmap lock or per-vma lock (fault, ioctl, fork)
 *       view->ctl (one dirty/reset/snapshot/info at a time per view)
 *         view->map_sem, root->holes_sem (read: batch mapping; their
 *                                         holders wait for no page lock)
 *           page lock (a copy: exclusivity, mapping writable; a base page
 *                      of an unsealed root: a copy of it is never torn,
 *                      a base write fills it)
 *             root->holes_sem (write: the drain of a base write, under
 *                              the page it fills)
 *             i_mmap_rwsem of the root (unmap_mapping_pages(): a base
 *                                       write's zap, zaps of an aliased view)
 *               the index lock (xa_lock of cowshare_pages)
 *   view->lock (the vma list) is taken under the mmap lock, never under a
 *   page lock; cowshare_fork_lock and cowshare_regions_lock are leaves.
 *
 * A page lock is never held across a drain of map_sem (down_write), and
 * batch mapping never waits on a page lock, so drains cannot deadlock
 * with mappers.
 */
#ifndef _COWSHARE_H
#define _COWSHARE_H

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/time64.h>
#include <linux/xarray.h>

#include <linux/cowshare.h>

struct cowshare_stats {
	atomic_long_t regions;
	atomic_long_t base_pages;	/* root page cache pages + layer index entries */
	atomic_long_t private_pages;	/* entries of all views' indexes */
	atomic_long_t views;
	atomic_long_t copy_pages;	/* physical copies held by a view or a layer */
	atomic_long_t cache_pages;	/* physical base pages in roots' page caches */
	atomic_long_t zero_pages;	/* pages the module uses as its zero page */
	atomic_long_t meta_bytes;	/* its own objects: regions, views, index chunks */
	atomic_long_t huge_folios;	/* PMD-size folios in roots' page caches */
	atomic_long_t pmd_maps;		/* PMD mappings views made, since load */
	atomic_long_t pmd_splits;	/* PMD mappings a write split, since load */
	atomic_long_t huge_fallbacks;	/* PMD-size base folios not allocated */
};

extern struct cowshare_stats cowshare_stats;
extern unsigned long cowshare_max_region_size;
extern unsigned int cowshare_fault_around_pages;
extern bool cowshare_huge;

/* A PMD-size folio: what one PMD maps (2 MiB on 4 KiB pages, 32 MiB on 16 KiB). */
#define COWSHARE_PMD_ORDER	(PMD_SHIFT - PAGE_SHIFT)
#define COWSHARE_PMD_PAGES	BIT(COWSHARE_PMD_ORDER)

/*
 * An index of pages by offset: a view's copies, a layer's own base pages.
 * An xarray of chunks of COWSHARE_CHUNK_PAGES offsets each (pages.c).
 */
struct cowshare_pages {
	struct xarray xa;
};

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
	bool no_huge;			/* not the file's: how the image holds it */
};

struct cowshare_region {
	u64 id;
	struct list_head node;		/* cowshare_regions, under its lock */
	pgoff_t npages;
	struct inode *inode;		/* its region fds are files on it */
	atomic_long_t base_pages;
	atomic_long_t private_pages;	/* index entries of all its views */
	atomic_long_t views;
	kuid_t creator;
	bool exec_mapped;		/* some view had VM_MAYEXEC: keep icache in sync */
	bool sealed;			/* base immutable: smp_store_release under inode lock */
	bool file_image;		/* made by COWSHARE_IOC_CREATE_FROM_FILE */
	/*
	 * A base write (or a file image's read) that covers a whole aligned
	 * PMD range of a root puts one PMD-size folio there, unless @no_huge.
	 */
	bool no_huge;
	atomic_long_t huge_folios;
	/*
	 * A root: @root is itself and its base pages are its page cache;
	 * @holes_sem orders a base write filling a hole (views map the zero
	 * page there) against views mapping that hole (unsealed roots only).
	 * A layer: its own base pages in @overlay, index i of it is index
	 * i + @root_off of @root (held through its inode), and its views map
	 * @root_file (a file on the root's inode, so that a zap of the root's
	 * mapping reaches them).
	 */
	struct cowshare_region *root;
	pgoff_t root_off;
	struct cowshare_pages overlay;
	struct file *root_file;
	struct rw_semaphore holes_sem;
	bool shared_image;		/* found by others with the same file_key */
	struct cowshare_file_key file_key;
};

static inline bool cowshare_region_is_layer(const struct cowshare_region *region)
{
	return region->root != region;
}

static inline bool cowshare_region_sealed(struct cowshare_region *region)
{
	/* Pairs with cowshare_region_seal_base(): sees every base write before the seal. */
	return smp_load_acquire(&region->sealed);
}

struct cowshare_view {
	struct cowshare_region *region;
	struct mm_struct *mm;		/* the mm its vmas live in; no reference */
	/* fork: the view the running fork made of this one, and the reverse */
	struct cowshare_view *fork_child;
	struct cowshare_view *fork_parent;
	pgoff_t shift;			/* vm_pgoff - index: region->root_off */
	struct cowshare_pages copies;	/* index -> private copy */
	/*
	 * Batch mapping (fault-around, ->fault) holds @map_sem shared while
	 * it reads what the view shows and maps it. Whoever changes what the
	 * view shows at an offset publishes the change in @copies first,
	 * then drains @map_sem (down_write, up_write): no mapping made from
	 * the old state can land after that, and the old pte can be zapped.
	 */
	struct rw_semaphore map_sem;
	struct mutex ctl;		/* dirty, reset, snapshot, info: one at a time */
	struct mutex lock;		/* @vmas */
	struct list_head vmas;		/* of struct cowshare_vma */
	bool aliased;			/* two of its vmas map one offset (mremap) */
	bool fork_failed;		/* fork could not duplicate it: SIGBUS */
	atomic_long_t nr_copies;
	atomic_long_t read_faults;
	atomic_long_t cow_faults;
	atomic_long_t pmd_maps;
	atomic_long_t pmd_splits;
};

/* One vma of a view: the vma's vm_private_data. */
struct cowshare_vma {
	struct cowshare_view *view;
	struct vm_area_struct *vma;
	struct list_head node;		/* in view->vmas, under view->lock */
};

static inline struct cowshare_view *cowshare_vma_view(const struct vm_area_struct *vma)
{
	return ((struct cowshare_vma *)vma->vm_private_data)->view;
}

/*
 * A huge view's vmas are ordinary file vmas (no VM_MIXEDMAP), so that the
 * core can map its root's PMD-size base folios with PMDs: see
 * cowshare_view_mmap() and fault.c.
 */
static inline bool cowshare_vma_huge(const struct vm_area_struct *vma)
{
	return !(vma->vm_flags & VM_MIXEDMAP);
}

/*
 * A view a failed fork left without some of its copies faults SIGBUS, and
 * refuses what would report or keep that wrong content (a snapshot, a
 * dirty report, a reset).
 */
static inline int cowshare_view_usable(struct cowshare_view *view)
{
	return READ_ONCE(view->fork_failed) ? -EIO : 0;
}

/* main.c */
struct page *cowshare_zero_page(void);
bool cowshare_is_zero_page(struct page *page);

/* pages.c: the module's objects, counted */
void *cowshare_meta_alloc(size_t size, gfp_t gfp);
void cowshare_meta_free(const void *p, size_t size);

/* pages.c: the index */
#define COWSHARE_CHUNK_SHIFT	6
#define COWSHARE_CHUNK_PAGES	BIT(COWSHARE_CHUNK_SHIFT)

struct cowshare_entry {
	pgoff_t idx;
	struct page *page;
};

void cowshare_pages_init(struct cowshare_pages *p);
struct page *cowshare_pages_get(struct cowshare_pages *p, pgoff_t idx);
struct page *cowshare_pages_peek(struct cowshare_pages *p, pgoff_t idx);
struct page *cowshare_pages_peek_locked(struct cowshare_pages *p, pgoff_t idx);
int cowshare_pages_insert(struct cowshare_pages *p, pgoff_t idx, struct page *page, gfp_t gfp);
int cowshare_pages_store(struct cowshare_pages *p, pgoff_t idx, struct page *page,
			 struct page **old, gfp_t gfp);
bool cowshare_pages_replace(struct cowshare_pages *p, pgoff_t idx, struct page *old,
			    struct page *page);
bool cowshare_pages_erase(struct cowshare_pages *p, pgoff_t idx, struct page *page);
unsigned int cowshare_pages_gather(struct cowshare_pages *p, pgoff_t *pos, pgoff_t last,
				   struct cowshare_entry *out, unsigned int max);
void cowshare_pages_fill(struct cowshare_pages *p, pgoff_t first, pgoff_t last,
			 struct page **pages, bool stable);
unsigned long cowshare_pages_count(struct cowshare_pages *p, pgoff_t first, pgoff_t last);
pgoff_t cowshare_pages_next(struct cowshare_pages *p, pgoff_t pos, pgoff_t last);
pgoff_t cowshare_pages_next_stable(struct cowshare_pages *p, pgoff_t pos, pgoff_t last);
int cowshare_pages_merge(struct cowshare_pages *p, unsigned long key, unsigned long slots,
			 struct page **buf, unsigned long *inserted, gfp_t gfp);
int cowshare_pages_dup(struct cowshare_pages *dst, struct cowshare_pages *src,
		       pgoff_t first, pgoff_t last, pgoff_t shift, gfp_t gfp);
void cowshare_pages_destroy(struct cowshare_pages *p, void (*put)(struct page *page));

/* Whether @p holds an entry in [first, last]; never sleeps (cowshare_pages_next()). */
static inline bool cowshare_pages_any(struct cowshare_pages *p, pgoff_t first, pgoff_t last)
{
	return cowshare_pages_next(p, first, last) <= last;
}

/* pages.c: copies */
struct page *cowshare_copy_alloc(struct mm_struct *mm, struct cowshare_region *root);
void cowshare_copy_fill(struct page *copy, struct page *src, unsigned long addr,
			struct vm_area_struct *vma);
void cowshare_copy_hold(struct page *page);
void cowshare_copy_release(struct page *page);
void cowshare_copy_discard(struct page *page);
bool cowshare_copy_exclusive(struct page *page);
bool cowshare_copy_try_exclusive(struct page *page, int extra_refs);
bool cowshare_copy_has_outside_refs(struct page *page, int extra_refs);

/* region.c */
int cowshare_fs_pin(void);
void cowshare_fs_unpin(void);
int cowshare_fs_init(void);
void cowshare_fs_exit(void);
struct cowshare_region *cowshare_region_alloc(pgoff_t npages);
int cowshare_region_reserve_fd(unsigned int flags);
int cowshare_region_install_reserved(struct cowshare_region *region, int fd);
int cowshare_region_install_fd(struct cowshare_region *region, unsigned int flags);
int cowshare_region_create(u64 length, unsigned int flags);
int cowshare_region_create_from_file(const struct cowshare_create_from_file *args);
int cowshare_list_regions(struct cowshare_list_regions *args);
void cowshare_region_seal_base(struct cowshare_region *region);
struct page *cowshare_base_peek(struct cowshare_region *region, pgoff_t index);
struct file *cowshare_file_alloc(struct inode *inode, const char *name,
				 const struct file_operations *fops, void *private_data);
void cowshare_fill_region_info(struct cowshare_region *region,
			       struct cowshare_region_entry *e);
extern const struct file_operations cowshare_region_fops;

/* snapshot.c */
int cowshare_snapshot(struct cowshare_region *region, unsigned long addr,
		      unsigned long npages, unsigned int flags);
void cowshare_layer_free(struct cowshare_region *layer);

/* view.c */
extern const struct vm_operations_struct cowshare_vm_ops;
int cowshare_view_mmap(struct cowshare_region *region, struct vm_area_struct *vma);
struct vm_area_struct *cowshare_find_view_vma(struct cowshare_region *region,
					      unsigned long addr, unsigned long len);
void cowshare_view_drain(struct cowshare_view *view);
void cowshare_view_zap(struct cowshare_view *view, struct vm_area_struct *vma,
		       pgoff_t idx, unsigned long nr);
void cowshare_count_copy(struct cowshare_view *view, long n);
void cowshare_view_open(struct vm_area_struct *vma);
void cowshare_view_close(struct vm_area_struct *vma);
int cowshare_view_mremap(struct vm_area_struct *vma);

static inline pgoff_t cowshare_vma_first(struct cowshare_view *view, struct vm_area_struct *vma)
{
	return vma->vm_pgoff - view->shift;
}

/* The user address of region index @idx in @vma. */
static inline unsigned long cowshare_index_addr(struct cowshare_view *view,
						struct vm_area_struct *vma, pgoff_t idx)
{
	return vma->vm_start + ((idx - cowshare_vma_first(view, vma)) << PAGE_SHIFT);
}

/* control.c: COWSHARE_IOC_VIEW_INFO, DIRTY, RESET */
int cowshare_view_info(struct cowshare_region *region, struct cowshare_view_info *info);
long cowshare_view_dirty(struct cowshare_region *region, const struct cowshare_range *args,
			 bool report, bool drop);

/* fault.c */
vm_fault_t cowshare_vm_fault(struct vm_fault *vmf);
vm_fault_t cowshare_vm_map_pages(struct vm_fault *vmf, pgoff_t start_pgoff, pgoff_t end_pgoff);
vm_fault_t cowshare_vm_page_mkwrite(struct vm_fault *vmf);
vm_fault_t cowshare_vm_huge_fault(struct vm_fault *vmf, bool pmd);
int cowshare_vm_access(struct vm_area_struct *vma, unsigned long addr, void *buf,
		       int len, int write);

/* ioctl.c */
long cowshare_dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
long cowshare_region_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* _COWSHARE_H */
