// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare pages: the index of pages by offset that a view keeps for its
 * copies and a snapshot layer for its own base pages, and the life cycle
 * of a copy (allocation, holders, exclusivity).
 *
 * The index is an xarray of chunks, one per COWSHARE_CHUNK_PAGES offsets.
 * A chunk holds a bitmap of the slots it has and the slots' pages in
 * offset order. A plain xarray costs a 576-byte node for every 64 offsets
 * that hold anything, so a view whose copies lie 100 pages apart would pay
 * 14% of its copies' memory in nodes; a chunk costs 8 bytes plus 8 per
 * slot. Erasing clears the slot in place (NULL), so that it never
 * allocates: cleanup paths cannot fail. Everything runs under the
 * xarray's lock, except cowshare_pages_peek() on an index that no longer
 * changes.
 */
#include <linux/bitops.h>
#include <linux/highmem.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "compat.h"
#include "cowshare.h"

struct cowshare_chunk {
	unsigned long slots;		/* bit i: pages[] has a slot for offset i */
	struct page *pages[];		/* one per set bit, in bit order; NULL: erased */
};

#define CHUNK_MASK	(COWSHARE_CHUNK_PAGES - 1)

void cowshare_pages_init(struct cowshare_pages *p)
{
	xa_init_flags(&p->xa, XA_FLAGS_ACCOUNT);
}

static struct page **chunk_slot(struct cowshare_chunk *c, unsigned int bit)
{
	if (!c || !(c->slots & BIT(bit)))
		return NULL;
	return &c->pages[hweight_long(c->slots & (BIT(bit) - 1))];
}

static unsigned int chunk_live(const struct cowshare_chunk *c)
{
	unsigned int i, n = hweight_long(c->slots), live = 0;

	for (i = 0; i < n; i++)
		live += !!c->pages[i];
	return live;
}

/*
 * The module's own objects (chunks, views, vma links, regions) are counted
 * in bytes as the slab allocator sizes them, so that a memory breakdown
 * can tell them from the rest of the slab.
 */
void *cowshare_meta_alloc(size_t size, gfp_t gfp)
{
	void *p = kmalloc(size, gfp | __GFP_ACCOUNT);

	if (p)
		atomic_long_add(kmalloc_size_roundup(size), &cowshare_stats.meta_bytes);
	return p;
}

void cowshare_meta_free(const void *p, size_t size)
{
	if (!p)
		return;
	atomic_long_sub(kmalloc_size_roundup(size), &cowshare_stats.meta_bytes);
	kfree(p);
}

static size_t chunk_size(unsigned int nr)
{
	return sizeof(struct cowshare_chunk) + nr * sizeof(struct page *);
}

static struct cowshare_chunk *chunk_alloc(unsigned int nr, gfp_t gfp)
{
	return cowshare_meta_alloc(chunk_size(nr), gfp);
}

/* A chunk allocated for @nr slots and not (or no longer) in an index. */
static void chunk_discard(struct cowshare_chunk *c, unsigned int nr)
{
	cowshare_meta_free(c, chunk_size(nr));
}

static void chunk_free(struct cowshare_chunk *c)
{
	if (c)
		chunk_discard(c, hweight_long(c->slots));
}

/*
 * Fill @n, sized for the live slots of @c plus one, with them and @page
 * at @bit (which @c has no slot for).
 */
static void chunk_build(struct cowshare_chunk *n, const struct cowshare_chunk *c,
			unsigned int bit, struct page *page)
{
	unsigned int i, j = 0, k = 0;

	n->slots = 0;
	for (i = 0; i < COWSHARE_CHUNK_PAGES; i++) {
		struct page *p = NULL;

		if (c && (c->slots & BIT(i)))
			p = c->pages[j++];
		if (i == bit)
			p = page;
		if (!p)
			continue;
		n->slots |= BIT(i);
		n->pages[k++] = p;
	}
}

/* The entry at @idx; the caller holds the lock. */
static struct page *__pages_lookup(struct cowshare_pages *p, pgoff_t idx)
{
	struct page **slot = chunk_slot(xa_load(&p->xa, idx >> COWSHARE_CHUNK_SHIFT),
					idx & CHUNK_MASK);

