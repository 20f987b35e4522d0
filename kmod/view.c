// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare views: mmap() of a region fd and the vma life cycle (split,
 * mremap, fork, munmap, exit).
 *
 * A view's vmas are VM_MIXEDMAP, so that faults can map pages that are in
 * no page cache (copies, layer pages, the zero page) many at a time with
 * vm_insert_pages(), except a huge view's (cowshare_view_huge()): those
 * are ordinary file vmas, whose PMD-size base folios the core maps with
 * PMDs. VM_DONTEXPAND makes both VM_SPECIAL (never merged, skipped by
 * mlock, khugepaged and MADV_COLLAPSE). VM_DONTEXPAND refuses what would let two vmas of
 * one view alias the same offsets: mremap() growth, MREMAP_DONTUNMAP and
 * mremap(old_size = 0). A view only ever covers pages of its region: a
 * mapping past the region's end is refused.
 */
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include <linux/cowshare.h>

#include "compat.h"
#include "cowshare.h"

void cowshare_count_copy(struct cowshare_view *view, long n)
{
	atomic_long_add(n, &view->nr_copies);
	atomic_long_add(n, &view->region->private_pages);
	atomic_long_add(n, &cowshare_stats.private_pages);
}

static struct cowshare_view *cowshare_view_alloc(struct cowshare_region *region,
						 struct mm_struct *mm, gfp_t gfp)
{
	struct cowshare_view *view;

	view = cowshare_meta_alloc(sizeof(*view), gfp | __GFP_ZERO);
	if (!view)
		return NULL;
	/* The vmas' file is on the root's inode: the view holds its region. */
	ihold(region->inode);
	view->region = region;
	view->mm = mm;
	view->shift = region->root_off;
	cowshare_pages_init(&view->copies);
	init_rwsem(&view->map_sem);
	mutex_init(&view->ctl);
	mutex_init(&view->lock);
	INIT_LIST_HEAD(&view->vmas);
	atomic_long_inc(&region->views);
	atomic_long_inc(&cowshare_stats.views);
	return view;
}

/*
 * Links a view and the view the running fork made of it, so that all the
 * child's vmas from one parent view join one child view (split siblings,
 * or aliases). Either side unlinks when freed.
 */
static DEFINE_MUTEX(cowshare_fork_lock);

static void cowshare_fork_unlink(struct cowshare_view *view)
{
	mutex_lock(&cowshare_fork_lock);
	if (view->fork_child)
		view->fork_child->fork_parent = NULL;
	if (view->fork_parent)
		view->fork_parent->fork_child = NULL;
	mutex_unlock(&cowshare_fork_lock);
}

static void cowshare_view_free(struct cowshare_view *view)
{
	struct cowshare_region *region = view->region;

	cowshare_pages_destroy(&view->copies, cowshare_copy_release);
	cowshare_count_copy(view, -atomic_long_read(&view->nr_copies));
	cowshare_fork_unlink(view);
	atomic_long_dec(&region->views);
	atomic_long_dec(&cowshare_stats.views);
	mutex_destroy(&view->lock);
	mutex_destroy(&view->ctl);
	cowshare_meta_free(view, sizeof(*view));
	iput(region->inode);
}

/* @vma joins @view: its vm_private_data becomes its own link. */
static int cowshare_view_add_vma(struct cowshare_view *view,
				 struct vm_area_struct *vma, gfp_t gfp)
{
	struct cowshare_vma *link;

	link = cowshare_meta_alloc(sizeof(*link), gfp);
	if (!link)
		return -ENOMEM;
	link->view = view;
	link->vma = vma;
	mutex_lock(&view->lock);
	list_add(&link->node, &view->vmas);
	mutex_unlock(&view->lock);
	vma->vm_private_data = link;
	return 0;
}

/* Drain batch mappers of @view: see struct cowshare_view. */
void cowshare_view_drain(struct cowshare_view *view)
{
	down_write(&view->map_sem);
	up_write(&view->map_sem);
}

/* Zap [idx, idx + nr) where @vma maps it. */
static void cowshare_zap_in(struct cowshare_view *view, struct vm_area_struct *vma,
			    pgoff_t idx, unsigned long nr)
{
	pgoff_t first = cowshare_vma_first(view, vma), last = first + vma_pages(vma) - 1;
	pgoff_t from = max(idx, first), to = min(idx + nr - 1, last);

	if (from > to)
		return;
	cowshare_zap_range(vma, cowshare_index_addr(view, vma, from),
			   (to - from + 1) << PAGE_SHIFT);
}

