/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowshare: the few kernel interfaces that differ between the 6.1 and 6.12
 * lines this module supports.
 */
#ifndef _COWSHARE_COMPAT_H
#define _COWSHARE_COMPAT_H

#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <asm/cacheflush.h>

/*
 * Zap the ptes of [addr, addr + size) in one vma. 6.3 replaced the export
 * zap_page_range() by zap_page_range_single(); Kbuild probes Module.symvers.
 */
static inline void cowshare_zap_range(struct vm_area_struct *vma,
				      unsigned long addr, unsigned long size)
{
#ifdef COWSHARE_HAVE_ZAP_PAGE_RANGE_SINGLE
	zap_page_range_single(vma, addr, size, NULL);
#else
	zap_page_range(vma, addr, size);
#endif
}

/*
 * Mappings of an order-0 page. 6.1 exports no folio_mapcount() and 6.12
 * has no page_mapcount(); copies are always order 0.
 */
static inline int cowshare_page_mapcount(struct page *page)
{
	return atomic_read(&page->_mapcount) + 1;
}

/*
 * 6.3 made vm_flags read-only behind vm_flags_set() (which asserts the
 * mmap write lock); 6.1 writes the field. Probed by Kbuild.
 */
static inline void cowshare_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
#ifdef COWSHARE_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/*
 * Whether do_set_pmd() refuses a PMD in @vma for MADV_NOHUGEPAGE or
 * PR_SET_THP_DISABLE: 6.12's does (vma_thp_disabled()), 6.1's does not.
 */
static inline bool cowshare_thp_disabled(struct vm_area_struct *vma)
{
#if defined(COWSHARE_HAVE_VMA_THP_DISABLED) && defined(CONFIG_TRANSPARENT_HUGEPAGE)
	/* Declared only with THP: without it there is no PMD to refuse. */
	return vma_thp_disabled(vma, vma->vm_flags);
#else
	return false;
#endif
}

/* 6.11 made struct fd opaque: fd_file() reads its file. */
#ifndef fd_file
#define fd_file(f)	((f).file)
#endif

/* 6.5 dropped FMODE_LSEEK: lseek is allowed whenever ->llseek is set. */
#ifdef FMODE_LSEEK
#define COWSHARE_FMODE_SEEK	(FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE)
#else
#define COWSHARE_FMODE_SEEK	(FMODE_PREAD | FMODE_PWRITE)
#endif

/*
 * After the kernel wrote a page that a user mapping may execute: arm64's
 * instruction cache is not coherent with its data cache (x86's is).
 */
static inline void cowshare_sync_icache(struct page *page)
{
	void *kaddr = kmap_local_page(page);

	flush_icache_range((unsigned long)kaddr, (unsigned long)kaddr + PAGE_SIZE);
	kunmap_local(kaddr);
}

#endif /* _COWSHARE_COMPAT_H */