	return slot ? *slot : NULL;
}

/* The entry at @idx, referenced, or NULL. */
struct page *cowshare_pages_get(struct cowshare_pages *p, pgoff_t idx)
{
	struct page *page;

	xa_lock(&p->xa);
	page = __pages_lookup(p, idx);
	if (page)
		get_page(page);
	xa_unlock(&p->xa);
	return page;
}

/* The entry at @idx, not referenced: only to compare with a page the caller holds. */
struct page *cowshare_pages_peek_locked(struct cowshare_pages *p, pgoff_t idx)
{
	struct page *page;

	xa_lock(&p->xa);
	page = __pages_lookup(p, idx);
	xa_unlock(&p->xa);
	return page;
}

/*
 * The entry at @idx of an index that no longer changes (a layer's), not
 * referenced: the layer holds it as long as the caller holds the layer.
 */
struct page *cowshare_pages_peek(struct cowshare_pages *p, pgoff_t idx)
{
	struct page **slot, *page = NULL;

	rcu_read_lock();
	slot = chunk_slot(xa_load(&p->xa, idx >> COWSHARE_CHUNK_SHIFT), idx & CHUNK_MASK);
	if (slot)
		page = READ_ONCE(*slot);
	rcu_read_unlock();
	return page;
}

/*
 * Set the entry at @idx to @page. Without @overwrite an entry already
 * there is left alone (-EEXIST). The entry it replaced, if any, in *@old.
 * Allocates only when the chunk has no slot for @idx yet.
 */
static int pages_set(struct cowshare_pages *p, pgoff_t idx, struct page *page,
		     bool overwrite, struct page **old, gfp_t gfp)
{
	unsigned int bit = idx & CHUNK_MASK, want = 0, have = 0;
	struct cowshare_chunk *c, *n = NULL, *stale = NULL;
	XA_STATE(xas, &p->xa, idx >> COWSHARE_CHUNK_SHIFT);
	struct page **slot;
	int ret = 0;

	if (old)
		*old = NULL;
	for (;;) {
		xas_lock(&xas);
		c = xas_load(&xas);
		slot = chunk_slot(c, bit);
		if (slot) {
			if (*slot && !overwrite) {
				ret = -EEXIST;
			} else {
				if (old)
					*old = *slot;
				WRITE_ONCE(*slot, page);
			}
			xas_unlock(&xas);
			break;
		}
		want = (c ? chunk_live(c) : 0) + 1;
		if (n && have == want) {
			chunk_build(n, c, bit, page);
			xas_store(&xas, n);
			if (!xas_error(&xas)) {
				stale = c;
				n = NULL;
				xas_unlock(&xas);
				break;
			}
		}
		xas_unlock(&xas);
		if (xas_nomem(&xas, gfp))
			continue;
		ret = xas_error(&xas);
		if (ret)
			break;
		chunk_discard(n, have);
		n = chunk_alloc(want, gfp);
		have = n ? want : 0;
		if (!n) {
			ret = -ENOMEM;
			break;
		}
		xas_reset(&xas);
	}
	/* No error left: frees a node xas_nomem() allocated and nobody used. */
	if (!ret)
		xas_nomem(&xas, gfp);
	chunk_discard(n, have);
	chunk_free(stale);
	return ret;
}

int cowshare_pages_insert(struct cowshare_pages *p, pgoff_t idx, struct page *page, gfp_t gfp)
{
	return pages_set(p, idx, page, false, NULL, gfp);
}

int cowshare_pages_store(struct cowshare_pages *p, pgoff_t idx, struct page *page,
			 struct page **old, gfp_t gfp)
{
	return pages_set(p, idx, page, true, old, gfp);
}

/* Replace the entry at @idx by @page if it is still @old: no allocation. */
bool cowshare_pages_replace(struct cowshare_pages *p, pgoff_t idx, struct page *old,
			    struct page *page)
{
	struct page **slot;
	bool done = false;

