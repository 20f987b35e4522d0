// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare faults: a read maps what the view shows, a window of pages at
 * a time; a write gives the view an exclusive copy of the page.
 *
 * What a view shows at offset i: its copy of i; else the page its layer
 * holds at i; else the root's base page (page cache); else, at a hole,
 * the module's zero page. ->fault maps all of it with vm_insert_pages(),
 * a whole page table's worth (fault_around_pages) around the fault, so
 * that reading every page of a view of any kind costs a fault per page
 * table, not one per page.
 *
 * Locking. Faults hold the mmap read lock (6.1) or only the vma's lock
 * (6.12: ->map_pages is set, to a function that maps nothing). Mappers
 * hold view->map_sem shared and never wait for a page lock; whoever
 * changes what the view shows publishes the change in the index and
 * drains map_sem (cowshare_view_drain()).
 * A copy is made writable only under its page lock, when it is exclusive
 * (cowshare_copy_try_exclusive()); fork and snapshot share a copy under
 * its lock, after zapping its ptes.
 */
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>

#include "compat.h"
#include "cowshare.h"

static inline pgoff_t cowshare_fault_index(struct cowshare_view *view, struct vm_fault *vmf)
{
	return vmf->pgoff - view->shift;
}

static vm_fault_t cowshare_vmf_error(int err)
{
	return err == -EHWPOISON ? VM_FAULT_HWPOISON : vmf_error(err);
}

/*
 * The read window around @addr: the aligned block of fault_around_pages
 * (a power of two, at most a page table) that holds it, within @vma.
 */
static void cowshare_window(struct cowshare_view *view, struct vm_area_struct *vma,
			    unsigned long addr, pgoff_t *first, pgoff_t *last)
{
	unsigned long nr = clamp_val(READ_ONCE(cowshare_fault_around_pages), 1, PTRS_PER_PTE);
	unsigned long base, start, end;

	nr = rounddown_pow_of_two(nr);
	base = ALIGN_DOWN(addr, nr << PAGE_SHIFT);
	start = max(base, vma->vm_start);
	end = min(base + (nr << PAGE_SHIFT), vma->vm_end);
	*first = cowshare_vma_first(view, vma) + ((start - vma->vm_start) >> PAGE_SHIFT);
	*last = *first + ((end - start) >> PAGE_SHIFT) - 1;
}

/*
 * Hold what the view shows still (see struct cowshare_view): its copies,
 * and, while its root is unsealed, the root's holes. False if @trylock
 * and a change is being drained.
 */
static bool cowshare_map_begin(struct cowshare_view *view, bool trylock, bool *holes)
{
	struct cowshare_region *root = view->region->root;

	if (!trylock)
		down_read(&view->map_sem);
	else if (!down_read_trylock(&view->map_sem))
		return false;
	*holes = !cowshare_region_sealed(root);
	if (!*holes)
		return true;
	if (!trylock) {
		down_read(&root->holes_sem);
	} else if (!down_read_trylock(&root->holes_sem)) {
		up_read(&view->map_sem);
		return false;
	}
	return true;
}

static void cowshare_map_end(struct cowshare_view *view, bool holes)
{
	if (holes)
		up_read(&view->region->root->holes_sem);
	up_read(&view->map_sem);
}

/*
 * Huge views (cowshare_vma_huge()) are ordinary file vmas of a sealed root
 * whose every page is in its page cache. The core maps their base pages:
 * a PMD-size folio with one PMD where the view holds no copy in that PMD
 * range, ptes elsewhere (filemap_map_pages() from ->map_pages), and the
 * page ->fault returns. That page is mapped after ->fault returned, out of
 * map_sem: so whoever changes what a huge view shows at an offset also
 * waits, after the drain, for the lock of the page it showed there
 * (->fault returns pages locked and the core maps them before unlocking),
 * and only then zaps.
 *
 * A PMD over a copy would show the base instead of the view's own page.
 * The core makes a PMD only on an empty pmd, and a PMD range in which the
 * view holds a copy always has a page table: a write fault maps the copy
 * with a pte; a read ->fault that finds the pmd empty in such a range (a
 * fork child's view, or a zap that split a PMD) makes the table first,
 * under the lock of the range's PMD-size folio, which every PMD mapping of
 * that folio also holds; fault-around leaves such a range to ->fault.
 */
