// SPDX-License-Identifier: GPL-2.0
/*
 * The DLL scenario (userspace/examples/dll_image.h): processes that load
 * one image file share every page at the preferred base and copy exactly
 * the pages with relocation fixups elsewhere.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"
#include "../userspace/examples/dll_image.h"

#define IMAGE "/tmp/dll_test.img"

FIXTURE(dll) {
	struct cs_env env;
	int file;
	uint64_t pages;
	struct dll_header hdr;
};

FIXTURE_VARIANT(dll) {
	uint64_t code_pages;
	uint64_t data_pages;
	unsigned int every;
};

FIXTURE_VARIANT_ADD(dll, small) { .code_pages = 2, .data_pages = 5, .every = 2 };
FIXTURE_VARIANT_ADD(dll, sparse_fixups) { .code_pages = 8, .data_pages = 40, .every = 7 };
FIXTURE_VARIANT_ADD(dll, no_fixups) { .code_pages = 4, .data_pages = 8, .every = 0 };

FIXTURE_SETUP(dll)
{
	env_setup(_metadata, &self->env);
	self->file = open(IMAGE, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->file);
	ASSERT_EQ(0, dll_image_write(self->file, variant->code_pages,
				     variant->data_pages, variant->every));
	ASSERT_EQ(sizeof(self->hdr), pread(self->file, &self->hdr, sizeof(self->hdr), 0));
	self->pages = self->hdr.image_pages;
}

FIXTURE_TEARDOWN(dll)
{
	close(self->file);
	unlink(IMAGE);
	env_teardown(_metadata, &self->env);
}

static int load_image(struct __test_metadata *_metadata, FIXTURE_DATA(dll) *self)
{
	int region = cowshare_create_from_file(self->file, 0, self->pages * psize(),
					       COWSHARE_SHARE_BY_FILE);

	ASSERT_LE(0, region) TH_LOG("create_from_file: %s", strerror(-region));
	return region;
}

/* Every relocated pointer points at its code page in this mapping. */
static int pointers_valid(const char *base, const struct dll_header *h)
{
	const uint64_t *relocs = (const uint64_t *)(base + h->reloc_offset);
	uint64_t i;

	for (i = 0; i < h->nr_relocs; i++) {
		uint64_t ptr = *(const uint64_t *)(base + relocs[i]);

		if (ptr < (uintptr_t)base + psize() ||
		    ptr >= (uintptr_t)base + (1 + h->code_pages) * psize() ||
		    (ptr - (uintptr_t)base) % psize())
			return 0;
	}
	return 1;
}

TEST_F(dll, preferred_base_copies_nothing)
{
	struct cowshare_view_info vi;
	int region = load_image(_metadata, self);
	void *base = NULL;

	ASSERT_EQ(0, dll_load(region, self->pages, 0, &base));
	ASSERT_EQ(DLL_PREFERRED_BASE, (uintptr_t)base);
	EXPECT_TRUE(pointers_valid(base, &self->hdr));
	ASSERT_EQ(0, cowshare_view_info(region, base, &vi));
	EXPECT_EQ(0, vi.private_pages);
	EXPECT_EQ(0, vi.cow_faults);
	munmap(base, self->pages * psize());
	close(region);
}

TEST_F(dll, elsewhere_copies_fixup_pages_only)
{
	struct cowshare_view_info vi;
	int region = load_image(_metadata, self);
	uint64_t p, data0 = 1 + self->hdr.code_pages;
	char *base, *pref;
	void *b = NULL;

	/* A second loader at the preferred base, for base PFNs. */
	ASSERT_EQ(0, dll_load(region, self->pages, 0, &b));
	pref = b;
	ASSERT_EQ(0, dll_load(region, self->pages, 1, &b));
	base = b;
	ASSERT_NE(DLL_PREFERRED_BASE, (uintptr_t)base);
	EXPECT_TRUE(pointers_valid(base, &self->hdr));
	EXPECT_TRUE(pointers_valid(pref, &self->hdr));
	ASSERT_EQ(0, cowshare_view_info(region, base, &vi));
	EXPECT_EQ(self->hdr.fixup_pages, vi.private_pages);

	/* Exactly the fixup pages differ physically from the shared base. */
	for (p = 0; p < self->pages; p++) {
		int fixup = p >= data0 && p < data0 + self->hdr.data_pages &&
			    dll_page_has_fixups(p - data0, variant->every);
		volatile char touch = base[p * psize()] + pref[p * psize()];

		(void)touch;
		uint64_t shared = pagemap_pfn(_metadata, pref + p * psize());
		uint64_t mine = pagemap_pfn(_metadata, base + p * psize());

		if (fixup) {
			EXPECT_NE(shared, mine) TH_LOG("page %llu has fixups", (unsigned long long)p);
		} else {
			EXPECT_EQ(shared, mine) TH_LOG("page %llu has none", (unsigned long long)p);
		}
	}
	munmap(base, self->pages * psize());
	munmap(pref, self->pages * psize());
	close(region);
}

TEST_F(dll, unrelated_loaders_share_one_region)
{
	struct cowshare_region_info mine, theirs;
	int region = load_image(_metadata, self);
	int report[2], status;
	pid_t pid;

	ASSERT_EQ(0, cowshare_region_info(region, &mine));
	EXPECT_TRUE(mine.region_flags & COWSHARE_REGION_FILE_IMAGE);
	EXPECT_TRUE(mine.region_flags & COWSHARE_REGION_SEALED);
	ASSERT_EQ(0, pipe(report));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* No fd inherited counts: open the file anew, as a stranger would. */
		int fd = open(IMAGE, O_RDONLY), r;

		close(region);
		r = fd < 0 ? -1 : cowshare_create_from_file(fd, 0, self->pages * psize(),
							   COWSHARE_SHARE_BY_FILE);
		if (r < 0 || cowshare_region_info(r, &theirs))
			_exit(1);
		_exit(write(report[1], &theirs, sizeof(theirs)) == sizeof(theirs) ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(sizeof(theirs), read(report[0], &theirs, sizeof(theirs)));
	EXPECT_EQ(mine.id, theirs.id);
	close(report[0]);
	close(report[1]);
	close(region);
}

TEST_HARNESS_MAIN
