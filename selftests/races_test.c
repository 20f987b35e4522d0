// SPDX-License-Identifier: GPL-2.0
/*
 * Races: faults against munmap, fork, reset, snapshot and the last close,
 * from several threads, for a bounded time each. Every round checks
 * contents and counters afterwards: no lost write, no double copy, no
 * leak, and (through the VM runner) no kernel warning.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define PAGES		64
#define ROUNDS		40

FIXTURE(races) {
	struct cs_env env;
	int region;
	char *view;
};

FIXTURE_SETUP(races)
{
	env_setup(_metadata, &self->env);
	self->region = new_region(_metadata, PAGES * psize());
	for (size_t p = 0; p < PAGES; p++)
		base_fill(_metadata, self->region, p, 'B');
	self->view = map_view(_metadata, self->region, PAGES * psize(),
			      PROT_READ | PROT_WRITE, 0);
}

FIXTURE_TEARDOWN(races)
{
	if (self->view)
		munmap(self->view, PAGES * psize());
	if (self->region >= 0)
		close(self->region);
	env_teardown(_metadata, &self->env);
}

struct racer {
	char *view;
	atomic_int stop;
	atomic_long writes;
	int id;
};

/* Writes its own byte of every page, round after round, until stopped. */
static void *writer(void *p)
{
	struct racer *r = p;
	unsigned char v = 0;

	while (!atomic_load(&r->stop)) {
		for (size_t i = 0; i < PAGES; i++)
			((volatile char *)r->view)[i * psize() + (size_t)r->id] = (char)++v;
		atomic_fetch_add(&r->writes, 1);
	}
	return NULL;
}

/* Reads every page until stopped (faults racing whatever the test does). */
static void *reader(void *p)
{
	struct racer *r = p;
	unsigned long sum = 0;

	while (!atomic_load(&r->stop))
		for (size_t i = 0; i < PAGES; i++)
			sum += ((volatile char *)r->view)[i * psize() + 100];
	return (void *)sum;
}

TEST_F(races, fork_racing_writes)
{
	struct racer r = { .view = self->view, .id = 1 };
	pthread_t t;
	int round, status;

	ASSERT_EQ(0, pthread_create(&t, NULL, writer, &r));
	for (round = 0; round < ROUNDS; round++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (!pid) {
			/* The child's view is a consistent copy: base byte 0 is untouched. */
			for (size_t i = 0; i < PAGES; i++)
				if (self->view[i * psize()] != 'B')
					_exit(1);
			self->view[0] = 'C';
			_exit(self->view[0] == 'C' ? 0 : 2);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	/* The parent never saw the children's writes. */
	EXPECT_EQ('B', self->view[0]);
	EXPECT_LT(0, atomic_load(&r.writes));
}

TEST_F(races, munmap_racing_faults)
{
	struct racer r = { .id = 2 };
	int round;

	for (round = 0; round < ROUNDS; round++) {
		pthread_t t[2];
		char *v = map_view(_metadata, self->region, PAGES * psize(),
				   PROT_READ | PROT_WRITE, 0);

		r.view = v;
		atomic_store(&r.stop, 0);
		ASSERT_EQ(0, pthread_create(&t[0], NULL, writer, &r));
		ASSERT_EQ(0, pthread_create(&t[1], NULL, reader, &r));
		usleep(1000);
		/* Unmap under the threads, then map something harmless back so
		 * that they fault on ordinary memory rather than crash. */
		ASSERT_NE(MAP_FAILED, mmap(v, PAGES * psize(), PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
		atomic_store(&r.stop, 1);
		pthread_join(t[0], NULL);
		pthread_join(t[1], NULL);
		munmap(v, PAGES * psize());
	}
	/* Every copy those views made is gone with them. */
	struct cowshare_region_info ri;

	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(0, ri.private_pages);
	EXPECT_EQ(1, ri.views);
}

TEST_F(races, reset_racing_writers)
{
	struct racer r[2] = { { .view = self->view, .id = 3 }, { .view = self->view, .id = 4 } };
	struct cowshare_view_info vi;
	pthread_t t[2];
	int round, i;

	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, writer, &r[i]));
	for (round = 0; round < ROUNDS * 5; round++)
		ASSERT_LE(0, cowshare_reset(self->region, self->view, PAGES * psize()));
	for (i = 0; i < 2; i++) {
		atomic_store(&r[i].stop, 1);
		pthread_join(t[i], NULL);
	}
	/* Whatever survived is consistent: a copy per page at most. */
	view_info(_metadata, self->region, self->view, &vi);
	EXPECT_GE(PAGES, vi.private_pages);
	EXPECT_EQ('B', base_byte(_metadata, self->region, 3));
	ASSERT_LE(0, cowshare_reset(self->region, self->view, PAGES * psize()));
	for (size_t p = 0; p < PAGES; p++)
		EXPECT_TRUE(all_bytes(self->view + p * psize(), psize(), 'B'));
}

TEST_F(races, snapshot_racing_writers)
{
	struct racer r = { .view = self->view, .id = 5 };
	pthread_t t;
	int round;

	ASSERT_EQ(0, pthread_create(&t, NULL, writer, &r));
	for (round = 0; round < ROUNDS; round++) {
		int snap = cowshare_snapshot(self->region, self->view, PAGES * psize(), 0);
		unsigned char seen[PAGES];
		char *s;

		ASSERT_LE(0, snap);
		s = map_view(_metadata, snap, PAGES * psize(), PROT_READ, 0);
		/* A snapshot never changes after it is taken. */
		for (size_t p = 0; p < PAGES; p++)
			seen[p] = (unsigned char)s[p * psize() + 5];
		usleep(500);
		for (size_t p = 0; p < PAGES; p++) {
			EXPECT_EQ(seen[p], (unsigned char)s[p * psize() + 5]);
			EXPECT_EQ('B', s[p * psize()]);
		}
		munmap(s, PAGES * psize());
		close(snap);
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
}

struct closer {
	int fd;
	char *view;
	atomic_int go;
};

static void *fault_all(void *p)
{
	struct closer *c = p;
	unsigned long sum = 0;

	while (!atomic_load(&c->go))
		;
	for (size_t i = 0; i < PAGES; i++) {
		sum += (unsigned char)c->view[i * psize()];
		c->view[i * psize() + 1] = 'w';
	}
	return (void *)sum;
}

TEST_F(races, last_close_racing_faults)
{
	int round;

	for (round = 0; round < ROUNDS; round++) {
		struct closer c = { 0 };
		pthread_t t;

		c.fd = new_region(_metadata, PAGES * psize());
		c.view = map_view(_metadata, c.fd, PAGES * psize(), PROT_READ | PROT_WRITE, 0);
		ASSERT_EQ(0, pthread_create(&t, NULL, fault_all, &c));
		atomic_store(&c.go, 1);
		close(c.fd);		/* the view keeps the region alive */
		pthread_join(t, NULL);
		for (size_t i = 0; i < PAGES; i++)
			EXPECT_EQ('w', c.view[i * psize() + 1]);
		munmap(c.view, PAGES * psize());
	}
}

TEST_HARNESS_MAIN