static void cowshare_count_pmd_map(struct cowshare_view *view)
{
	atomic_long_inc(&view->pmd_maps);
	atomic_long_inc(&cowshare_stats.pmd_maps);
}

/* A write split a PMD of the view to copy one page. */
static void cowshare_count_pmd_split(struct cowshare_view *view)
{
	atomic_long_inc(&view->pmd_splits);
	atomic_long_inc(&cowshare_stats.pmd_splits);
}

static vm_fault_t cowshare_huge_map_pages(struct vm_fault *vmf, struct cowshare_view *view)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long haddr = vmf->address & PMD_MASK;
	pgoff_t first, last, pos, copy;
	vm_fault_t ret = 0;
	bool none;

	if (READ_ONCE(view->fork_failed) || !down_read_trylock(&view->map_sem))
		return 0;
	/* The whole page table's worth, within the vma: one fault maps it all. */
	first = linear_page_index(vma, max(haddr, vma->vm_start));
	last = linear_page_index(vma, min(haddr + PMD_SIZE, vma->vm_end) - 1);
	none = pmd_none(READ_ONCE(*vmf->pmd));
	/* Under 6.12's rcu_read_lock(): cowshare_pages_any() never sleeps. */
	if (!cowshare_pages_any(&view->copies, first - view->shift, last - view->shift)) {
		ret = filemap_map_pages(vmf, first, last);
		if (none && pmd_trans_huge(READ_ONCE(*vmf->pmd)))
			cowshare_count_pmd_map(view);
	} else if (!none) {
		/* The runs between the view's copies: base pages, with ptes. */
		for (pos = first; pos <= last; pos = copy + 1) {
			copy = cowshare_pages_next(&view->copies, pos - view->shift,
						   last - view->shift) + view->shift;
			if (copy > pos)
				ret |= filemap_map_pages(vmf, pos, copy - 1);
		}
	}
	up_read(&view->map_sem);
	return ret;
}

/*
 * ->map_pages: fault-around of a huge view (above). For the others it maps
 * nothing: ->fault maps the whole window, the root's base pages with the
 * rest, in one vm_insert_pages() pass. Measured on 6.12-amd64, that pass
 * maps a page cache page faster than filemap_map_pages() (which locks and
 * unlocks every folio), and a window mixing base pages with holes or
 * copies costs one fault, not two. The op exists for them too because
 * 6.12 calls ->fault under the per-vma lock only for a vma that has it
 * (vmf_can_call_fault()).
 */
vm_fault_t cowshare_vm_map_pages(struct vm_fault *vmf, pgoff_t start_pgoff, pgoff_t end_pgoff)
{
	if (!cowshare_vma_huge(vmf->vma))
		return 0;
	return cowshare_huge_map_pages(vmf, cowshare_vma_view(vmf->vma));
}

/*
 * Fill the empty slots of @pages[i - s], i in [s, e] (view offsets, at most
 * a chunk), with the root's uptodate base pages, and with the zero page
 * where the root has a hole. A base page not uptodate is being filled by
 * a base write: left empty (not mapped), the writer's drain of holes_sem
 * comes after this mapper. Each base page filled in is referenced (bit
 * i - s of @held): a base page is an LRU page cache folio, which migration
 * (move_pages(), compaction) replaces in the page cache and frees at once,
 * so RCU alone does not keep it. As filemap_get_read_batch(): a
 * speculative reference, then the slot reloaded.
 */
static void cowshare_root_fill(struct cowshare_view *view, pgoff_t s, pgoff_t e,
			       struct page **pages, unsigned long *held)
{
	struct address_space *mapping = view->region->root->inode->i_mapping;
	XA_STATE(xas, &mapping->i_pages, s + view->shift);
	DECLARE_BITMAP(present, COWSHARE_CHUNK_PAGES);
	struct page *zero = cowshare_zero_page();
	struct folio *folio;
	pgoff_t i;