/*
 * Zap the view's ptes of [idx, idx + nr). Only @vma maps those offsets,
 * and the caller holds it (its lock or the mmap lock), unless an mremap
 * left two vmas of the view aliasing them (cowshare_view_mremap()). The
 * other vmas may then be faulted, moved or unmapped meanwhile (a 6.12
 * fault holds only its own vma's lock): the offsets are zapped through
 * the root's mapping instead, which reaches every vma mapping them under
 * i_mmap_rwsem. Other views lose those ptes too, and refault.
 */
void cowshare_view_zap(struct cowshare_view *view, struct vm_area_struct *vma,
		       pgoff_t idx, unsigned long nr)
{
	if (unlikely(READ_ONCE(view->aliased))) {
		unmap_mapping_pages(view->region->root->inode->i_mapping, idx + view->shift,
				    nr, false);
		return;
	}
	if (vma)
		cowshare_zap_in(view, vma, idx, nr);
}

struct cowshare_span {
	pgoff_t first, last;
};

static int cowshare_span_cmp(const void *a, const void *b)
{
	const struct cowshare_span *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * Whether two vmas of the view map a common offset; under view->lock.
 * Sorted by first offset, in O(n log n): a view may have as many vmas as
 * max_map_count allows. True if that cannot be told (no memory): aliased
 * only makes zaps wider.
 */
static bool cowshare_view_has_alias(struct cowshare_view *view)
{
	struct cowshare_vma *link;
	struct cowshare_span *spans;
	unsigned long n = 0, i;
	bool alias = false;
	pgoff_t reach;

	list_for_each_entry(link, &view->vmas, node)
		n++;
	if (n < 2)
		return false;
	spans = kvmalloc_array(n, sizeof(*spans), GFP_KERNEL);
	if (!spans)
		return true;
	i = 0;
	list_for_each_entry(link, &view->vmas, node) {
		spans[i].first = cowshare_vma_first(view, link->vma);
		spans[i].last = spans[i].first + vma_pages(link->vma) - 1;
		i++;
	}
	sort(spans, n, sizeof(*spans), cowshare_span_cmp, NULL);
	reach = spans[0].last;
	for (i = 1; i < n && !alias; i++) {
		alias = spans[i].first <= reach;
		reach = max(reach, spans[i].last);
	}
	kvfree(spans);
	return alias;
}

static struct cowshare_view *cowshare_fork_child(struct cowshare_view *parent,
						 struct mm_struct *mm)
{
	struct cowshare_view *child, *fresh = NULL;

	for (;;) {
		mutex_lock(&cowshare_fork_lock);
		child = parent->fork_child;
		if (child && child->mm == mm)
			break;
		if (fresh) {
			if (child)
				child->fork_parent = NULL;
			parent->fork_child = fresh;
			fresh->fork_parent = parent;
			child = fresh;
			fresh = NULL;
			break;
		}
		mutex_unlock(&cowshare_fork_lock);
		/*
		 * ->open cannot fail a fork: this is small and must not fail.
		 * Not under the global lock: it may reclaim in a memcg.
		 */
		fresh = cowshare_view_alloc(parent->region, mm, GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	}
	mutex_unlock(&cowshare_fork_lock);
	/* Only if another fork of this view ran meanwhile, which the mmap lock excludes. */
	if (unlikely(fresh))
		cowshare_view_free(fresh);
	return child;
}

/*
 * Insert the child's pages of one chunk (@slots at @key, from @buf) where
 * it has none yet (an alias of the parent's may have brought some) and
 * give back the others. The number inserted.
 */
static unsigned int cowshare_fork_flush(struct cowshare_view *child, unsigned long key,
					unsigned long slots, struct page **buf,
					struct page **parent_pages)
{
	unsigned long inserted;
	unsigned int k = 0, bit;

	if (cowshare_pages_merge(&child->copies, key, slots, buf, &inserted, GFP_KERNEL_ACCOUNT))
		child->fork_failed = true;
	for_each_set_bit(bit, &slots, COWSHARE_CHUNK_PAGES) {
		struct page *page = buf[k], *from = parent_pages[k];

		k++;
		if (inserted & BIT(bit))
			continue;
		if (page == from)
			cowshare_copy_release(page);
		else
			cowshare_copy_discard(page);
	}
	return hweight_long(inserted);
}

/*
 * The child's copy of the parent's @page: @page itself, shared from now
 * on (the first writer on either side copies), or, for a page the parent
 * may have pinned for DMA, a copy of it made now: the side that holds the
 * pin keeps the pinned page, as copy_present_page() does for anonymous
 * memory. NULL if that copy cannot be made.
 */
static struct page *cowshare_fork_page(struct cowshare_view *child, struct vm_area_struct *vma,
				       pgoff_t idx, struct page *page)
{
	struct page *copy;

	if (!folio_maybe_dma_pinned(page_folio(page)) || !cowshare_copy_exclusive(page)) {
		cowshare_copy_hold(page);
		return page;
	}
	copy = cowshare_copy_alloc(vma->vm_mm, child->region->root);
	if (copy)
		cowshare_copy_fill(copy, page, cowshare_index_addr(child, vma, idx), vma);
	return copy;
}

/*
 * cowshare_fork_page() for the parent's copy @page. dup_mmap() holds the
 * parent's vma write-locked, so no fault runs on it; but 6.12 locks vmas
 * one at a time, and a fault on an alias of it, not reached yet, may be
 * making @page writable there: while aliased, share it under its lock,
 * after zapping again what that fault mapped.
 */
static struct page *cowshare_fork_share(struct cowshare_view *parent,
					struct cowshare_view *child, struct vm_area_struct *vma,
					pgoff_t idx, struct page *page)
{
	struct page *ret;

	if (likely(!READ_ONCE(parent->aliased)))
		return cowshare_fork_page(child, vma, idx, page);
	lock_page(page);
	if (page_mapped(page))
		cowshare_view_zap(parent, NULL, idx, 1);
	ret = cowshare_fork_page(child, vma, idx, page);
	unlock_page(page);
	return ret;
}

/*
 * The parent's copies in [first, last] go to the child, shared. Its ptes
 * to them went first, and write_protect_seq tells GUP-fast that a fork is
 * write-protecting (as copy_page_range() does for anonymous memory), so a
 * pin taken from here on faults, and the fault copies.
 */
static void cowshare_fork_copies(struct cowshare_view *parent, struct cowshare_view *child,
				 struct vm_area_struct *pvma, struct vm_area_struct *vma,
				 pgoff_t first, pgoff_t last)
{
	struct page *buf[COWSHARE_CHUNK_PAGES], *from[COWSHARE_CHUNK_PAGES];
	unsigned long key = ULONG_MAX, slots = 0;
	struct cowshare_entry batch[16];
	pgoff_t pos = first;
	unsigned int n, i;
	long added = 0;

	raw_write_seqcount_begin(&parent->mm->write_protect_seq);
	cowshare_view_zap(parent, pvma, first, last - first + 1);
	while ((n = cowshare_pages_gather(&parent->copies, &pos, last, batch, ARRAY_SIZE(batch)))) {
		for (i = 0; i < n; i++) {
			pgoff_t idx = batch[i].idx;
			struct page *page;

			if (idx >> COWSHARE_CHUNK_SHIFT != key) {
				if (slots)
					added += cowshare_fork_flush(child, key, slots, buf, from);
				key = idx >> COWSHARE_CHUNK_SHIFT;
				slots = 0;
			}
			page = cowshare_fork_share(parent, child, vma, idx, batch[i].page);
			put_page(batch[i].page);
			if (!page) {
				child->fork_failed = true;
				continue;
			}
			buf[hweight_long(slots)] = page;
			from[hweight_long(slots)] = batch[i].page;
			slots |= BIT(idx & (COWSHARE_CHUNK_PAGES - 1));
		}
	}
	if (slots)
		added += cowshare_fork_flush(child, key, slots, buf, from);
	raw_write_seqcount_end(&parent->mm->write_protect_seq);
	cowshare_count_copy(child, added);
}

/*
 * ->open, on fork: the child's vma joins the child's view of the parent's
 * view, which shares the parent's copies. The child's page tables are not
 * copied (VM_WIPEONFORK, set before dup_mmap() tests it): it maps lazily,
 * and the parent's writable ptes of its copies must never reach it.
 */
static void cowshare_view_fork(struct cowshare_view *parent, struct vm_area_struct *vma)
{
	pgoff_t first = cowshare_vma_first(parent, vma), last = first + vma_pages(vma) - 1;
	struct vm_area_struct *pvma;
	struct cowshare_view *child;

	child = cowshare_fork_child(parent, vma->vm_mm);
	cowshare_view_add_vma(child, vma, GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	cowshare_vm_flags_set(vma, VM_WIPEONFORK);
	if (parent->fork_failed)
		child->fork_failed = true;
	/* The child's vmas are the parent's, aliases included. */
	if (READ_ONCE(parent->aliased))
		WRITE_ONCE(child->aliased, true);
	if (!cowshare_pages_any(&parent->copies, first, last))
		return;
	/* dup_mmap() holds both mms write-locked: no fault runs in either. */
	pvma = find_vma(parent->mm, vma->vm_start);
	if (WARN_ON_ONCE(!pvma || pvma->vm_start != vma->vm_start ||
			 cowshare_vma_view(pvma) != parent)) {
		child->fork_failed = true;
		return;
	}
	cowshare_fork_copies(parent, child, pvma, vma, first, last);
	/*
	 * A huge view maps copies one fault each (the core batches page
	 * cache pages only), and both sides must map theirs again now: they
	 * become 4 KiB views, which batch them. The parent's ptes are all
	 * gone (cowshare_fork_copies() zapped its range), the child has none
	 * yet, and no fault runs in either: no PMD is left under VM_MIXEDMAP.
	 */
	if (cowshare_vma_huge(vma)) {
		cowshare_vm_flags_set(vma, VM_MIXEDMAP);
		cowshare_vm_flags_set(pvma, VM_MIXEDMAP);
	}
}

/* ->open: a vma of the view was split off, moved by mremap, or forked. */
void cowshare_view_open(struct vm_area_struct *vma)
{
	/* Still the link of the vma this one was duplicated from. */
	struct cowshare_vma *src = vma->vm_private_data;
	struct cowshare_view *view = src->view;

	if (vma->vm_mm != view->mm) {
		cowshare_view_fork(view, vma);
		return;
	}
	/*
	 * A split piece lies inside its source (not shrunk yet when ->open
	 * runs); a vma elsewhere is mremap's copy, mapping its source's
	 * offsets: aliased from now, before a failed move closes it again
	 * (->close must then keep the copies the source still maps).
	 */
	if (vma->vm_start >= src->vma->vm_end || vma->vm_end <= src->vma->vm_start)
		WRITE_ONCE(view->aliased, true);
	cowshare_view_add_vma(view, vma, GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
}

/*
 * ->mremap: the ptes moved to @vma; the old vma, covering the same
 * offsets, is unmapped next (its ->close then keeps what @vma covers).
 * If that unmap fails, the two stay: copies are then replaced and dropped
 * in both (cowshare_view_zap()). ->open marked the view aliased already;
 * this says so again, for a kernel that moved without ->open.
 */
int cowshare_view_mremap(struct vm_area_struct *vma)
{
	struct cowshare_view *view = cowshare_vma_view(vma);

	WRITE_ONCE(view->aliased, true);
	return 0;
}

#define COWSHARE_CLOSE_COVER	4

/*
 * What of a closing vma's offsets the view's other vmas still map (only
 * aliases overlap it): disjoint offset spans, sorted.
 */
struct cowshare_cover {
	unsigned long nr;
	bool all;			/* could not tell (no memory): keep every copy */
	struct cowshare_span *spans;
	struct cowshare_span few[COWSHARE_CLOSE_COVER];
};

static bool cowshare_covered(const struct cowshare_cover *c, pgoff_t idx)
{
	unsigned long lo = 0, hi = c->nr;

	if (c->all)
		return true;
	while (lo < hi) {		/* the first span starting past idx */
		unsigned long mid = lo + (hi - lo) / 2;

		if (c->spans[mid].first <= idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && c->spans[lo - 1].last >= idx;
}

static void cowshare_cover_free(struct cowshare_cover *c)
{
	if (c->spans != c->few)
		kvfree(c->spans);
}

/*
 * Unlink @vma; what the view's other vmas cover of its offsets in @c:
 * nothing unless aliased, so that a close is O(1) here however many vmas
 * the view was split into.
 */
static bool cowshare_view_unlink(struct cowshare_view *view, struct vm_area_struct *vma,
				 struct cowshare_cover *c)
{
	pgoff_t first = cowshare_vma_first(view, vma), last = first + vma_pages(vma) - 1;
	struct cowshare_vma *link = vma->vm_private_data;
	unsigned long n = 0, i;
	bool last_vma;

	c->nr = 0;
	c->all = false;
	c->spans = c->few;
	mutex_lock(&view->lock);
	list_del(&link->node);
	cowshare_meta_free(link, sizeof(*link));
	if (view->aliased) {
		list_for_each_entry(link, &view->vmas, node) {
			pgoff_t f = cowshare_vma_first(view, link->vma);

			if (f <= last && f + vma_pages(link->vma) > first)
				n++;
		}
		if (n > COWSHARE_CLOSE_COVER) {
			c->spans = kvmalloc_array(n, sizeof(*c->spans), GFP_KERNEL);
			if (!c->spans) {
				c->spans = c->few;
				c->all = true;
			}
		}
		list_for_each_entry(link, &view->vmas, node) {
			pgoff_t f = cowshare_vma_first(view, link->vma);
			pgoff_t l = f + vma_pages(link->vma) - 1;

			if (c->all || l < first || f > last)
				continue;
			c->spans[c->nr].first = max(f, first);
			c->spans[c->nr++].last = min(l, last);
		}
		WRITE_ONCE(view->aliased, cowshare_view_has_alias(view));
	}
	last_vma = list_empty(&view->vmas);
	mutex_unlock(&view->lock);

	if (c->nr > 1) {
		sort(c->spans, c->nr, sizeof(*c->spans), cowshare_span_cmp, NULL);
		for (n = 0, i = 1; i < c->nr; i++) {
			if (c->spans[i].first <= c->spans[n].last + 1)
				c->spans[n].last = max(c->spans[n].last, c->spans[i].last);
			else
				c->spans[++n] = c->spans[i];
		}
		c->nr = n + 1;
	}
	return last_vma;
}

/*
 * ->close: the vma is gone (its ptes already zapped). Free the copies no
 * other vma of the view maps (one does only during an mremap move), the
 * view with its last vma. O(copies in the vma's range).
 */
void cowshare_view_close(struct vm_area_struct *vma)
{
	struct cowshare_view *view = cowshare_vma_view(vma);
	pgoff_t pos = cowshare_vma_first(view, vma), last = pos + vma_pages(vma) - 1;
	struct cowshare_entry batch[16];
	struct cowshare_cover cover;
	unsigned int n, i;
	bool last_vma;
	long dropped = 0;

	/*
	 * 6.1's __split_vma() closes a new piece it failed to insert as an
	 * empty vma (start == end, pgoff 0): it maps nothing and covers
	 * nothing; its source still maps all it had.
	 */
	if (unlikely(vma->vm_start >= vma->vm_end)) {
		struct cowshare_vma *link = vma->vm_private_data;

		mutex_lock(&view->lock);
		list_del(&link->node);
		last_vma = list_empty(&view->vmas);
		mutex_unlock(&view->lock);
		cowshare_meta_free(link, sizeof(*link));
		if (last_vma)
			cowshare_view_free(view);
		return;
	}
	last_vma = cowshare_view_unlink(view, vma, &cover);
	if (last_vma) {
		cowshare_cover_free(&cover);
		cowshare_view_free(view);
		return;
	}
	while ((n = cowshare_pages_gather(&view->copies, &pos, last, batch, ARRAY_SIZE(batch)))) {
		for (i = 0; i < n; i++) {
			struct page *page = batch[i].page;

			if (!cowshare_covered(&cover, batch[i].idx) &&
			    cowshare_pages_erase(&view->copies, batch[i].idx, page)) {
				cowshare_copy_release(page);
				dropped++;
			}
			put_page(page);
		}
		cond_resched();
	}
	cowshare_cover_free(&cover);
	cowshare_count_copy(view, -dropped);
}

/*
 * A new view of @region for @vma: its own copies index, its vma list. The
 * vma indexes the root region (its vm_file is on the root's inode, so
 * that a zap of the root's mapping reaches it), shifted by the layer's offset.
 */
/*
 * Whether a new view in @vma is a huge view (fault.c): a sealed root with
 * PMD-size base folios and every page written (a huge view never maps the
 * zero page: ->fault returns the pages it maps, and a hole would need the
 * one zero page locked), mapped at an address congruent with its offset
 * modulo PMD_SIZE, without which no PMD can be made. The others are
 * VM_MIXEDMAP, which lets ->fault map copies, layer pages and holes in one
 * vm_insert_pages() pass, but makes a PMD of a page cache folio a leak
 * (vma_is_special_huge()).
 */
static bool cowshare_view_huge(struct cowshare_region *region, struct vm_area_struct *vma)
{
	return IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) && !cowshare_region_is_layer(region) &&
	       cowshare_region_sealed(region) && atomic_long_read(&region->huge_folios) &&
	       atomic_long_read(&region->base_pages) == region->npages &&
	       IS_ALIGNED((vma->vm_start >> PAGE_SHIFT) - vma->vm_pgoff, COWSHARE_PMD_PAGES);
}

int cowshare_view_mmap(struct cowshare_region *region, struct vm_area_struct *vma)
{
	struct cowshare_view *view;
	int ret;

	/* The module does the copy-on-write itself, on shared mappings. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	/* Nothing past the region's end: a view covers pages of its region only. */
	if (vma->vm_pgoff >= region->npages || vma_pages(vma) > region->npages - vma->vm_pgoff)
		return -ENXIO;

	view = cowshare_view_alloc(region, vma->vm_mm, GFP_KERNEL_ACCOUNT);
	if (!view)
		return -ENOMEM;
	ret = cowshare_view_add_vma(view, vma, GFP_KERNEL_ACCOUNT);
	if (ret) {
		cowshare_view_free(view);
		return ret;
	}
	if (vma->vm_flags & VM_MAYEXEC)
		WRITE_ONCE(region->exec_mapped, true);
	if (cowshare_region_is_layer(region))
		vma_set_file(vma, region->root_file);
	if (cowshare_view_huge(region, vma))
		cowshare_vm_flags_set(vma, VM_DONTEXPAND);
	else
		cowshare_vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND);
	vma->vm_pgoff += view->shift;
	vma->vm_ops = &cowshare_vm_ops;
	return 0;
}

/*
 * The caller's vma that holds all of [addr, addr + len) of a view of
 * @region, under the mmap read lock; NULL if there is none.
 */
struct vm_area_struct *cowshare_find_view_vma(struct cowshare_region *region,
					      unsigned long addr, unsigned long len)
{
	struct vm_area_struct *vma = find_vma(current->mm, addr);

	if (!vma || vma->vm_start > addr || len > vma->vm_end - addr ||
	    vma->vm_ops != &cowshare_vm_ops ||
	    cowshare_vma_view(vma)->region != region)
		return NULL;
	return vma;
}

static void cowshare_vm_open(struct vm_area_struct *vma)
{
	cowshare_view_open(vma);
}

static void cowshare_vm_close(struct vm_area_struct *vma)
{
	cowshare_view_close(vma);
}

static int cowshare_vm_mremap(struct vm_area_struct *vma)
{
	return cowshare_view_mremap(vma);
}

/* 6.12 passes ->huge_fault() the order of the entry, 6.1 an enum page_entry_size. */
#ifdef COWSHARE_HAVE_PAGE_ENTRY_SIZE
static vm_fault_t cowshare_vm_huge_fault_size(struct vm_fault *vmf, enum page_entry_size size)
{
	return cowshare_vm_huge_fault(vmf, size == PE_SIZE_PMD);
}
#else
static vm_fault_t cowshare_vm_huge_fault_size(struct vm_fault *vmf, unsigned int order)
{
	return cowshare_vm_huge_fault(vmf, order == COWSHARE_PMD_ORDER);
}
#endif

const struct vm_operations_struct cowshare_vm_ops = {
	.open = cowshare_vm_open,
	.close = cowshare_vm_close,
	.mremap = cowshare_vm_mremap,
	.fault = cowshare_vm_fault,
	.map_pages = cowshare_vm_map_pages,
	.page_mkwrite = cowshare_vm_page_mkwrite,
	.huge_fault = cowshare_vm_huge_fault_size,
	.access = cowshare_vm_access,
};
