/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * A toy executable image, to show what cowshare does for a loader: every
 * process that maps the image at its preferred base shares all its pages;
 * a process that must map it elsewhere applies relocation fixups, which
 * copies only the pages that hold fixups.
 *
 * Layout, in pages:  [header][code ...][data ...][relocation table ...]
 * Code is position independent (no fixups). Some data pages hold absolute
 * pointers into the image, valid at the preferred base; the relocation
 * table lists their image offsets.
 */
#ifndef COWSHARE_DLL_IMAGE_H
#define COWSHARE_DLL_IMAGE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DLL_MAGIC		0x4c4c44574f43ULL	/* "COWDLL" */
#define DLL_PREFERRED_BASE	0x200000000000ULL	/* free in a fresh process */

struct dll_header {
	uint64_t magic;
	uint64_t preferred_base;
	uint64_t image_pages;
	uint64_t code_pages;		/* pages 1 .. code_pages */
	uint64_t data_pages;		/* the next data_pages pages */
	uint64_t reloc_offset;		/* byte offset of the relocation table */
	uint64_t nr_relocs;		/* uint64_t image offsets of absolute pointers */
	uint64_t fixup_pages;		/* data pages holding at least one */
};

/* Pointers per fixup page, and which data pages get them. */
#define DLL_PTRS_PER_PAGE	4
static inline int dll_page_has_fixups(uint64_t data_page, unsigned int every)
{
	return every && data_page % every == 0;
}

/*
 * Write the image to @fd: @code_pages of code, @data_pages of data, every
 * @every-th data page holding absolute pointers. 0 or -errno.
 */
static inline int dll_image_write(int fd, uint64_t code_pages, uint64_t data_pages,
				  unsigned int every)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t data0 = 1 + code_pages, nr = 0, fixup_pages = 0, p, i;
	uint64_t reloc_pages, max_relocs = data_pages * DLL_PTRS_PER_PAGE;
	struct dll_header *h;
	uint64_t *relocs;
	unsigned char *img;
	size_t size;
	ssize_t w;
	int ret = 0;

	reloc_pages = (max_relocs * sizeof(uint64_t) + ps - 1) / ps;
	if (!reloc_pages)
		reloc_pages = 1;
	size = (1 + code_pages + data_pages + reloc_pages) * ps;
	img = calloc(1, size);
	if (!img)
		return -ENOMEM;
	h = (struct dll_header *)img;
	relocs = (uint64_t *)(img + (data0 + data_pages) * ps);
	for (p = 1; p < data0; p++)		/* "instructions" */
		memset(img + p * ps, (int)(0x90 + p % 16), ps);
	for (p = 0; p < data_pages; p++) {
		unsigned char *page = img + (data0 + p) * ps;

		memset(page, (int)('a' + p % 26), ps);
		if (!dll_page_has_fixups(p, every))
			continue;
		fixup_pages++;
		for (i = 0; i < DLL_PTRS_PER_PAGE; i++) {
			uint64_t off = (data0 + p) * ps + i * 64;
			/* Point at the start of code page 1 + (p + i) % code_pages. */
			uint64_t target = (1 + (p + i) % (code_pages ? code_pages : 1)) * ps;

			*(uint64_t *)(img + off) = DLL_PREFERRED_BASE + target;
			relocs[nr++] = off;
		}
	}
	h->magic = DLL_MAGIC;
	h->preferred_base = DLL_PREFERRED_BASE;
	h->image_pages = size / ps;
	h->code_pages = code_pages;
	h->data_pages = data_pages;
	h->reloc_offset = (data0 + data_pages) * ps;
	h->nr_relocs = nr;
	h->fixup_pages = fixup_pages;

	for (i = 0; i < size; i += (size_t)w) {
		w = pwrite(fd, img + i, size - i, (off_t)i);
		if (w <= 0) {
			ret = w < 0 ? -errno : -EIO;
			break;
		}
	}
	free(img);
	return ret;
}

/*
 * Map the image (region fd @region of @pages pages) at its preferred base,
 * or anywhere when @elsewhere or when that address is taken, and apply the
 * fixups. The base in *@base; 0 or -errno.
 */
static inline int dll_load(int region, uint64_t pages, int elsewhere, void **base)
{
	size_t len = pages * (size_t)sysconf(_SC_PAGESIZE);
	const struct dll_header *h;
	uint64_t delta, i;
	void *p = MAP_FAILED;

	if (!elsewhere)
		p = mmap((void *)DLL_PREFERRED_BASE, len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, region, 0);
	if (p == MAP_FAILED)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, region, 0);
	if (p == MAP_FAILED)
		return -errno;
	h = p;
	if (h->magic != DLL_MAGIC) {
		munmap(p, len);
		return -ENOEXEC;
	}
	delta = (uint64_t)(uintptr_t)p - h->preferred_base;
	if (delta) {
		const uint64_t *relocs = (const uint64_t *)((char *)p + h->reloc_offset);

		/* Only writes copy: reading the table shares its pages. */
		for (i = 0; i < h->nr_relocs; i++)
			*(uint64_t *)((char *)p + relocs[i]) += delta;
	}
	*base = p;
	return 0;
}

#endif /* COWSHARE_DLL_IMAGE_H */