	bitmap_zero(present, COWSHARE_CHUNK_PAGES);
	rcu_read_lock();
	xas_for_each(&xas, folio, e + view->shift) {
		pgoff_t first, last;
		unsigned int n = 0;

		if (xas_retry(&xas, folio) || xa_is_value(folio))
			continue;
		if (!folio_try_get(folio)) {
			xas_reset(&xas);	/* frozen: being migrated, look again */
			continue;
		}
		if (unlikely(folio != xas_reload(&xas))) {
			folio_put(folio);
			xas_reset(&xas);
			continue;
		}
		first = max(folio->index, s + view->shift);
		last = min(folio->index + folio_nr_pages(folio) - 1, e + view->shift);
		for (i = first - view->shift; i <= last - view->shift; i++) {
			struct page *page = folio_page(folio, i + view->shift - folio->index);

			__set_bit(i - s, present);
			if (!folio_test_uptodate(folio) || pages[i - s] || PageHWPoison(page))
				continue;
			pages[i - s] = page;
			__set_bit(i - s, held);
			n++;
		}
		if (n > 1)
			folio_ref_add(folio, n - 1);
		else if (!n)
			folio_put(folio);
	}
	rcu_read_unlock();
	for (i = s; i <= e; i++)
		if (!pages[i - s] && !test_bit(i - s, present))
			pages[i - s] = zero;
}

/*
 * Map @nr pages at @addr, skipping ptes already present; *@mapped when
 * @fault_addr ends up mapped (by this or before).
 */
static int cowshare_insert_run(struct vm_area_struct *vma, unsigned long addr,
			       struct page **pages, unsigned long nr,
			       unsigned long fault_addr, bool *mapped)
{
	while (nr) {
		unsigned long left = nr, done;
		int err = vm_insert_pages(vma, addr, pages, &left);

		done = nr - left;
		if (fault_addr >= addr && fault_addr < addr + (done << PAGE_SHIFT))
			*mapped = true;
		if (!err)
			return 0;
		addr += done << PAGE_SHIFT;
		pages += done;
		nr -= done;
		if (err != -EBUSY)
			return err;
		if (fault_addr >= addr && fault_addr < addr + PAGE_SIZE)
			*mapped = true;
		addr += PAGE_SIZE;
		pages++;
		nr--;
	}
	return 0;
}

/*
 * Map what the view shows in [first, last]: its copies, its layer's
 * pages, the root's base pages, the zero page at holes. One chunk's worth
 * of pages at a time. The caller holds cowshare_map_begin(), which keeps
 * every copy and layer page found alive (and the root's holes still).
 */
static int cowshare_map_window(struct vm_fault *vmf, struct cowshare_view *view,
			       pgoff_t first, pgoff_t last, bool *mapped)
{
	struct cowshare_region *region = view->region;
	struct vm_area_struct *vma = vmf->vma;
	struct page *pages[COWSHARE_CHUNK_PAGES];
	DECLARE_BITMAP(held, COWSHARE_CHUNK_PAGES);
	unsigned long fault_addr = vmf->address & PAGE_MASK;
	pgoff_t s, e, i, run;
	int err = 0;

	for (s = first; s <= last && !err; s = e + 1) {
		e = min(last, s | (COWSHARE_CHUNK_PAGES - 1));
		memset(pages, 0, sizeof(pages));
		bitmap_zero(held, COWSHARE_CHUNK_PAGES);
		cowshare_pages_fill(&view->copies, s, e, pages, false);
		if (cowshare_region_is_layer(region))
			cowshare_pages_fill(&region->overlay, s, e, pages, true);
		cowshare_root_fill(view, s, e, pages, held);
		for (i = s; i <= e && !err; i = run) {
			if (!pages[i - s]) {
				run = i + 1;
				continue;
			}
			for (run = i + 1; run <= e && pages[run - s]; run++)
				;
			err = cowshare_insert_run(vma, cowshare_index_addr(view, vma, i),
						  &pages[i - s], run - i, fault_addr, mapped);
		}
		for_each_set_bit(i, held, COWSHARE_CHUNK_PAGES)
			put_page(pages[i]);
	}
	return err;
}

