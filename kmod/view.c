// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare views: mmap() of a region fd, the fault paths that map base
 * pages read-only and give a view its own copy of a page on its first
 * write, and the vma life cycle (split, mremap, fork, munmap, exit).
 *
 * Locking. Faults run under the mmap read lock (6.1) or only the vma's
 * per-vma lock (6.12, because ->map_pages is set). A copy is inserted,
 * replaced, marked mapped or dropped only under its page lock; the core
 * maps a page returned with VM_FAULT_LOCKED before unlocking it, so "is it
 * mapped?" is stable under the page lock. A base page is locked while it is
 * copied, which serialises concurrent first writes to one page (exactly one
 * copy) and orders them against base writes. view->lock guards the vma list,
 * which changes only under the mmap write lock.
 */
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include <linux/cowshare.h>

#include "compat.h"
#include "cowshare.h"

struct cowshare_vma_link {
	struct list_head node;
	struct vm_area_struct *vma;
};

static const struct vm_operations_struct cowshare_vm_ops;

/*
 * A view's vmas index the root region of its region's snapshot chain (their
 * vm_file is on the root's inode, so that fault-around maps the root's
 * pages); the view and its copies use indexes of its own region.
 */
static pgoff_t cowshare_index(struct cowshare_view *view, pgoff_t pgoff)
{
	return pgoff - view->shift;
}

static pgoff_t cowshare_vma_first(struct cowshare_view *view, struct vm_area_struct *vma)
{
	return cowshare_index(view, vma->vm_pgoff);
}

/* The user address of region index @idx in @vma. */
static unsigned long cowshare_index_addr(struct cowshare_view *view,
					 struct vm_area_struct *vma, pgoff_t idx)
{
	return vma->vm_start + ((idx - cowshare_vma_first(view, vma)) << PAGE_SHIFT);
}

/* A view's own file: only ever a vm_file, never an fd. */
static const struct file_operations cowshare_view_fops = {
	.owner = THIS_MODULE,
	.fsync = noop_fsync,		/* msync(MS_SYNC): nothing to write back */
};

static void cowshare_count_copy(struct cowshare_view *view)
{
	atomic_long_inc(&view->nr_copies);
	atomic_long_inc(&view->region->private_pages);
	atomic_long_inc(&cowshare_stats.private_pages);
}

static void cowshare_uncount_copy(struct cowshare_view *view)
{
	atomic_long_dec(&view->nr_copies);
	atomic_long_dec(&view->region->private_pages);
	atomic_long_dec(&cowshare_stats.private_pages);
}

static struct cowshare_view *cowshare_view_alloc(struct cowshare_region *region,
						 struct mm_struct *mm, gfp_t gfp)
{
	struct cowshare_view *view;

	view = kzalloc(sizeof(*view), gfp);
	if (!view)
		return NULL;
	/*
	 * The vmas' file is on the root region's inode: for a snapshot the
	 * view itself must keep its region alive.
	 */
	ihold(region->inode);
	view->region = region;
	view->mm = mm;
	xa_init(&view->copies);
	mutex_init(&view->lock);
	INIT_LIST_HEAD(&view->vmas);
	atomic_long_inc(&region->views);
	atomic_long_inc(&cowshare_stats.views);
	return view;
}

/*
 * Links a view and the view the running fork made of it, so that all the
 * child's vmas from one parent view join one child view (they may be split
 * siblings that 6.12 later merges). Either side unlinks when freed.
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

/*
 * A copy joins the view: it takes the view's futex identity. The inode is
 * made with the first copy (most views, and most forks, never copy). If it
 * cannot be, only shared futexes in the copy fail (EFAULT).
 */
static void cowshare_own_page(struct cowshare_view *view, struct page *copy, pgoff_t idx)
{
	struct inode *inode = READ_ONCE(view->copies_inode);

	if (!inode) {
		inode = cowshare_alloc_inode();
		if (IS_ERR(inode))
			return;
		if (cmpxchg(&view->copies_inode, NULL, inode)) {
			iput(inode);
			inode = READ_ONCE(view->copies_inode);
		}
	}
	copy->mapping = inode->i_mapping;
	copy->index = idx;
}

/*
 * The view lets go of a copy, under its page lock. A copy a snapshot took
 * as its base keeps the snapshot's identity.
 */
static void cowshare_disown_page(struct cowshare_view *view, struct page *page)
{
	struct inode *inode = READ_ONCE(view->copies_inode);

	if (inode && page->mapping == inode->i_mapping)
		page->mapping = NULL;
}

/*
 * Forget the view's copy of @idx (not mapped by the view any more). Others
 * may still hold it (a pipe, a pin): like a truncated page cache page, it
 * loses its mapping first, under the page lock.
 */
