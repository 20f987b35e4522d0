// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare view control: what a view of the caller holds (VIEW_INFO), the
 * report of its private copies (DIRTY) and dropping them (RESET, DIRTY
 * with COWSHARE_DIRTY_RESET).
 *
 * Work is O(copies in the range) plus the bitmap the caller asked for, in
 * rounds of bounded memory, and never under the mmap lock while the
 * bitmap is written (it may fault): a range may be as long as the region
 * (16 GiB by default) without a large allocation or a long lock hold.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/cowshare.h>

#include "compat.h"
#include "cowshare.h"

int cowshare_view_info(struct cowshare_region *region, struct cowshare_view_info *info)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct cowshare_view *view;
	pgoff_t first;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = cowshare_find_view_vma(region, info->addr, 1);
	if (!vma) {
		mmap_read_unlock(mm);
		return -EINVAL;
	}
	view = cowshare_vma_view(vma);
	first = cowshare_vma_first(view, vma);
	info->start = vma->vm_start;
	info->length = vma->vm_end - vma->vm_start;
	info->offset = (u64)first << PAGE_SHIFT;
	info->private_pages = cowshare_pages_count(&view->copies, first,
						   first + vma_pages(vma) - 1);
	info->read_faults = atomic_long_read(&view->read_faults);
	info->cow_faults = atomic_long_read(&view->cow_faults);
	info->view_flags = cowshare_vma_huge(vma) ? COWSHARE_VIEW_HUGE : 0;
	info->pmd_maps = atomic_long_read(&view->pmd_maps);
	info->pmd_splits = atomic_long_read(&view->pmd_splits);
	mmap_read_unlock(mm);
	return 0;
}

/* Pages per round of a dirty report: its bitmap is written once a round. */
#define COWSHARE_ROUND_PAGES	1024
/* Copies dropped per drain. */
#define COWSHARE_DROP_BATCH	64

struct cowshare_range_op {
	struct cowshare_region *region;
	unsigned long addr;		/* the range, as the caller gave it */
	unsigned long npages;
	pgoff_t first;			/* its first index */
	u64 __user *bitmap;		/* NULL: drop only */
	bool drop;
	struct cowshare_entry *rep;	/* a round's copies, referenced */
};

/*
 * The caller's view vma holding the range (looked up again each round: it
 * may be unmapped meanwhile, and then its copies went with it).
 */
static struct vm_area_struct *cowshare_range_vma(struct cowshare_range_op *op)
{
	struct vm_area_struct *vma;
	struct cowshare_view *view;
	pgoff_t first;

	vma = cowshare_find_view_vma(op->region, op->addr, op->npages << PAGE_SHIFT);
	if (!vma)
		return NULL;
	view = cowshare_vma_view(vma);
	first = linear_page_index(vma, op->addr) - view->shift;
	return first == op->first ? vma : NULL;
}

/*
 * Drop the view's copies @rep[0..n) that are still its copies there: out
 * of the index first (no fault finds them any more), drained (no mapping
 * made from before lands later), waited for under their lock (a write
 * fault that returned one locked has mapped it by then), then their ptes
 * zapped. A write racing this lands in a copy that is dropped, or faults
 * after and makes a new copy, which the next report shows.
 */
static long cowshare_drop_copies(struct cowshare_view *view, struct vm_area_struct *vma,
				 struct cowshare_entry *rep, unsigned int n)
{
	unsigned long erased = 0;
	unsigned int i, run;
	long count = 0;

	BUILD_BUG_ON(COWSHARE_DROP_BATCH > BITS_PER_LONG);
	for (i = 0; i < n; i++)
		if (cowshare_pages_erase(&view->copies, rep[i].idx, rep[i].page))
			erased |= BIT(i);
	if (!erased)
		return 0;
	cowshare_view_drain(view);
	for (i = 0; i < n; i++) {
		if (!(erased & BIT(i)))
			continue;
		lock_page(rep[i].page);
		unlock_page(rep[i].page);
	}
	for (i = 0; i < n; i = run) {
		for (run = i + 1; run < n && rep[run].idx == rep[run - 1].idx + 1; run++)
			;
		cowshare_view_zap(view, vma, rep[i].idx, run - i);
	}
	for (i = 0; i < n; i++) {
		if (!(erased & BIT(i)))
			continue;
		cowshare_copy_release(rep[i].page);
		count++;
	}
	cowshare_count_copy(view, -count);
	return count;
}

static void cowshare_put_entries(struct cowshare_entry *rep, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		put_page(rep[i].page);
}

/*
 * Take references to the copies of the next round at or after *@pos into
 * @op->rep, under the mmap read lock, and move *@pos past the round.
 * Returns how many (0 when no copy is left in the range), with the round's
 * first index in *@from and its last in *@end, or -EINTR.
 */