/* The fault's own page, a root base page the window did not map (being filled). */
static int cowshare_map_root_page(struct vm_fault *vmf, struct cowshare_view *view,
				  pgoff_t idx, bool *mapped)
{
	struct address_space *mapping = view->region->root->inode->i_mapping;
	struct page *page;
	int err;

	page = pagecache_get_page(mapping, idx + view->shift, 0, 0);
	if (!page)
		return 0;		/* filled since: the refault maps it */
	err = 0;
	/* Not uptodate: a base write is filling it; never wait here (holes_sem). */
	if (PageHWPoison(page)) {
		err = -EHWPOISON;
	} else if (PageUptodate(page)) {
		err = vm_insert_page(vmf->vma, vmf->address & PAGE_MASK, page);
		if (!err || err == -EBUSY) {
			*mapped = true;
			err = 0;
		}
	}
	put_page(page);
	return err;
}

static int cowshare_pte_table_only(pte_t *pte, unsigned long addr, void *data)
{
	return 0;
}

/*
 * Before a huge view's ->fault returns base page @page locked: if @page
 * is part of a PMD-size folio, the pmd is empty and the view holds a copy
 * in the folio's range, give the range a page table, or the core would
 * map the whole folio with one PMD, over the copies. No PMD of the folio
 * can be made meanwhile: every PMD mapping of it holds its lock, as the
 * caller does. apply_to_page_range() only allocates the table here; its
 * callback writes no pte. Without copies there, the core maps the PMD:
 * counted.
 */
static int cowshare_huge_need_table(struct vm_fault *vmf, struct cowshare_view *view,
				    struct page *page)
{
	struct vm_area_struct *vma = vmf->vma;
	struct folio *folio = page_folio(page);
	unsigned long haddr = vmf->address & PMD_MASK;
	pgoff_t first;

	if (folio_order(folio) != COWSHARE_PMD_ORDER || !pmd_none(READ_ONCE(*vmf->pmd)) ||
	    folio_test_has_hwpoisoned(folio))
		return 0;
	first = folio->index - view->shift;
	if (cowshare_pages_any(&view->copies, first, first + COWSHARE_PMD_PAGES - 1)) {
		unsigned int noreclaim;
		int err;

		/*
		 * Under a lock every view of the folio waits on: no reclaim
		 * (and no memcg limit) may stall them on this one table.
		 */
		noreclaim = memalloc_noreclaim_save();
		err = apply_to_page_range(vma->vm_mm, vmf->address & PAGE_MASK, PAGE_SIZE,
					  cowshare_pte_table_only, NULL);
		memalloc_noreclaim_restore(noreclaim);
		return err;
	}
	/*
	 * The core maps all of the folio with one PMD (finish_fault() ->
	 * do_set_pmd()) when the vma holds the whole, aligned range, as
	 * fault-around would but for the folio that ends at i_size.
	 */
	if (haddr >= vma->vm_start && haddr + PMD_SIZE <= vma->vm_end &&
	    linear_page_index(vma, haddr) == folio->index && !cowshare_thp_disabled(vma))
		cowshare_count_pmd_map(view);
	return 0;
}

/*
 * A read of a huge view: what it shows at @idx, its copy or the base page,
 * returned locked for the core to map (with a PMD where it can). Page
 * locks are only tried under map_sem: a changer may hold one while it
 * drains.
 */
static vm_fault_t cowshare_huge_read_fault(struct vm_fault *vmf, struct cowshare_view *view,
					   pgoff_t idx)
{
	struct address_space *mapping = view->region->inode->i_mapping;
	struct page *page;
	bool base;
	int err;

	for (;;) {
		down_read(&view->map_sem);
		page = cowshare_pages_get(&view->copies, idx);
		base = !page;
		if (base)
			page = pagecache_get_page(mapping, idx + view->shift, 0, 0);
		if (!page) {
			/* A huge view's root has no hole: only a poisoned page goes. */
			up_read(&view->map_sem);
			return VM_FAULT_SIGBUS;
		}
		if (trylock_page(page)) {
			/* A base page migrated meanwhile is no longer the base. */
			if (!base || page_folio(page)->mapping == mapping)
				break;
			unlock_page(page);
			up_read(&view->map_sem);
		} else {
			up_read(&view->map_sem);
			lock_page(page);
			unlock_page(page);
		}
		put_page(page);
	}
	/* Never hand the core a poisoned page locked: it would evict its folio. */
	err = PageHWPoison(page) ? -EHWPOISON :
	      base ? cowshare_huge_need_table(vmf, view, page) : 0;
	up_read(&view->map_sem);
	if (err) {
		unlock_page(page);
		put_page(page);
		return cowshare_vmf_error(err);
	}
	atomic_long_inc(&view->read_faults);
	vmf->page = page;
	return VM_FAULT_LOCKED;
}