static void cowshare_drop_copy(struct cowshare_view *view, pgoff_t idx,
			       struct page *page, bool locked)
{
	xa_erase(&view->copies, idx);
	if (!locked)
		lock_page(page);
	cowshare_disown_page(view, page);
	if (!locked)
		unlock_page(page);
	put_page(page);
	cowshare_uncount_copy(view);
}

static void cowshare_view_free(struct cowshare_view *view)
{
	struct page *page;
	unsigned long idx;

	xa_for_each(&view->copies, idx, page)
		cowshare_drop_copy(view, idx, page, false);
	xa_destroy(&view->copies);
	iput(view->copies_inode);
	cowshare_fork_unlink(view);
	atomic_long_dec(&view->region->views);
	atomic_long_dec(&cowshare_stats.views);
	iput(view->region->inode);
	mutex_destroy(&view->lock);
	kfree(view);
}

static int cowshare_view_add_vma(struct cowshare_view *view,
				 struct vm_area_struct *vma, gfp_t gfp)
{
	struct cowshare_vma_link *link;

	link = kmalloc(sizeof(*link), gfp);
	if (!link)
		return -ENOMEM;
	link->vma = vma;
	mutex_lock(&view->lock);
	list_add(&link->node, &view->vmas);
	mutex_unlock(&view->lock);
	return 0;
}

/* Whether a vma of the view other than a closed one still maps @idx. */
static bool cowshare_view_covers(struct cowshare_view *view, pgoff_t idx)
{
	struct cowshare_vma_link *link;

	list_for_each_entry(link, &view->vmas, node) {
		struct vm_area_struct *vma = link->vma;

		pgoff_t first = cowshare_vma_first(view, vma);

		if (idx >= first && idx < first + vma_pages(vma))
			return true;
	}
	return false;
}

/*
 * A private copy is charged to the memory cgroup of the process whose view
 * it belongs to (it may be made on another's behalf, by ptrace for one).
 */
static struct page *cowshare_alloc_copy(struct vm_area_struct *vma)
{
	struct mem_cgroup *memcg, *old;
	struct page *page;

	memcg = get_mem_cgroup_from_mm(vma->vm_mm);
	old = set_active_memcg(memcg);
	page = alloc_page(GFP_HIGHUSER | __GFP_ACCOUNT);
	set_active_memcg(old);
	mem_cgroup_put(memcg);
	return page;
}

/* The view's copy of @idx, referenced and locked, or NULL. */
static struct page *cowshare_lock_copy(struct cowshare_view *view, pgoff_t idx)
{
	struct page *page;

	for (;;) {
		xa_lock(&view->copies);
		page = xa_load(&view->copies, idx);
		if (page)
			get_page(page);
		xa_unlock(&view->copies);
		if (!page)
			return NULL;
		lock_page(page);
		if (xa_load(&view->copies, idx) == page)
			return page;
		unlock_page(page);
		put_page(page);
	}
}

static void cowshare_unlock_put(struct page *page)
{
	unlock_page(page);
	put_page(page);
}

/*
 * The view's copy of @idx, referenced and locked, ready to be mapped; NULL
 * when the view holds none.
 *
 * A copy that neither this nor any vma maps, and that the module did not
 * unmap itself, was dropped by the user with MADV_DONTNEED: forget it, so
 * that the view shows the base again.
 */
/*
 * Replace the view's copy @page of @idx (locked, referenced) by a new copy
 * of it, returned locked and referenced; @page is released.
 */
static struct page *cowshare_replace_copy(struct cowshare_view *view,
					  struct vm_area_struct *vma, pgoff_t idx,
					  unsigned long addr, struct page *page)
{
	struct page *copy;

	copy = cowshare_alloc_copy(vma);
	if (!copy) {
		cowshare_unlock_put(page);
		return ERR_PTR(-ENOMEM);
	}
	copy_user_highpage(copy, page, addr, vma);
	lock_page(copy);		/* new, so uncontended */
	cowshare_own_page(view, copy, idx);
	get_page(copy);			/* the caller's; the allocation's is the xarray's */
	xa_lock(&view->copies);
	/* Replaces an entry: needs no allocation. */
	__xa_store(&view->copies, idx, copy, GFP_NOWAIT);
	__xa_clear_mark(&view->copies, idx, COPY_REPLACE);
	__xa_clear_mark(&view->copies, idx, COPY_FROZEN);
	__xa_set_mark(&view->copies, idx, COPY_UNMAPPED);
	xa_unlock(&view->copies);
	atomic_long_inc(&view->cow_faults);
	cowshare_disown_page(view, page);
	cowshare_unlock_put(page);
	put_page(page);			/* the xarray's */
	return copy;
}

