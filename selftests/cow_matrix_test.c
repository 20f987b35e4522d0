// SPDX-License-Identifier: GPL-2.0
/*
 * The copy-on-write scenarios on every kind of region, as the kernel's
 * mm/cow.c runs each scenario on each backing: a new region (base pages
 * written), a sealed one (with a hole, the shared zero page), a file
 * image, a snapshot layer (its pages are another view's copies), and a
 * forked child's view (the scenario runs in a child of the process that
 * mapped and read the view). Every kind holds the same content, so every
 * scenario checks the same bytes and PFNs (/proc/self/pagemap) on all.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define KIND_PAGES	16
#define KIND_HOLE	5	/* sealed: never written, reads zero */

enum region_kind { KIND_NEW, KIND_SEALED, KIND_FILE, KIND_SNAPSHOT, KIND_FORKED };

/* What page i of every kind holds at byte 0 (the rest of it too). */
static int kind_byte(enum region_kind kind, size_t i)
{
	return kind == KIND_SEALED && i == KIND_HOLE ? 0 : 'a' + (int)i;
}

FIXTURE(kind)
{
	struct cs_env env;
	int region;
	size_t len;
	char *a, *b;		/* two views of the region, read and write */
	pid_t parent;		/* KIND_FORKED: the process that mapped them */
};

FIXTURE_VARIANT(kind)
{
	enum region_kind kind;
};

FIXTURE_VARIANT_ADD(kind, new_region) { .kind = KIND_NEW };
FIXTURE_VARIANT_ADD(kind, sealed) { .kind = KIND_SEALED };
FIXTURE_VARIANT_ADD(kind, file_image) { .kind = KIND_FILE };
FIXTURE_VARIANT_ADD(kind, snapshot_layer) { .kind = KIND_SNAPSHOT };
FIXTURE_VARIANT_ADD(kind, forked_child) { .kind = KIND_FORKED };

static int kind_file_image(struct __test_metadata *_metadata, size_t len)
{
	char path[] = "/tmp/cow_matrix.XXXXXX", *buf = malloc(len);
	int file = mkstemp(path), region;
	size_t i;

	ASSERT_NE(NULL, buf);
	ASSERT_LE(0, file);
	unlink(path);
	for (i = 0; i < KIND_PAGES; i++)
		memset(buf + i * psize(), kind_byte(KIND_FILE, i), psize());
	ASSERT_EQ((ssize_t)len, pwrite(file, buf, len, 0));
	region = cowshare_create_from_file(file, 0, len, COWSHARE_CLOEXEC);
	ASSERT_LE(0, region) TH_LOG("create_from_file: %s", strerror(-region));
	close(file);
	free(buf);
	return region;
}

/* A layer whose every page is a copy that another view wrote. */
static int kind_snapshot(struct __test_metadata *_metadata, size_t len)
{
	int source = new_region(_metadata, len), snap;
	char *v = map_view(_metadata, source, len, PROT_READ | PROT_WRITE, 0);
	size_t i;

	for (i = 0; i < KIND_PAGES; i++)
		memset(VP(v, i), kind_byte(KIND_SNAPSHOT, i), psize());
	snap = cowshare_snapshot(source, v, len, COWSHARE_CLOEXEC);
	ASSERT_LE(0, snap) TH_LOG("snapshot: %s", strerror(-snap));
	EXPECT_EQ(0, munmap(v, len));
	EXPECT_EQ(0, close(source));
	return snap;
}

FIXTURE_SETUP(kind)
{
	size_t i;

	env_setup(_metadata, &self->env);
	self->len = KIND_PAGES * psize();
	self->parent = getpid();
	switch (variant->kind) {
	case KIND_FILE:
		self->region = kind_file_image(_metadata, self->len);
		break;
	case KIND_SNAPSHOT:
		self->region = kind_snapshot(_metadata, self->len);
		break;
	default:
		self->region = new_region(_metadata, self->len);
		for (i = 0; i < KIND_PAGES; i++)
			if (kind_byte(variant->kind, i))
				base_fill(_metadata, self->region, i, kind_byte(variant->kind, i));
		if (variant->kind == KIND_SEALED)
			ASSERT_EQ(0, cowshare_seal(self->region));
		break;
	}
	self->a = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
	self->b = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
	if (variant->kind != KIND_FORKED)
		return;
	/* The parent maps every page before the fork: the child inherits ptes. */
	for (i = 0; i < KIND_PAGES; i++) {
		EXPECT_EQ(kind_byte(KIND_FORKED, i), VP(self->a, i)[0]);
		EXPECT_EQ(kind_byte(KIND_FORKED, i), VP(self->b, i)[0]);
	}
}

FIXTURE_TEARDOWN(kind)
{
	if (getpid() != self->parent)
		return;
	munmap(self->a, self->len);
	munmap(self->b, self->len);
	EXPECT_EQ(0, close(self->region));
	env_teardown(_metadata, &self->env);
}

/*
 * KIND_FORKED: the scenario runs in a child, the parent waits for it and
 * skips the body. Returns whether to run it here. The harness shares
 * _metadata with children: their EXPECT and ASSERT failures count.
 */
static bool kind_enter(struct __test_metadata *_metadata, FIXTURE_DATA(kind) *self,
		       const FIXTURE_VARIANT(kind) *variant)
{
	pid_t pid;

	if (variant->kind != KIND_FORKED)
		return true;
	pid = env_fork(_metadata, &self->env);
	if (pid == 0)
		return true;
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	return false;
}

static void kind_leave(const FIXTURE_VARIANT(kind) *variant)
{
	if (variant->kind == KIND_FORKED)
		_exit(0);
}