static vm_fault_t cowshare_read_fault(struct vm_fault *vmf, struct cowshare_view *view,
				      pgoff_t idx)
{
	bool mapped = false, holes;
	pgoff_t first, last;
	int err;

	cowshare_window(view, vmf->vma, vmf->address, &first, &last);
	cowshare_map_begin(view, false, &holes);
	err = cowshare_map_window(vmf, view, first, last, &mapped);
	if (!mapped && !err)
		err = cowshare_map_root_page(vmf, view, idx, &mapped);
	cowshare_map_end(view, holes);
	atomic_long_inc(&view->read_faults);
	if (mapped || !err)
		return VM_FAULT_NOPAGE;
	return cowshare_vmf_error(err);
}

/*
 * Publish a new exclusive copy of what the view shows at @idx, replacing
 * @old, the view's copy there (referenced), or none: referenced, not
 * locked. NULL if the view's entry changed meanwhile (the caller retries).
 */
static struct page *cowshare_new_copy(struct cowshare_view *view, struct vm_area_struct *vma,
				      pgoff_t idx, unsigned long addr, struct page *old)
{
	struct cowshare_region *root = view->region->root;
	struct page *copy, *src = old;
	bool lock_src = false;
	int ret;

	copy = cowshare_copy_alloc(vma->vm_mm, root);
	if (!copy)
		return ERR_PTR(-ENOMEM);
	if (!old) {
		src = cowshare_base_peek(view->region, idx);
		/* An unsealed root's page may be written meanwhile: never copy it torn. */
		lock_src = src && !cowshare_region_sealed(root);
		if (lock_src)
			lock_page(src);
	}
	/*
	 * A poisoned page stays in a PMD-size base folio (the region's pin
	 * keeps memory_failure() from splitting it out): never read it.
	 */
	if (unlikely(src && PageHWPoison(src))) {
		if (lock_src)
			unlock_page(src);
		if (src != old)
			put_page(src);
		cowshare_copy_discard(copy);
		return ERR_PTR(-EHWPOISON);
	}
	cowshare_copy_fill(copy, src, addr, vma);
	if (lock_src)
		unlock_page(src);

	get_page(copy);			/* the caller's; the allocation's is the index's */
	if (old) {
		ret = cowshare_pages_replace(&view->copies, idx, old, copy) ? 0 : -EAGAIN;
	} else {
		ret = cowshare_pages_insert(&view->copies, idx, copy, GFP_KERNEL_ACCOUNT);
		if (ret == -EEXIST)
			ret = -EAGAIN;
	}
	if (ret) {
		if (src && src != old)
			put_page(src);
		put_page(copy);
		cowshare_copy_discard(copy);
		return ret == -EAGAIN ? NULL : ERR_PTR(ret);
	}
	if (!old)
		cowshare_count_copy(view, 1);
	atomic_long_inc(&view->cow_faults);
	/*
	 * A mapper that found what the view showed before is done after the
	 * drain: zap what it mapped. The view keeps no pte of a page it no
	 * longer holds, or the last holder of @old, writing it in place,
	 * would write into this view (a fork relative's copy).
	 */
	cowshare_view_drain(view);
	/*
	 * A huge view's ->fault returned @src locked, and the core maps it
	 * before unlocking: wait for that too. Whatever @vma is, another vma
	 * of the view may be huge (an alias, after fork made this one a
	 * 4 KiB vma).
	 */
	if (src) {
		lock_page(src);
		unlock_page(src);
	}
	cowshare_view_zap(view, vma, idx, 1);
	if (src && src != old)
		put_page(src);
	if (old)
		cowshare_copy_release(old);
	return copy;
}

/*
 * The view's exclusive copy of @idx, made if needed: locked and
 * referenced. An existing copy is reused when exclusive, or when its
 * other holders are gone (cowshare_copy_try_exclusive()). *@zapped when
 * this made it, and so zapped the view's ptes of @idx.
 */
