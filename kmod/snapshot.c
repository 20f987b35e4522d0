// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare snapshots: a view's content over a range as a new region, in
 * O(copies in the range), built and torn down here.
 *
 * A snapshot is a layer over the root of the view's region: its own base
 * pages in an index, every other page the root's (physically shared).
 * Layers are one deep: a snapshot of a view of a layer takes the layer's
 * own pages in the range into its index as well, so a fault looks in at
 * most the view's copies, one layer and the root's page cache, and no
 * chain of layers is ever freed recursively.
 *
 * The view's copies become the layer's base pages without being copied:
 * they gain a holder, so neither the view nor anyone else writes them in
 * place any more (the view copies them again at its next write). A copy
 * that something outside the view references (a pin, an O_DIRECT read in
 * flight, a pipe) could still be written through that reference: the
 * layer gets a copy of it instead.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>

#include "compat.h"
#include "cowshare.h"

/* A view's file: only ever a vm_file, never an fd (open of its path fails). */
static const struct file_operations cowshare_view_fops = {
	.owner = THIS_MODULE,
	.fsync = noop_fsync,		/* msync(MS_SYNC): nothing to write back */
};

void cowshare_layer_free(struct cowshare_region *layer)
{
	cowshare_pages_destroy(&layer->overlay, cowshare_copy_release);
	if (layer->root_file)
		fput(layer->root_file);
	iput(layer->root->inode);
}

/* The caller's view vma holding the range, and the range's first index. */
static struct vm_area_struct *cowshare_snapshot_vma(struct cowshare_region *region,
						    unsigned long addr, unsigned long npages,
						    pgoff_t *first)
{
	struct vm_area_struct *vma;
	struct cowshare_view *view;

	vma = cowshare_find_view_vma(region, addr, npages << PAGE_SHIFT);
	if (!vma)
		return NULL;
	view = cowshare_vma_view(vma);
	*first = linear_page_index(vma, addr) - view->shift;
	return *first + npages <= region->npages ? vma : NULL;
}

/* Make @snap a layer over the root of @region, at @first of @region. */
static int cowshare_layer_init(struct cowshare_region *snap, struct cowshare_region *region,
			       pgoff_t first)
{
	struct cowshare_region *root = region->root;
	struct file *file;

	ihold(root->inode);
	snap->root = root;
	snap->root_off = region->root_off + first;
	file = cowshare_file_alloc(root->inode, "cowshare-view", &cowshare_view_fops, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);
	snap->root_file = file;
	return 0;
}

/* Hold every entry of the fresh layer @snap: a layer's entries are holders. */
static void cowshare_layer_hold_all(struct cowshare_region *snap)
{
	struct cowshare_entry batch[16];
	pgoff_t pos = 0;
	unsigned int n, i;

	while ((n = cowshare_pages_gather(&snap->overlay, &pos, snap->npages - 1,
					  batch, ARRAY_SIZE(batch)))) {
		for (i = 0; i < n; i++) {
			cowshare_copy_hold(batch[i].page);
			put_page(batch[i].page);
		}
		atomic_long_add(n, &snap->base_pages);
		atomic_long_add(n, &cowshare_stats.base_pages);
	}
}

/*
 * The layer's base page at @at for the view's copy @copy (locked, still
 * the view's): @copy itself, or a copy of it if something outside holds
 * it. The layer's page there (from the lower layer) is replaced.
 */
static int cowshare_layer_take(struct cowshare_region *snap, pgoff_t at, struct page *copy,
			       unsigned long addr, struct vm_area_struct *vma, struct page **old)
{
	struct page *page = copy;
	int ret;

	/* +1: the reference of the gather that found it. */
	if (folio_maybe_dma_pinned(page_folio(copy)) || cowshare_copy_has_outside_refs(copy, 1)) {
		page = cowshare_copy_alloc(current->mm, snap->root);
		if (!page)
			return -ENOMEM;
		cowshare_copy_fill(page, copy, addr, vma);
	} else {
		cowshare_copy_hold(copy);
	}
	ret = cowshare_pages_store(&snap->overlay, at, page, old, GFP_KERNEL_ACCOUNT);
	if (ret) {
		if (page == copy)
			cowshare_copy_release(copy);
		else
			cowshare_copy_discard(page);
		return ret;
	}
	if (!*old) {
		atomic_long_inc(&snap->base_pages);
		atomic_long_inc(&cowshare_stats.base_pages);
	}
	return 0;
}

/*
 * The view's copies in [first, first + npages) into @snap. Every pte of
 * the view over the range went first; a write fault that made a copy
 * writable again since needs the copy's lock, which this holds while it
 * decides, and zaps again.
 */
static int cowshare_layer_take_copies(struct cowshare_region *snap, struct cowshare_view *view,
				      struct vm_area_struct *vma, pgoff_t first)
{
	pgoff_t pos = first, last = first + snap->npages - 1;
	struct cowshare_entry batch[16];
	unsigned int n, i;
	int ret = 0;