static struct page *cowshare_own_copy(struct cowshare_view *view,
				      struct vm_area_struct *vma, pgoff_t idx,
				      unsigned long addr)
{
	struct page *page;

	page = cowshare_lock_copy(view, idx);
	if (!page)
		return NULL;
	if (!page_mapped(page) && !xa_get_mark(&view->copies, idx, COPY_UNMAPPED)) {
		cowshare_drop_copy(view, idx, page, true);
		cowshare_unlock_put(page);
		return NULL;
	}
	if (xa_get_mark(&view->copies, idx, COPY_REPLACE))
		return cowshare_replace_copy(view, vma, idx, addr, page);
	return page;
}

/*
 * Forget the copies in [first, last] that the user dropped with
 * MADV_DONTNEED (the kernel tells us nothing: see cowshare_own_copy()), so
 * that reports and counters show what the view shows. O(copies).
 */
static void cowshare_reap_dropped(struct cowshare_view *view, pgoff_t first, pgoff_t last)
{
	unsigned long idx;
	struct page *page;

	xa_for_each_range(&view->copies, idx, page, first, last) {
		page = cowshare_lock_copy(view, idx);
		if (!page)
			continue;
		if (!page_mapped(page) && !xa_get_mark(&view->copies, idx, COPY_UNMAPPED))
			cowshare_drop_copy(view, idx, page, true);
		cowshare_unlock_put(page);
	}
}

/*
 * Make the view's first copy of @idx from the base page: referenced and
 * locked, not yet mapped. NULL if the view got a copy meanwhile.
 */
static struct page *cowshare_copy_base(struct cowshare_view *view,
				       struct vm_area_struct *vma, pgoff_t idx,
				       unsigned long addr)
{
	struct page *base, *copy;
	int ret;

	base = cowshare_base_get(view->region, idx, true);
	if (IS_ERR(base))
		return base;
	/* A concurrent first write made the copy while we waited for the lock. */
	if (xa_load(&view->copies, idx)) {
		copy = NULL;
		goto out;
	}
	copy = cowshare_alloc_copy(vma);
	if (!copy) {
		copy = ERR_PTR(-ENOMEM);
		goto out;
	}
	copy_user_highpage(copy, base, addr, vma);
	lock_page(copy);		/* new, so uncontended */
	cowshare_own_page(view, copy, idx);
	get_page(copy);

	xa_lock(&view->copies);
	ret = __xa_insert(&view->copies, idx, copy, GFP_KERNEL_ACCOUNT);
	if (!ret)
		__xa_set_mark(&view->copies, idx, COPY_UNMAPPED);
	xa_unlock(&view->copies);
	if (ret) {
		copy->mapping = NULL;
		cowshare_unlock_put(copy);
		put_page(copy);
		copy = ret == -EBUSY ? NULL : ERR_PTR(ret);
		goto out;
	}
	cowshare_count_copy(view);
	atomic_long_inc(&view->cow_faults);
out:
	cowshare_unlock_put(base);
	return copy;
}

/* The view's own copy of @idx, made if needed: referenced and locked. */
static struct page *cowshare_writable_copy(struct cowshare_view *view,
					   struct vm_area_struct *vma, pgoff_t idx,
					   unsigned long addr)
{
	struct page *page;

	for (;;) {
		page = cowshare_own_copy(view, vma, idx, addr);
		if (!IS_ERR_OR_NULL(page) && xa_get_mark(&view->copies, idx, COPY_FROZEN))
			return cowshare_replace_copy(view, vma, idx, addr, page);
		if (page)
			return page;
		page = cowshare_copy_base(view, vma, idx, addr);
		if (page)
			return page;
	}
}

/*
 * ->fault: the pte is empty. A read maps the view's copy or the base page,
 * read-only (write-notify keeps vm_page_prot read-only); a write returns the
 * view's copy, which ->page_mkwrite then lets the core map writable.
 */
static vm_fault_t cowshare_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct cowshare_view *view = vma->vm_private_data;
	pgoff_t idx = cowshare_index(view, vmf->pgoff);
	struct page *page;

	if (idx >= view->region->npages)
		return VM_FAULT_SIGBUS;
	if (unlikely(view->fork_failed))
		return VM_FAULT_OOM;

	if (vmf->flags & FAULT_FLAG_WRITE) {
		page = cowshare_writable_copy(view, vma, idx, vmf->address);
		if (IS_ERR(page))
			return vmf_error(PTR_ERR(page));
		vmf->page = page;
		return VM_FAULT_LOCKED;
	}

	page = cowshare_own_copy(view, vma, idx, vmf->address);
	if (IS_ERR(page))
		return vmf_error(PTR_ERR(page));
	if (page) {
		xa_clear_mark(&view->copies, idx, COPY_UNMAPPED);
	} else {
		page = cowshare_base_get(view->region, idx, true);
		if (IS_ERR(page))
			return vmf_error(PTR_ERR(page));
		atomic_long_inc(&view->read_faults);
	}
	vmf->page = page;
	return VM_FAULT_LOCKED;
}