	xa_lock(&p->xa);
	slot = chunk_slot(xa_load(&p->xa, idx >> COWSHARE_CHUNK_SHIFT), idx & CHUNK_MASK);
	if (slot && *slot == old) {
		WRITE_ONCE(*slot, page);
		done = true;
	}
	xa_unlock(&p->xa);
	return done;
}

/* Erase the entry at @idx if it is still @page; never allocates. */
bool cowshare_pages_erase(struct cowshare_pages *p, pgoff_t idx, struct page *page)
{
	XA_STATE(xas, &p->xa, idx >> COWSHARE_CHUNK_SHIFT);
	struct cowshare_chunk *c, *empty = NULL;
	struct page **slot;
	bool done = false;

	xas_lock(&xas);
	c = xas_load(&xas);
	slot = chunk_slot(c, idx & CHUNK_MASK);
	if (slot && *slot == page) {
		WRITE_ONCE(*slot, NULL);
		done = true;
		if (!chunk_live(c)) {
			xas_store(&xas, NULL);	/* removing an entry allocates nothing */
			empty = c;
		}
	}
	xas_unlock(&xas);
	chunk_free(empty);
	return done;
}

/*
 * Up to @max entries from *@pos to @last, referenced, in offset order;
 * *@pos moves past the last one returned (past @last when none is left).
 */
unsigned int cowshare_pages_gather(struct cowshare_pages *p, pgoff_t *pos, pgoff_t last,
				   struct cowshare_entry *out, unsigned int max)
{
	XA_STATE(xas, &p->xa, *pos >> COWSHARE_CHUNK_SHIFT);
	struct cowshare_chunk *c;
	unsigned int n = 0;

	if (*pos > last)
		return 0;
	xas_lock(&xas);
	xas_for_each(&xas, c, last >> COWSHARE_CHUNK_SHIFT) {
		pgoff_t base = xas.xa_index << COWSHARE_CHUNK_SHIFT;
		unsigned int j = 0, i;

		for (i = 0; i < COWSHARE_CHUNK_PAGES; i++) {
			struct page *page;

			if (!(c->slots & BIT(i)))
				continue;
			page = c->pages[j++];
			if (!page || base + i < *pos || base + i > last)
				continue;
			if (n == max) {
				*pos = base + i;
				goto out;
			}
			get_page(page);
			out[n].idx = base + i;
			out[n++].page = page;
		}
	}
	*pos = last + 1;		/* indexes never reach ULONG_MAX */
out:
	xas_unlock(&xas);
	return n;
}

/*
 * Fill the empty slots of @pages[i - first] with the entries i in
 * [first, last], not referenced: the caller keeps them alive otherwise.
 * Under the lock, or under RCU for an index that no longer changes
 * (@stable: a layer's, whose views in many processes should not share a
 * lock cache line in every fault).
 */
void cowshare_pages_fill(struct cowshare_pages *p, pgoff_t first, pgoff_t last,
			 struct page **pages, bool stable)
{
	XA_STATE(xas, &p->xa, first >> COWSHARE_CHUNK_SHIFT);
	struct cowshare_chunk *c;

	if (stable)
		rcu_read_lock();
	else
		xas_lock(&xas);
	xas_for_each(&xas, c, last >> COWSHARE_CHUNK_SHIFT) {
		pgoff_t base = xas.xa_index << COWSHARE_CHUNK_SHIFT;
		unsigned long slots;
		unsigned int j = 0, i;

		if (xas_retry(&xas, c))
			continue;
		slots = c->slots;
		for_each_set_bit(i, &slots, COWSHARE_CHUNK_PAGES) {
			struct page *page = READ_ONCE(c->pages[j++]);

			if (base + i > last)
				break;
			if (page && base + i >= first && !pages[base + i - first])
				pages[base + i - first] = page;
		}
	}
	if (stable)
		rcu_read_unlock();
	else
		xas_unlock(&xas);
}