static struct page *cowshare_writable_copy(struct cowshare_view *view,
					   struct vm_area_struct *vma, pgoff_t idx,
					   unsigned long addr, bool *zapped)
{
	struct page *page, *copy;

	*zapped = false;
	for (;;) {
		page = cowshare_pages_get(&view->copies, idx);
		if (page) {
			lock_page(page);
			if (cowshare_pages_peek_locked(&view->copies, idx) != page) {
				unlock_page(page);
				put_page(page);
				continue;
			}
			/* +1: our reference. */
			if (cowshare_copy_try_exclusive(page, 1))
				return page;
			unlock_page(page);
		}
		copy = cowshare_new_copy(view, vma, idx, addr, page);
		if (page)
			put_page(page);
		if (IS_ERR(copy))
			return copy;
		if (!copy)
			continue;
		*zapped = true;
		lock_page(copy);
		if (cowshare_pages_peek_locked(&view->copies, idx) == copy &&
		    cowshare_copy_try_exclusive(copy, 1))
			return copy;
		/* Dropped (reset) or shared (fork, snapshot) meanwhile. */
		unlock_page(copy);
		put_page(copy);
	}
}

/*
 * A write to an empty pte: return the view's exclusive copy; the core
 * calls ->page_mkwrite on it, then maps it writable.
 */
static vm_fault_t cowshare_write_fault(struct vm_fault *vmf, struct cowshare_view *view,
				       pgoff_t idx)
{
	struct page *page;
	bool zapped;

	page = cowshare_writable_copy(view, vmf->vma, idx, vmf->address, &zapped);
	if (IS_ERR(page))
		return cowshare_vmf_error(PTR_ERR(page));
	/*
	 * Unlocked: __do_fault() evicts the page cache folio of a poisoned
	 * page it gets locked, and a copy is in none (its mapping is only its
	 * futex key). The core locks it, then unlocks it again to call
	 * ->page_mkwrite, which takes it and checks it is still exclusive.
	 */
	unlock_page(page);
	vmf->page = page;
	return 0;
}

vm_fault_t cowshare_vm_fault(struct vm_fault *vmf)
{
	struct cowshare_view *view = cowshare_vma_view(vmf->vma);
	pgoff_t idx = cowshare_fault_index(view, vmf);

	if (unlikely(idx >= view->region->npages || READ_ONCE(view->fork_failed)))
		return VM_FAULT_SIGBUS;
	if (vmf->flags & FAULT_FLAG_WRITE)
		return cowshare_write_fault(vmf, view, idx);
	if (cowshare_vma_huge(vmf->vma))
		return cowshare_huge_read_fault(vmf, view, idx);
	return cowshare_read_fault(vmf, view, idx);
}

/*
 * ->huge_fault: every view maps at pte level or through ->map_pages, so
 * this only counts. The core calls it on a write to a PMD-mapped huge view
 * (wp_huge_pmd()) before it splits that PMD and retries with ptes (then
 * ->fault copies the page), and, with THP enabled for the vma (6.12),
 * before it tries ptes under an empty pmd or pud. A split another thread
 * made since the fault read the pmd is not counted again; ->access counts
 * the splits of debugger writes.
 */
vm_fault_t cowshare_vm_huge_fault(struct vm_fault *vmf, bool pmd)
{
	struct cowshare_view *view = cowshare_vma_view(vmf->vma);

	if (pmd && (vmf->flags & FAULT_FLAG_WRITE) && pmd_trans_huge(vmf->orig_pmd) &&
	    pmd_same(READ_ONCE(*vmf->pmd), vmf->orig_pmd))
		cowshare_count_pmd_split(view);
	return VM_FAULT_FALLBACK;
}

/*
 * ->page_mkwrite: a write to a read-only pte, or the write fault of
 * ->fault above. The view's exclusive copy is written in place. For any
 * other page (a base page, a layer page, the zero page, a copy shared
 * with a fork relative or a snapshot), the view gets its own copy, the pte
 * is emptied and the CPU faults again: ->fault then maps the copy. The
 * core cannot replace the page under a pte of a shared mapping, and a
 * valid pte is never swapped for another (break-before-make on arm64).
 */