/*
 * ->page_mkwrite: a write to a read-only pte, or the write fault of
 * ->fault above. The view's own copy may be written in place. For any other
 * page, make the view's copy, empty the pte and let the CPU fault again:
 * ->fault then maps the copy. The core cannot
 * replace a page in a shared mapping, and never a valid pte by another
 * (break-before-make on arm64).
 */
static vm_fault_t cowshare_vm_page_mkwrite(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct cowshare_view *view = vma->vm_private_data;
	pgoff_t idx = cowshare_index(view, vmf->pgoff);
	struct page *page = vmf->page;
	struct page *copy;

	lock_page(page);
	if (xa_load(&view->copies, idx) == page &&
	    !xa_get_mark(&view->copies, idx, COPY_FROZEN)) {
		/* The view's own copy, mapped read-only: write it in place. */
		xa_clear_mark(&view->copies, idx, COPY_UNMAPPED);
		return VM_FAULT_LOCKED;
	}
	unlock_page(page);

	/* A base page, or a copy a snapshot took as its base. */
	copy = cowshare_writable_copy(view, vma, idx, vmf->address);
	if (IS_ERR(copy))
		return vmf_error(PTR_ERR(copy));
	/*
	 * A racing writer may have mapped the copy here already: the zap
	 * may take it, and the mark says that was the module.
	 */
	xa_set_mark(&view->copies, idx, COPY_UNMAPPED);
	cowshare_zap_range(vma, vmf->address & PAGE_MASK, PAGE_SIZE);
	cowshare_unlock_put(copy);
	return VM_FAULT_NOPAGE;
}

/*
 * The first index in [pos, end] that fault-around must leave to ->fault:
 * the view holds a copy there, or a snapshot layer above the root region
 * holds a page of its own; end + 1 if none. Runs under RCU on 6.12.
 */
static pgoff_t cowshare_next_blocked(struct cowshare_view *view, pgoff_t pos, pgoff_t end)
{
	struct cowshare_region *layer = view->region;
	unsigned long i = pos;
	pgoff_t stop = end + 1, off = 0;

	if (xa_find(&view->copies, &i, end, XA_PRESENT))
		stop = i;
	for (; layer->lower; off += layer->lower_off, layer = layer->lower) {
		i = pos + off;
		if (xa_find(&layer->overlay, &i, end + off, XA_PRESENT) && i - off < stop)
			stop = i - off;
	}
	return stop;
}

/*
 * ->map_pages: fault-around maps the root region's base pages near a read
 * fault, except where the view holds a copy or a snapshot layer a page,
 * which only ->fault maps.
 */
static vm_fault_t cowshare_vm_map_pages(struct vm_fault *vmf, pgoff_t start_pgoff,
					pgoff_t end_pgoff)
{
	struct cowshare_view *view = vmf->vma->vm_private_data;
	pgoff_t npages = view->region->npages;
	pgoff_t start = cowshare_index(view, start_pgoff);
	pgoff_t end = cowshare_index(view, end_pgoff);
	vm_fault_t ret = 0;

	if (start >= npages)
		return 0;
	end = min(end, npages - 1);
	while (start <= end) {
		pgoff_t stop = cowshare_next_blocked(view, start, end);

		if (stop > start)
			ret |= filemap_map_pages(vmf, start + view->shift, stop - 1 + view->shift);
		start = stop + 1;
	}
	if (ret & VM_FAULT_NOPAGE)
		atomic_long_inc(&view->read_faults);
	return ret;
}

/*
 * ->access: ptrace and /proc/pid/mem when GUP refuses, which it does for a
 * forced write into a read-only shared mapping. A write goes into the view's
 * copy, as a debugger's breakpoint would in a private mapping.
 */
static int cowshare_vm_access(struct vm_area_struct *vma, unsigned long addr,
			      void *buf, int len, int write)
{
	struct cowshare_view *view = vma->vm_private_data;
	struct cowshare_region *region = view->region;
	pgoff_t idx = cowshare_index(view, linear_page_index(vma, addr));
	unsigned int offset = offset_in_page(addr);
	struct page *page;
	void *kaddr;

	if (idx >= region->npages)
		return -EFAULT;
	len = min_t(int, len, PAGE_SIZE - offset);

	if (write) {
		page = cowshare_writable_copy(view, vma, idx, addr);
		if (IS_ERR(page))
			return PTR_ERR(page);
		kaddr = kmap_local_page(page);
		memcpy(kaddr + offset, buf, len);
		kunmap_local(kaddr);
		flush_dcache_page(page);
		if (vma->vm_flags & VM_EXEC)
			cowshare_sync_icache(page);
		/* The address may map the base page: empty it, remap the copy. */
		xa_set_mark(&view->copies, idx, COPY_UNMAPPED);
		cowshare_zap_range(vma, addr & PAGE_MASK, PAGE_SIZE);
		cowshare_unlock_put(page);
		return len;
	}

	page = cowshare_lock_copy(view, idx);
	if (page)
		unlock_page(page);
	else
		page = cowshare_base_peek(region, idx);
	if (!page) {
		memset(buf, 0, len);
		return len;
	}
	kaddr = kmap_local_page(page);
	memcpy(buf, kaddr + offset, len);
	kunmap_local(kaddr);
	put_page(page);
	return len;
}