/* Entries in [first, last]. */
unsigned long cowshare_pages_count(struct cowshare_pages *p, pgoff_t first, pgoff_t last)
{
	XA_STATE(xas, &p->xa, first >> COWSHARE_CHUNK_SHIFT);
	struct cowshare_chunk *c;
	unsigned long n = 0;

	xas_lock(&xas);
	xas_for_each(&xas, c, last >> COWSHARE_CHUNK_SHIFT) {
		pgoff_t base = xas.xa_index << COWSHARE_CHUNK_SHIFT;
		unsigned int j = 0, i;

		for (i = 0; i < COWSHARE_CHUNK_PAGES; i++) {
			if (!(c->slots & BIT(i)))
				continue;
			if (c->pages[j++] && base + i >= first && base + i <= last)
				n++;
		}
		if (need_resched()) {
			xas_pause(&xas);
			xas_unlock(&xas);
			cond_resched();
			xas_lock(&xas);
		}
	}
	xas_unlock(&xas);
	return n;
}

/* The first offset in [pos, last] of chunk @c (at @base) with an entry, or last + 1. */
static pgoff_t chunk_next(struct cowshare_chunk *c, pgoff_t base, pgoff_t pos, pgoff_t last)
{
	unsigned int j = 0, i;

	for (i = 0; i < COWSHARE_CHUNK_PAGES; i++) {
		if (!(c->slots & BIT(i)))
			continue;
		if (READ_ONCE(c->pages[j++]) && base + i >= pos && base + i <= last)
			return base + i;
	}
	return last + 1;
}

/* The first offset in [pos, last] holding an entry, or last + 1. */
pgoff_t cowshare_pages_next(struct cowshare_pages *p, pgoff_t pos, pgoff_t last)
{
	XA_STATE(xas, &p->xa, pos >> COWSHARE_CHUNK_SHIFT);
	struct cowshare_chunk *c;
	pgoff_t found = last + 1;

	xas_lock(&xas);
	xas_for_each(&xas, c, last >> COWSHARE_CHUNK_SHIFT) {
		found = chunk_next(c, xas.xa_index << COWSHARE_CHUNK_SHIFT, pos, last);
		if (found <= last)
			break;
	}
	xas_unlock(&xas);
	return found;
}

/*
 * cowshare_pages_next() for an index that no longer changes (a layer's):
 * no lock, so that the views of one snapshot in many processes do not
 * share a lock cache line in every fault.
 */
pgoff_t cowshare_pages_next_stable(struct cowshare_pages *p, pgoff_t pos, pgoff_t last)
{
	XA_STATE(xas, &p->xa, pos >> COWSHARE_CHUNK_SHIFT);
	struct cowshare_chunk *c;
	pgoff_t found = last + 1;

	rcu_read_lock();
	xas_for_each(&xas, c, last >> COWSHARE_CHUNK_SHIFT) {
		if (xas_retry(&xas, c))
			continue;
		found = chunk_next(c, xas.xa_index << COWSHARE_CHUNK_SHIFT, pos, last);
		if (found <= last)
			break;
	}
	rcu_read_unlock();
	return found;
}

static unsigned long chunk_live_bits(const struct cowshare_chunk *c)
{
	unsigned long bits = 0;
	unsigned int j = 0, i;

	if (!c)
		return 0;
	for (i = 0; i < COWSHARE_CHUNK_PAGES; i++)
		if ((c->slots & BIT(i)) && c->pages[j++])
			bits |= BIT(i);
	return bits;
}

/*
 * Add the pages of one chunk's worth, @buf in the bit order of @slots, at
 * chunk @key, where @p has no entry yet; *@inserted tells which went in.
 * One allocation for the chunk, however many pages.
 */
int cowshare_pages_merge(struct cowshare_pages *p, unsigned long key, unsigned long slots,
			 struct page **buf, unsigned long *inserted, gfp_t gfp)
{
	struct cowshare_chunk *c, *n = NULL, *stale = NULL;
	XA_STATE(xas, &p->xa, key);
	unsigned int have = 0, want, i, j, k;
	unsigned long live, add;
	int ret = 0;