/* Reads show the region's content, and both views map the same frame. */
TEST_F(kind, reads_share_frames)
{
	size_t i;

	if (!kind_enter(_metadata, self, variant))
		return;
	for (i = 0; i < KIND_PAGES; i++) {
		EXPECT_TRUE(all_bytes(VP(self->a, i), psize(), kind_byte(variant->kind, i)))
			TH_LOG("page %zu", i);
		EXPECT_EQ(touch_pfn(_metadata, VP(self->a, i)), touch_pfn(_metadata, VP(self->b, i)))
			TH_LOG("page %zu", i);
	}
	kind_leave(variant);
}

/* The first write copies that page, in that view only, with its content. */
TEST_F(kind, first_write_copies_one_page)
{
	uint64_t shared, next;

	if (!kind_enter(_metadata, self, variant))
		return;
	shared = touch_pfn(_metadata, VP(self->b, KIND_HOLE));
	next = touch_pfn(_metadata, VP(self->b, KIND_HOLE + 1));
	VP(self->a, KIND_HOLE)[1] = 'W';
	EXPECT_NE(shared, pagemap_pfn(_metadata, VP(self->a, KIND_HOLE)));
	EXPECT_EQ(kind_byte(variant->kind, KIND_HOLE), VP(self->a, KIND_HOLE)[0]);
	EXPECT_EQ('W', VP(self->a, KIND_HOLE)[1]);
	EXPECT_TRUE(all_bytes(VP(self->a, KIND_HOLE) + 2, psize() - 2,
			      kind_byte(variant->kind, KIND_HOLE)));
	EXPECT_EQ(shared, touch_pfn(_metadata, VP(self->b, KIND_HOLE)));
	EXPECT_TRUE(all_bytes(VP(self->b, KIND_HOLE), psize(), kind_byte(variant->kind, KIND_HOLE)));
	EXPECT_EQ(next, touch_pfn(_metadata, VP(self->a, KIND_HOLE + 1)));
	kind_leave(variant);
}

/* Writing every page gives the view a frame of its own for each. */
TEST_F(kind, write_every_page)
{
	size_t i;

	if (!kind_enter(_metadata, self, variant))
		return;
	for (i = 0; i < KIND_PAGES; i++)
		memset(VP(self->a, i), 'X', psize());
	for (i = 0; i < KIND_PAGES; i++) {
		EXPECT_NE(touch_pfn(_metadata, VP(self->a, i)), touch_pfn(_metadata, VP(self->b, i)))
			TH_LOG("page %zu", i);
		EXPECT_TRUE(all_bytes(VP(self->a, i), psize(), 'X'));
		EXPECT_TRUE(all_bytes(VP(self->b, i), psize(), kind_byte(variant->kind, i)))
			TH_LOG("page %zu", i);
	}
	kind_leave(variant);
}

/* After a fork, a write on either side stays on that side. */
TEST_F(kind, fork_then_write)
{
	struct sync_pipes s;
	pid_t pid;

	if (!kind_enter(_metadata, self, variant))
		return;
	sync_init(_metadata, &s);
	VP(self->a, 1)[0] = 'P';	/* a copy both sides start from */
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		VP(self->a, 2)[0] = 'C';
		EXPECT_EQ('P', VP(self->a, 1)[0]);
		sync_post(s.to_parent[1]);
		if (!sync_wait(s.to_child[0]))
			_exit(3);
		EXPECT_EQ('P', VP(self->a, 1)[0]) TH_LOG("the parent's write reached the child");
		EXPECT_EQ('C', VP(self->a, 2)[0]);
		_exit(0);
	}
	ASSERT_TRUE(sync_wait(s.to_parent[0]));
	EXPECT_EQ(kind_byte(variant->kind, 2), VP(self->a, 2)[0])
		TH_LOG("the child's write reached the parent");
	VP(self->a, 1)[0] = 'Q';
	ASSERT_TRUE(sync_post(s.to_child[1]));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	EXPECT_EQ('Q', VP(self->a, 1)[0]);
	EXPECT_EQ(kind_byte(variant->kind, 2), VP(self->a, 2)[0]);
	EXPECT_EQ(kind_byte(variant->kind, 1), VP(self->b, 1)[0]);
	sync_close(&s);
	kind_leave(variant);
}

/* MADV_DONTNEED drops ptes, not the view's copies (MAP_SHARED semantics). */
TEST_F(kind, dontneed_keeps_copies)
{
	if (!kind_enter(_metadata, self, variant))
		return;
	VP(self->a, 3)[0] = 'D';
	ASSERT_EQ(0, madvise(self->a, self->len, MADV_DONTNEED));
	EXPECT_EQ('D', VP(self->a, 3)[0]);
	EXPECT_EQ(kind_byte(variant->kind, 4), VP(self->a, 4)[0]);
	EXPECT_EQ(touch_pfn(_metadata, VP(self->a, 4)), touch_pfn(_metadata, VP(self->b, 4)));
	kind_leave(variant);
}

/* A reset drops the view's copy: the page shows the region's frame again. */
TEST_F(kind, reset_drops_copies)
{
	if (!kind_enter(_metadata, self, variant))
		return;
	VP(self->a, 7)[0] = 'R';
	EXPECT_EQ(1, cowshare_reset(self->region, self->a, self->len));
	EXPECT_TRUE(all_bytes(VP(self->a, 7), psize(), kind_byte(variant->kind, 7)));
	EXPECT_EQ(touch_pfn(_metadata, VP(self->a, 7)), touch_pfn(_metadata, VP(self->b, 7)));
	kind_leave(variant);
}

TEST_HARNESS_MAIN