static struct cowshare_view *cowshare_fork_child(struct cowshare_view *parent,
						 struct mm_struct *mm)
{
	struct cowshare_view *child;

	mutex_lock(&cowshare_fork_lock);
	child = parent->fork_child;
	if (!child || child->mm != mm) {
		/* ->open cannot fail a fork: this is small and must not fail. */
		child = cowshare_view_alloc(parent->region, mm,
					    GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
		/*
		 * The child's vmas keep the parent view's file: dup_mmap()
		 * takes its reference only after ->open, so it cannot be
		 * swapped here. Views of different mms never merge anyway.
		 */
		child->file = parent->file;
		child->shift = parent->shift;
		if (parent->fork_child)
			parent->fork_child->fork_parent = NULL;
		parent->fork_child = child;
		child->fork_parent = parent;
	}
	mutex_unlock(&cowshare_fork_lock);
	return child;
}

/*
 * ->open, on fork: the child's vma joins the child's view of the parent's,
 * which gets copies of the parent's copies. Copying now, rather than
 * sharing them until either side writes, leaves the parent's ptes alone: a
 * module cannot write-protect them, and zapping them would hide the
 * parent's copies from MADV_DONTNEED.
 */
static void cowshare_view_fork(struct cowshare_view *parent, struct vm_area_struct *vma)
{
	pgoff_t first = cowshare_vma_first(parent, vma), last = first + vma_pages(vma) - 1;
	struct vm_area_struct *pvma;
	struct cowshare_view *child;
	struct page *page, *copy;
	unsigned long idx;

	child = cowshare_fork_child(parent, vma->vm_mm);
	cowshare_view_add_vma(child, vma, GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	vma->vm_private_data = child;

	/* dup_mmap() holds both mms write-locked: no fault runs in either. */
	cowshare_reap_dropped(parent, first, last);
	xa_for_each_range(&parent->copies, idx, page, first, last) {
		/* Two parent vmas mapping one offset (mremap aliases): once. */
		if (xa_load(&child->copies, idx))
			continue;
		copy = cowshare_alloc_copy(vma);
		if (!copy) {
			/* ->open cannot fail the fork: fail the child's faults. */
			child->fork_failed = true;
			break;
		}
		copy_user_highpage(copy, page, cowshare_index_addr(parent, vma, idx), vma);
		cowshare_own_page(child, copy, idx);
		xa_store(&child->copies, idx, copy, GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
		xa_set_mark(&child->copies, idx, COPY_UNMAPPED);
		cowshare_count_copy(child);
	}

	/*
	 * A parent copy referenced beyond its xarray entry and ptes (a pipe
	 * got it by vmsplice) must not change under that holder when the
	 * parent writes next: unmap it, and copy it again at the next fault.
	 */
	pvma = find_vma(parent->mm, vma->vm_start);
	if (!pvma || pvma->vm_start != vma->vm_start || pvma->vm_private_data != parent)
		return;
	xa_for_each_range(&parent->copies, idx, page, first, last) {
		if (page_count(page) <= 1 + cowshare_page_mapcount(page))
			continue;
		xa_set_mark(&parent->copies, idx, COPY_REPLACE);
		xa_set_mark(&parent->copies, idx, COPY_UNMAPPED);
		cowshare_zap_range(pvma, cowshare_index_addr(parent, pvma, idx), PAGE_SIZE);
	}
}

/* ->open: a vma of the view was split off, moved by mremap, or forked. */
static void cowshare_vm_open(struct vm_area_struct *vma)
{
	struct cowshare_view *view = vma->vm_private_data;

	if (vma->vm_mm == view->mm)
		cowshare_view_add_vma(view, vma, GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	else
		cowshare_view_fork(view, vma);
}

/*
 * ->close: the vma is gone (its ptes already zapped). Free the copies no
 * other vma of the view maps; the view itself with its last vma.
 */
static void cowshare_vm_close(struct vm_area_struct *vma)
{
	struct cowshare_view *view = vma->vm_private_data;
	pgoff_t first = cowshare_vma_first(view, vma), last = first + vma_pages(vma) - 1;
	struct cowshare_vma_link *link;
	unsigned long idx;
	struct page *page;
	bool last_vma;

	mutex_lock(&view->lock);
	list_for_each_entry(link, &view->vmas, node) {
		if (link->vma == vma) {
			list_del(&link->node);
			kfree(link);
			break;
		}
	}
	xa_for_each_range(&view->copies, idx, page, first, last) {
		if (cowshare_view_covers(view, idx))
			continue;
		cowshare_drop_copy(view, idx, page, false);
	}
	last_vma = list_empty(&view->vmas);
	mutex_unlock(&view->lock);
	if (last_vma)
		cowshare_view_free(view);
}

static const struct vm_operations_struct cowshare_vm_ops = {
	.open = cowshare_vm_open,
	.close = cowshare_vm_close,
	.fault = cowshare_vm_fault,
	.map_pages = cowshare_vm_map_pages,
	.page_mkwrite = cowshare_vm_page_mkwrite,
	.access = cowshare_vm_access,
};

int cowshare_view_mmap(struct cowshare_region *region, struct vm_area_struct *vma)
{
	struct cowshare_view *view;
	struct file *file;
	int ret;

	/* The module does the copy-on-write itself, on shared mappings. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	/* The vma indexes the root region, whose page cache fault-around maps. */
	if (vma->vm_pgoff + region->root_off < vma->vm_pgoff)
		return -EOVERFLOW;

	view = cowshare_view_alloc(region, vma->vm_mm, GFP_KERNEL_ACCOUNT);
	if (!view)
		return -ENOMEM;
	view->shift = region->root_off;
	file = cowshare_file_alloc(region->root->inode, "cowshare-view", &cowshare_view_fops,
				   view);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		goto err_view;
	}
	ret = cowshare_view_add_vma(view, vma, GFP_KERNEL_ACCOUNT);
	if (ret)
		goto err_file;

	if (vma->vm_flags & VM_MAYEXEC)
		WRITE_ONCE(region->exec_mapped, true);
	view->file = file;
	vma_set_file(vma, file);
	fput(file);
	vma->vm_pgoff += view->shift;
	vma->vm_ops = &cowshare_vm_ops;
	vma->vm_private_data = view;
	return 0;

err_file:
	fput(file);
err_view:
	cowshare_view_free(view);
	return ret;
}

/*
 * The caller's vma that holds all of [addr, addr + len) of a view of
 * @region, under the mmap read lock; NULL if there is none.
 */
static struct vm_area_struct *cowshare_find_view_vma(struct cowshare_region *region,
						     unsigned long addr, unsigned long len)
{
	struct vm_area_struct *vma = find_vma(current->mm, addr);

	if (!vma || vma->vm_start > addr || len > vma->vm_end - addr ||
	    vma->vm_ops != &cowshare_vm_ops ||
	    ((struct cowshare_view *)vma->vm_private_data)->region != region)
		return NULL;
	return vma;
}

/*
 * Read a struct cowshare_range: flags within @allowed, a bitmap only where
 * one is reported, a page-aligned, non-empty range inside the user address
 * space. Its length in pages in *@npages.
 */
static int cowshare_range_in(void __user *uarg, unsigned int allowed, bool bitmap,
			     struct cowshare_range *args, unsigned long *npages)
{
	u32 usize;
	int ret;

	ret = cowshare_copy_struct_in(args, sizeof(*args), sizeof(*args), uarg, &usize);
	if (ret)
		return ret;
	if (args->flags & ~allowed || (!bitmap && args->bitmap))
		return -EINVAL;
	if (!args->length || offset_in_page(args->addr) ||
	    args->length > TASK_SIZE || args->addr > TASK_SIZE - args->length)
		return -EINVAL;
	*npages = DIV_ROUND_UP(args->length, PAGE_SIZE);
	return 0;
}

int cowshare_view_info(struct cowshare_region *region, void __user *uarg)
{
	struct mm_struct *mm = current->mm;
	struct cowshare_view_info info;
	struct vm_area_struct *vma;
	struct cowshare_view *view;
	unsigned long idx;
	struct page *page;
	u32 usize;
	int ret;

	ret = cowshare_copy_struct_in(&info, sizeof(info), sizeof(info), uarg, &usize);
	if (ret)
		return ret;
	if (info.flags)
		return -EINVAL;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = cowshare_find_view_vma(region, info.addr, 1);
	if (!vma) {
		mmap_read_unlock(mm);
		return -EINVAL;
	}
	view = vma->vm_private_data;
	info.start = vma->vm_start;
	info.length = vma->vm_end - vma->vm_start;
	info.offset = (u64)cowshare_vma_first(view, vma) << PAGE_SHIFT;
	info.private_pages = 0;
	cowshare_reap_dropped(view, cowshare_vma_first(view, vma),
			      cowshare_vma_first(view, vma) + vma_pages(vma) - 1);
	xa_for_each_range(&view->copies, idx, page, cowshare_vma_first(view, vma),
			  cowshare_vma_first(view, vma) + vma_pages(vma) - 1)
		info.private_pages++;
	info.read_faults = atomic_long_read(&view->read_faults);
	info.cow_faults = atomic_long_read(&view->cow_faults);
	mmap_read_unlock(mm);
	return cowshare_copy_struct_out(uarg, &info, sizeof(info), usize);
}

#define COWSHARE_DROP_BATCH	64

/* A copy a dirty report saw, referenced until the call ends. */
struct cowshare_reported {
	pgoff_t idx;
	struct page *page;
};

/* Zap the ptes of a run of dropped copies, then let the copies go. */
static void cowshare_release_run(struct cowshare_view *view, struct vm_area_struct *vma,
				 struct cowshare_reported *run, unsigned long n)
{
	unsigned long i;

	if (!n)
		return;
	cowshare_zap_range(vma, cowshare_index_addr(view, vma, run[0].idx), n << PAGE_SHIFT);
	for (i = 0; i < n; i++) {
		lock_page(run[i].page);
		cowshare_disown_page(view, run[i].page);
		unlock_page(run[i].page);
		put_page(run[i].page);		/* the xarray's */
		cowshare_uncount_copy(view);
	}
}

/*
 * Drop the reported copies, and only those: a copy made since the report
 * (even at a reported index, by another thread's write after another
 * reset) is kept for the next report. Each copy leaves the xarray under its
 * page lock (a fault then maps the base), then the ptes of each run of
 * consecutive pages go with one zap: a write racing in through a pte still
 * present lands in a copy that was reported and is dropped.
 */
static void cowshare_drop_reported(struct cowshare_region *region, unsigned long addr,
				   unsigned long len, struct cowshare_reported *rep,
				   unsigned long nr)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct cowshare_view *view;
	unsigned long i, start = 0, n = 0;

	mmap_read_lock(mm);
	/* Unmapped meanwhile: its copies went with it. */
	vma = cowshare_find_view_vma(region, addr, len);
	if (!vma)
		goto out;
	view = vma->vm_private_data;
	for (i = 0; i < nr; i++) {
		struct page *page = rep[i].page;
		bool erased = false;

		lock_page(page);
		if (xa_load(&view->copies, rep[i].idx) == page) {
			xa_erase(&view->copies, rep[i].idx);
			erased = true;
		}
		unlock_page(page);
		if (erased && n && rep[i].idx == rep[start + n - 1].idx + 1 &&
		    n < COWSHARE_DROP_BATCH && start + n == i) {
			n++;
			continue;
		}
		cowshare_release_run(view, vma, rep + start, n);
		start = i;
		n = erased;
		cond_resched();
	}
	cowshare_release_run(view, vma, rep + start, n);
out:
	mmap_read_unlock(mm);
}

long cowshare_view_range(struct cowshare_region *region, unsigned int cmd,
			 void __user *uarg)
{
	unsigned int allowed = cmd == COWSHARE_IOC_DIRTY ? COWSHARE_DIRTY_RESET : 0;
	struct cowshare_reported *rep = NULL;
	struct mm_struct *mm = current->mm;
	unsigned long npages, nr = 0, i;
	struct cowshare_range args;
	struct vm_area_struct *vma;
	struct cowshare_view *view;
	unsigned long *dirty;
	struct page *page;
	unsigned long idx;
	pgoff_t first;
	long count = 0;
	bool drop;
	int ret;

	ret = cowshare_range_in(uarg, allowed, cmd == COWSHARE_IOC_DIRTY, &args, &npages);
	if (ret)
		return ret;
	drop = cmd == COWSHARE_IOC_RESET || (args.flags & COWSHARE_DIRTY_RESET);

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = cowshare_find_view_vma(region, args.addr, npages << PAGE_SHIFT);
	if (!vma) {
		mmap_read_unlock(mm);
		return -EINVAL;
	}
	/* Sized by a range that a mapping of the region holds. */
	dirty = kvcalloc(BITS_TO_LONGS(npages), sizeof(long), GFP_KERNEL_ACCOUNT);
	if (!dirty) {
		mmap_read_unlock(mm);
		return -ENOMEM;
	}
	view = vma->vm_private_data;
	first = cowshare_index(view, linear_page_index(vma, args.addr));
	cowshare_reap_dropped(view, first, first + npages - 1);

	/* O(copies in the range): the xarray skips what was never copied. */
	xa_for_each_range(&view->copies, idx, page, first, first + npages - 1) {
		__set_bit(idx - first, dirty);
		count++;
	}
	if (drop && count) {
		rep = kvmalloc_array(count, sizeof(*rep), GFP_KERNEL_ACCOUNT);
		if (!rep) {
			ret = -ENOMEM;
			mmap_read_unlock(mm);
			goto out_free;
		}
		xa_lock(&view->copies);
		xa_for_each_range(&view->copies, idx, page, first, first + npages - 1) {
			if (nr == count || !test_bit(idx - first, dirty))
				continue;
			get_page(page);
			rep[nr].idx = idx;
			rep[nr++].page = page;
		}
		xa_unlock(&view->copies);
	}
	mmap_read_unlock(mm);

	/*
	 * Report before dropping, and not under the mmap lock (the bitmap may
	 * fault): a failed report drops nothing.
	 */
	if (cmd == COWSHARE_IOC_DIRTY &&
	    copy_to_user(u64_to_user_ptr(args.bitmap), dirty,
			 DIV_ROUND_UP(npages, 64) * sizeof(u64)))
		ret = -EFAULT;
	else if (drop)
		cowshare_drop_reported(region, args.addr, npages << PAGE_SHIFT, rep, nr);

	for (i = 0; i < nr; i++)
		put_page(rep[i].page);
	kvfree(rep);
out_free:
	kvfree(dirty);
	return ret ? ret : count;
}

/*
 * COWSHARE_IOC_SNAPSHOT: a new region whose base is the caller's view of
 * @region over a range, in O(copies in the range). The new region is a
 * layer over @region: the view's copies become its own base pages, without
 * copying, and the view copies them again before its next write to them
 * (COPY_FROZEN); every other page is @region's base, shared. Both bases
 * are sealed from then on: neither may change under the other.
 */
/* The caller's view vma holding the range, and the range's first index. */
static struct vm_area_struct *cowshare_snapshot_vma(struct cowshare_region *region,
						    unsigned long addr, unsigned long npages,
						    pgoff_t *first)
{
	struct vm_area_struct *vma;

	vma = cowshare_find_view_vma(region, addr, npages << PAGE_SHIFT);
	if (!vma)
		return NULL;
	*first = cowshare_index(vma->vm_private_data, linear_page_index(vma, addr));
	return *first + npages <= region->npages ? vma : NULL;
}

int cowshare_view_snapshot(struct cowshare_region *region, void __user *uarg)
{
	struct mm_struct *mm = current->mm;
	struct cowshare_region *snap;
	struct cowshare_range args;
	struct vm_area_struct *vma;
	struct cowshare_view *view;
	unsigned long npages, idx;
	struct page *page;
	pgoff_t first;
	int ret;

	ret = cowshare_range_in(uarg, COWSHARE_CLOEXEC, false, &args, &npages);
	if (ret)
		return ret;

	/* Validate before sealing: a refused snapshot changes nothing. */
	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = cowshare_snapshot_vma(region, args.addr, npages, &first);
	mmap_read_unlock(mm);
	if (!vma)
		return -EINVAL;

	snap = cowshare_region_alloc(npages);
	if (IS_ERR(snap))
		return PTR_ERR(snap);
	WRITE_ONCE(snap->sealed, true);
	/* Not under the mmap lock: a base write holds the inode lock and faults. */
	cowshare_region_seal_base(region);

	if (mmap_read_lock_killable(mm)) {
		ret = -EINTR;
		goto out_iput;
	}
	/* Looked up again: the caller may have remapped meanwhile. */
	vma = cowshare_snapshot_vma(region, args.addr, npages, &first);
	if (!vma) {
		ret = -EINVAL;
		goto out_unlock;
	}
	view = vma->vm_private_data;
	cowshare_reap_dropped(view, first, first + npages - 1);
	ihold(region->inode);
	snap->lower = region;
	snap->lower_off = first;
	snap->root = region->root;
	snap->root_off = region->root_off + first;

	/* Room for every copy first, so that nothing fails once one is frozen. */
	xa_for_each_range(&view->copies, idx, page, first, first + npages - 1) {
		ret = xa_reserve(&snap->overlay, idx - first, GFP_KERNEL_ACCOUNT);
		if (ret)
			goto out_unlock;
	}
	xa_for_each_range(&view->copies, idx, page, first, first + npages - 1) {
		page = cowshare_lock_copy(view, idx);
		if (!page)
			continue;
		/* No write reaches the page once its ptes are gone. */
		xa_set_mark(&view->copies, idx, COPY_FROZEN);
		xa_set_mark(&view->copies, idx, COPY_UNMAPPED);
		cowshare_zap_range(vma, cowshare_index_addr(view, vma, idx), PAGE_SIZE);
		page->mapping = snap->inode->i_mapping;
		page->index = idx - first;
		/* A reserved slot: the store allocates nothing. The ref is the snapshot's. */
		xa_store(&snap->overlay, idx - first, page, GFP_NOWAIT);
		unlock_page(page);
		atomic_long_inc(&snap->base_pages);
		atomic_long_inc(&cowshare_stats.base_pages);
	}
	mmap_read_unlock(mm);
	ret = cowshare_region_install_fd(snap, args.flags);
	iput(snap->inode);
	return ret;

out_unlock:
	mmap_read_unlock(mm);
out_iput:
	iput(snap->inode);
	return ret;
}