	*inserted = 0;
	for (;;) {
		xas_lock(&xas);
		c = xas_load(&xas);
		live = chunk_live_bits(c);
		add = slots & ~live;
		want = hweight_long(live | add);
		if (!add) {
			xas_unlock(&xas);
			break;
		}
		if (n && have == want) {
			n->slots = live | add;
			for (i = 0, j = 0, k = 0; i < COWSHARE_CHUNK_PAGES; i++) {
				if (c && (c->slots & BIT(i)) && (live & BIT(i)))
					n->pages[k++] = c->pages[j];
				else if (add & BIT(i))
					n->pages[k++] = buf[hweight_long(slots & (BIT(i) - 1))];
				if (c && (c->slots & BIT(i)))
					j++;
			}
			xas_store(&xas, n);
			if (!xas_error(&xas)) {
				stale = c;
				n = NULL;
				*inserted = add;
				xas_unlock(&xas);
				break;
			}
		}
		xas_unlock(&xas);
		if (xas_nomem(&xas, gfp))
			continue;
		ret = xas_error(&xas);
		if (ret)
			break;
		chunk_discard(n, have);
		n = chunk_alloc(want, gfp);
		have = n ? want : 0;
		if (!n) {
			ret = -ENOMEM;
			break;
		}
		xas_reset(&xas);
	}
	if (!ret)
		xas_nomem(&xas, gfp);
	chunk_discard(n, have);
	chunk_free(stale);
	return ret;
}

/* Store a chunk built in @slots/@buf at @key of @dst (empty there). */
static int dup_flush(struct cowshare_pages *dst, unsigned long key, unsigned long slots,
		     struct page **buf, gfp_t gfp)
{
	unsigned int nr = hweight_long(slots);
	struct cowshare_chunk *c;
	int ret;

	if (!nr)
		return 0;
	c = chunk_alloc(nr, gfp);
	if (!c)
		return -ENOMEM;
	c->slots = slots;
	memcpy(c->pages, buf, nr * sizeof(*buf));
	ret = xa_insert(&dst->xa, key, c, gfp);
	if (ret)
		chunk_free(c);
	return ret;
}

/*
 * Copy the entries of @src in [first, last] into @dst, at their offset
 * minus @shift; @dst holds nothing there. The caller keeps @src from
 * changing and takes the holders' references (nothing here does).
 */
int cowshare_pages_dup(struct cowshare_pages *dst, struct cowshare_pages *src,
		       pgoff_t first, pgoff_t last, pgoff_t shift, gfp_t gfp)
{
	struct page *buf[COWSHARE_CHUNK_PAGES];
	struct cowshare_entry batch[16];
	unsigned long key = ULONG_MAX, slots = 0;
	pgoff_t pos = first;
	unsigned int n, i;
	int ret = 0;

	while ((n = cowshare_pages_gather(src, &pos, last, batch, ARRAY_SIZE(batch)))) {
		for (i = 0; i < n; i++) {
			pgoff_t to = batch[i].idx - shift;

			put_page(batch[i].page);	/* gather's: @src holds it */
			if (to >> COWSHARE_CHUNK_SHIFT != key) {
				if (!ret)
					ret = dup_flush(dst, key, slots, buf, gfp);
				key = to >> COWSHARE_CHUNK_SHIFT;
				slots = 0;
			}
			buf[hweight_long(slots)] = batch[i].page;
			slots |= BIT(to & CHUNK_MASK);
		}
		if (ret)
			return ret;
		cond_resched();
	}
	return dup_flush(dst, key, slots, buf, gfp);
}

/* Free the index, handing each entry to @put. Nobody else uses it any more. */
void cowshare_pages_destroy(struct cowshare_pages *p, void (*put)(struct page *page))
{
	struct cowshare_chunk *c;
	unsigned long key;
	unsigned int i;

	xa_for_each(&p->xa, key, c) {
		for (i = 0; i < hweight_long(c->slots); i++)
			if (c->pages[i] && put)
				put(c->pages[i]);
		chunk_free(c);
		cond_resched();
	}
	xa_destroy(&p->xa);
}

/*
 * A copy's page->private: its holders (the view and snapshot indexes that
 * hold it, a page reference each) times COPY_ONE_HOLDER, and
 * COPY_MAYBE_SHARED once a fork or a snapshot shared it. Exclusive, that
 * is writable in place by its one holder, is exactly COPY_ONE_HOLDER: the
 * rule anonymous memory keeps with PageAnonExclusive.
 */
#define COPY_MAYBE_SHARED	1UL
#define COPY_ONE_HOLDER		2UL