vm_fault_t cowshare_vm_page_mkwrite(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct cowshare_view *view = cowshare_vma_view(vma);
	pgoff_t idx = cowshare_fault_index(view, vmf);
	struct page *page = vmf->page, *copy;
	bool zapped;

	if (unlikely(READ_ONCE(view->fork_failed)))
		return VM_FAULT_SIGBUS;
	lock_page(page);
	/* +1: the fault's reference. */
	if (cowshare_pages_peek_locked(&view->copies, idx) == page &&
	    cowshare_copy_try_exclusive(page, 1))
		return VM_FAULT_LOCKED;
	unlock_page(page);

	copy = cowshare_writable_copy(view, vma, idx, vmf->address, &zapped);
	if (IS_ERR(copy))
		return cowshare_vmf_error(PTR_ERR(copy));
	/* The pte maps @page, not @copy: emptied, the refault maps @copy. */
	if (!zapped)
		cowshare_view_zap(view, vma, idx, 1);
	unlock_page(copy);
	put_page(copy);
	return VM_FAULT_NOPAGE;
}

/*
 * Whether a PMD maps @addr in @vma now. Under the mmap lock: the page
 * tables of an attached vma are not freed.
 */
static bool cowshare_pmd_mapped(struct vm_area_struct *vma, unsigned long addr)
{
	pgd_t *pgd = pgd_offset(vma->vm_mm, addr);
	p4d_t *p4d;
	pud_t *pud;

	if (pgd_none(READ_ONCE(*pgd)) || pgd_bad(READ_ONCE(*pgd)))
		return false;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(READ_ONCE(*p4d)) || p4d_bad(READ_ONCE(*p4d)))
		return false;
	pud = pud_offset(p4d, addr);
	if (pud_none(READ_ONCE(*pud)) || pud_bad(READ_ONCE(*pud)))
		return false;
	return pmd_trans_huge(READ_ONCE(*pmd_offset(pud, addr)));
}

/*
 * ->access: ptrace and /proc/pid/mem when GUP refuses, which it does for a
 * forced write into a read-only shared mapping. A write goes into the
 * view's copy, as a debugger's breakpoint would in a private mapping.
 * Called under the mmap read lock.
 */
int cowshare_vm_access(struct vm_area_struct *vma, unsigned long addr, void *buf,
		       int len, int write)
{
	struct cowshare_view *view = cowshare_vma_view(vma);
	struct cowshare_region *region = view->region;
	pgoff_t idx = linear_page_index(vma, addr) - view->shift;
	unsigned int offset = offset_in_page(addr);
	struct page *page;
	void *kaddr;

	if (idx >= region->npages || READ_ONCE(view->fork_failed))
		return -EFAULT;
	len = min_t(int, len, PAGE_SIZE - offset);

	if (write) {
		/* The copy's zap splits a PMD there, as a write fault's would. */
		bool split = cowshare_vma_huge(vma) && cowshare_pmd_mapped(vma, addr);
		bool zapped;

		page = cowshare_writable_copy(view, vma, idx, addr, &zapped);
		if (IS_ERR(page))
			return PTR_ERR(page);
		if (split)
			cowshare_count_pmd_split(view);
		kaddr = kmap_local_page(page);
		memcpy(kaddr + offset, buf, len);
		kunmap_local(kaddr);
		flush_dcache_page(page);
		if (vma->vm_flags & VM_EXEC)
			cowshare_sync_icache(page);
		/* The address may map what the view showed before: remap the copy next. */
		if (!zapped)
			cowshare_view_zap(view, vma, idx, 1);
		unlock_page(page);
		put_page(page);
		return len;
	}

	page = cowshare_pages_get(&view->copies, idx);
	if (!page)
		page = cowshare_base_peek(region, idx);
	if (!page) {
		memset(buf, 0, len);
		return len;
	}
	if (unlikely(PageHWPoison(page))) {
		put_page(page);
		return -EIO;
	}
	kaddr = kmap_local_page(page);
	memcpy(buf, kaddr + offset, len);
	kunmap_local(kaddr);
	put_page(page);
	return len;
}