	cowshare_view_zap(view, vma, first, snap->npages);
	while (!ret && (n = cowshare_pages_gather(&view->copies, &pos, last, batch,
						  ARRAY_SIZE(batch)))) {
		for (i = 0; i < n; i++) {
			struct page *copy = batch[i].page, *old = NULL;
			pgoff_t idx = batch[i].idx;

			/*
			 * A write fault may have replaced the copy since (the
			 * one it copied from was shared): the replacement holds
			 * the view's content, take that. Only a replacement can
			 * change the entry here: view->ctl excludes a reset, the
			 * mmap lock an unmap.
			 */
			while (!ret && copy) {
				lock_page(copy);
				if (cowshare_pages_peek_locked(&view->copies, idx) == copy)
					break;
				unlock_page(copy);
				put_page(copy);
				copy = cowshare_pages_get(&view->copies, idx);
			}
			if (!copy)
				continue;
			if (!ret) {
				if (page_mapped(copy))
					cowshare_view_zap(view, vma, idx, 1);
				ret = cowshare_layer_take(snap, idx - first, copy,
							  cowshare_index_addr(view, vma, idx), vma,
							  &old);
				unlock_page(copy);
			}
			put_page(copy);
			/* The lower layer's page it replaced: never under a copy's lock. */
			if (old)
				cowshare_copy_release(old);
		}
		cond_resched();
	}
	return ret;
}

/*
 * Whether the range of @region mapped at @addr can be snapshotted now, and
 * at which offset of @region's pages it starts (*@first).
 */
static int cowshare_snapshot_check(struct cowshare_region *region, unsigned long addr,
				   unsigned long npages, pgoff_t *first)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	int ret;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = cowshare_snapshot_vma(region, addr, npages, first);
	ret = !vma ? -EINVAL : cowshare_view_usable(cowshare_vma_view(vma));
	mmap_read_unlock(mm);
	return ret;
}

/*
 * Fill layer @snap, resting on @region's sealed base, with the view's
 * copies of the range (and the entries of @region's own overlay, when it
 * is a layer itself). The vma is looked up again: the caller may have
 * remapped meanwhile.
 */
static int cowshare_snapshot_fill(struct cowshare_region *snap,
				  struct cowshare_region *region, unsigned long addr,
				  unsigned long npages)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct cowshare_view *view;
	pgoff_t first;
	int ret;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = cowshare_snapshot_vma(region, addr, npages, &first);
	if (!vma || first != snap->root_off - region->root_off) {
		ret = -EINVAL;
		goto out_unlock;
	}
	view = cowshare_vma_view(vma);
	ret = cowshare_view_usable(view);
	if (ret)
		goto out_unlock;
	mutex_lock(&view->ctl);
	if (cowshare_region_is_layer(region)) {
		/* Held even if the copy fails half-way: a layer's entries are holders. */
		ret = cowshare_pages_dup(&snap->overlay, &region->overlay, first,
					 first + npages - 1, first, GFP_KERNEL_ACCOUNT);
		cowshare_layer_hold_all(snap);
	}
	if (!ret)
		ret = cowshare_layer_take_copies(snap, view, vma, first);
	mutex_unlock(&view->ctl);
out_unlock:
	mmap_read_unlock(mm);
	return ret;
}

/*
 * Refused (EINVAL, EIO, EMFILE, ENOMEM before the seal), a snapshot
 * changes nothing. The source's base is sealed before its copies are
 * taken, and stays sealed if the snapshot then fails (ENOMEM, EINTR, or
 * EINVAL when the caller remapped the range meanwhile): a seal is never
 * undone, another snapshot may rest on it already.
 */
int cowshare_snapshot(struct cowshare_region *region, unsigned long addr,
		      unsigned long npages, unsigned int flags)
{
	struct cowshare_region *snap;
	pgoff_t first;
	int ret, fd;

	ret = cowshare_snapshot_check(region, addr, npages, &first);
	if (ret)
		return ret;

	fd = cowshare_region_reserve_fd(flags);
	if (fd < 0)
		return fd;
	snap = cowshare_region_alloc(npages);
	if (IS_ERR(snap)) {
		ret = PTR_ERR(snap);
		goto out_fd;
	}
	ret = cowshare_layer_init(snap, region, first);
	if (ret)
		goto out_iput;
	cowshare_region_seal_base(snap);
	/*
	 * The pages are the source's base as well now: it may never change.
	 * Not under the mmap lock: a base write holds the inode lock and faults.
	 */
	cowshare_region_seal_base(region);

	ret = cowshare_snapshot_fill(snap, region, addr, npages);
	if (ret)
		goto out_iput;
	ret = cowshare_region_install_reserved(snap, fd);
	iput(snap->inode);
	return ret;

out_iput:
	iput(snap->inode);	/* frees what was taken: every entry is a holder */
out_fd:
	put_unused_fd(fd);
	return ret;
}