static long cowshare_range_collect(struct cowshare_range_op *op, pgoff_t *pos,
				   pgoff_t *from, pgoff_t *end)
{
	pgoff_t last = op->first + op->npages - 1;
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct cowshare_view *view;
	unsigned int n;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = cowshare_range_vma(op);
	if (vma) {
		view = cowshare_vma_view(vma);
		/* Skip to the next copy: empty stretches cost nothing. */
		*from = cowshare_pages_next(&view->copies, *pos, last);
	}
	if (!vma || *from > last) {
		mmap_read_unlock(mm);
		*pos = last + 1;
		return 0;
	}
	/* Rounds start at multiples of the round size: one bitmap word each. */
	*from = op->first + round_down(*from - op->first, COWSHARE_ROUND_PAGES);
	*end = min(last, *from + COWSHARE_ROUND_PAGES - 1);
	/* A round has at most COWSHARE_ROUND_PAGES copies: one gather takes them all. */
	*pos = *from;
	n = cowshare_pages_gather(&view->copies, pos, *end, op->rep, COWSHARE_ROUND_PAGES);
	*pos = *end + 1;
	mmap_read_unlock(mm);
	return n;
}

/* Write the round's bit of each of the @n copies collected to the user's bitmap. */
static int cowshare_range_report(struct cowshare_range_op *op, pgoff_t from, pgoff_t end,
				 unsigned int n)
{
	DECLARE_BITMAP(bits, COWSHARE_ROUND_PAGES);
	unsigned int i;

	bitmap_zero(bits, COWSHARE_ROUND_PAGES);
	for (i = 0; i < n; i++)
		__set_bit(op->rep[i].idx - from, bits);
	if (copy_to_user(op->bitmap + (from - op->first) / 64, bits,
			 DIV_ROUND_UP(end - from + 1, 64) * sizeof(u64)))
		return -EFAULT;
	return 0;
}

/*
 * Drop the @n copies collected from the view, if it is still mapped where
 * it was. Returns how many were dropped, or -EINTR.
 */
static long cowshare_range_drop(struct cowshare_range_op *op, unsigned int n)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct cowshare_view *view;
	unsigned int i;
	long dropped = 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = cowshare_range_vma(op);
	if (vma) {
		view = cowshare_vma_view(vma);
		mutex_lock(&view->ctl);
		for (i = 0; i < n; i += COWSHARE_DROP_BATCH)
			dropped += cowshare_drop_copies(view, vma, op->rep + i,
							min_t(unsigned int, n - i,
							      COWSHARE_DROP_BATCH));
		mutex_unlock(&view->ctl);
	}
	mmap_read_unlock(mm);
	return dropped;
}

/*
 * One round: the copies in [*@pos, round end], reported into the caller's
 * bitmap, then dropped if asked. Returns how many were reported (a reset:
 * dropped), or an error; 0 and *@pos past the range when the view went
 * away.
 */
static long cowshare_range_round(struct cowshare_range_op *op, pgoff_t *pos)
{
	pgoff_t from, end;
	long n, ret;

	n = cowshare_range_collect(op, pos, &from, &end);
	if (n <= 0)
		return n;
	ret = n;
	/* Report before dropping: a failed report drops nothing of this round. */
	if (op->bitmap)
		ret = cowshare_range_report(op, from, end, n) ?: n;
	if (ret >= 0 && op->drop) {
		ret = cowshare_range_drop(op, n);
		if (ret >= 0 && op->bitmap)
			ret = n;
	}
	cowshare_put_entries(op->rep, n);
	return ret;
}

/*
 * COWSHARE_IOC_DIRTY (@report), COWSHARE_IOC_RESET (@drop), both with
 * COWSHARE_DIRTY_RESET. The whole bitmap is cleared first, so that a bad
 * bitmap fails before anything is dropped.
 */
long cowshare_view_dirty(struct cowshare_region *region, const struct cowshare_range *args,
			 bool report, bool drop)
{
	struct cowshare_range_op op = {
		.region = region,
		.addr = args->addr,
		.npages = DIV_ROUND_UP(args->length, PAGE_SIZE),
		.bitmap = report ? u64_to_user_ptr(args->bitmap) : NULL,
		.drop = drop,
	};
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	long count = 0, ret;
	pgoff_t pos;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = cowshare_find_view_vma(region, op.addr, op.npages << PAGE_SHIFT);
	ret = vma ? cowshare_view_usable(cowshare_vma_view(vma)) : -EINVAL;
	if (!ret)
		op.first = linear_page_index(vma, op.addr) -
			   cowshare_vma_view(vma)->shift;
	mmap_read_unlock(mm);
	if (ret)
		return ret;
	if (report && clear_user(op.bitmap, DIV_ROUND_UP(op.npages, 64) * sizeof(u64)))
		return -EFAULT;
	op.rep = kvmalloc_array(COWSHARE_ROUND_PAGES, sizeof(*op.rep), GFP_KERNEL_ACCOUNT);
	if (!op.rep)
		return -ENOMEM;
	for (pos = op.first; pos < op.first + op.npages; ) {
		ret = cowshare_range_round(&op, &pos);
		if (ret < 0) {
			count = ret;
			break;
		}
		count += ret;
		if (fatal_signal_pending(current)) {
			count = -EINTR;
			break;
		}
		cond_resched();
	}
	kvfree(op.rep);
	return count;
}