static atomic_long_t *copy_state(struct page *page)
{
	BUILD_BUG_ON(sizeof(atomic_long_t) != sizeof(page->private));
	return (atomic_long_t *)&page->private;
}

/*
 * A new copy for a view of a region whose root is @root, charged to the
 * memory cgroup of @mm (the view's, which need not be current's: ptrace).
 * Exclusive, with one holder. Its page->mapping and index make the futex
 * key of a shared futex in it: the root's inode (alive while any holder
 * is) and an offset no base page has.
 */
struct page *cowshare_copy_alloc(struct mm_struct *mm, struct cowshare_region *root)
{
	struct mem_cgroup *memcg, *old;
	struct page *page;

	memcg = get_mem_cgroup_from_mm(mm);
	old = set_active_memcg(memcg);
	page = alloc_page(GFP_HIGHUSER | __GFP_ACCOUNT);
	set_active_memcg(old);
	mem_cgroup_put(memcg);
	if (!page)
		return NULL;
	page->mapping = root->inode->i_mapping;
	page->index = root->npages + page_to_pfn(page);
	set_page_private(page, COPY_ONE_HOLDER);
	atomic_long_inc(&cowshare_stats.copy_pages);
	return page;
}

/* The content of @src (a base page, a copy, the zero page) into @copy. */
void cowshare_copy_fill(struct page *copy, struct page *src, unsigned long addr,
			struct vm_area_struct *vma)
{
	if (!src || cowshare_is_zero_page(src))
		clear_user_highpage(copy, addr);
	else
		copy_user_highpage(copy, src, addr, vma);
}

/* Another index holds @page (fork, snapshot): nobody writes it in place now. */
void cowshare_copy_hold(struct page *page)
{
	get_page(page);
	atomic_long_add(COPY_ONE_HOLDER, copy_state(page));
	atomic_long_or(COPY_MAYBE_SHARED, copy_state(page));
}

/*
 * An index lets go of @page. The last holder takes its identity away
 * under the page lock, as truncation does to a page cache page: a pipe or
 * a pin may keep the page itself for a while.
 */
void cowshare_copy_release(struct page *page)
{
	if (atomic_long_sub_return(COPY_ONE_HOLDER, copy_state(page)) < (long)COPY_ONE_HOLDER) {
		lock_page(page);
		page->mapping = NULL;
		atomic_long_set(copy_state(page), 0);
		unlock_page(page);
		atomic_long_dec(&cowshare_stats.copy_pages);
	}
	put_page(page);
}

/* A copy that was never published (a racing fault published first). */
void cowshare_copy_discard(struct page *page)
{
	page->mapping = NULL;
	set_page_private(page, 0);
	atomic_long_dec(&cowshare_stats.copy_pages);
	put_page(page);
}

bool cowshare_copy_exclusive(struct page *page)
{
	return atomic_long_read(copy_state(page)) == COPY_ONE_HOLDER;
}

/*
 * Whether something other than its holders, its mappings and the caller's
 * @extra_refs holds @page: a pipe (vmsplice), a pin, an O_DIRECT read.
 */
bool cowshare_copy_has_outside_refs(struct page *page, int extra_refs)
{
	long holders = atomic_long_read(copy_state(page)) / COPY_ONE_HOLDER;

	return page_count(page) > holders + cowshare_page_mapcount(page) + extra_refs;
}

/*
 * Under the page lock: may the holder write @page in place? An exclusive
 * copy, or one whose other holders are gone and that nobody else
 * references (a fork child that exited, a freed snapshot): then it
 * becomes exclusive again, as do_wp_page() reuses an anonymous page.
 */
bool cowshare_copy_try_exclusive(struct page *page, int extra_refs)
{
	long state = atomic_long_read(copy_state(page));

	if (state == COPY_ONE_HOLDER)
		return true;
	if (state != (COPY_ONE_HOLDER | COPY_MAYBE_SHARED) ||
	    cowshare_copy_has_outside_refs(page, extra_refs))
		return false;
	return atomic_long_cmpxchg(copy_state(page), state, COPY_ONE_HOLDER) == state;
}
