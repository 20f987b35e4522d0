// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT
/*
 * libcowshare: load and unload the cowshare module through libkmod.
 *
 * Kept apart from the ioctl wrappers so that a static program that does
 * not call these functions links libcowshare.a without libkmod. Built
 * with COWSHARE_NO_LIBKMOD, both functions fail with -ENOSYS.
 */
#include <errno.h>
#include <stddef.h>

#include "cowshare.h"

#define COWSHARE_MODULE_NAME "cowshare"

#ifdef COWSHARE_NO_LIBKMOD

int cowshare_module_load(const char *ko_path)
{
	(void)ko_path;
	return -ENOSYS;
}

int cowshare_module_unload(void)
{
	return -ENOSYS;
}

#else /* !COWSHARE_NO_LIBKMOD */

#include <stdarg.h>
#include <libkmod.h>

/* The library prints nothing: callers report the -errno themselves. */
static void cowshare_kmod_log(void *data, int priority, const char *file,
			      int line, const char *fn, const char *format,
			      va_list args)
{
	(void)data;
	(void)priority;
	(void)file;
	(void)line;
	(void)fn;
	(void)format;
	(void)args;
}

static struct kmod_ctx *cowshare_kmod_new(void)
{
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);

	if (ctx)
		kmod_set_log_fn(ctx, cowshare_kmod_log, NULL);
	return ctx;
}

/* libkmod returns -errno, and for probe a positive value on blacklist. */
static int cowshare_kmod_err(int err)
{
	if (err == -EEXIST)	/* already loaded: success */
		return 0;
	if (err > 0)
		return -EPERM;
	return err;
}

static int cowshare_load_path(struct kmod_ctx *ctx, const char *ko_path)
{
	struct kmod_module *mod = NULL;
	int err;

	err = kmod_module_new_from_path(ctx, ko_path, &mod);
	if (err < 0)
		return err;
	err = kmod_module_insert_module(mod, 0, NULL);
	kmod_module_unref(mod);
	return cowshare_kmod_err(err);
}

static int cowshare_load_name(struct kmod_ctx *ctx)
{
	struct kmod_list *list = NULL;
	struct kmod_module *mod;
	int err;

	err = kmod_module_new_from_lookup(ctx, COWSHARE_MODULE_NAME, &list);
	if (err < 0)
		return err;
	if (!list)
		return -ENOENT;	/* not in the module path */
	/* The name, not an alias: the first match is the module. */
	mod = kmod_module_get_module(list);
	kmod_module_unref_list(list);
	err = kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL, NULL);
	kmod_module_unref(mod);
	return cowshare_kmod_err(err);
}

int cowshare_module_load(const char *ko_path)
{
	struct kmod_ctx *ctx = cowshare_kmod_new();
	int err;

	if (!ctx)
		return -ENOMEM;
	if (ko_path)
		err = cowshare_load_path(ctx, ko_path);
	else
		err = cowshare_load_name(ctx);
	kmod_unref(ctx);
	return err;
}

int cowshare_module_unload(void)
{
	struct kmod_ctx *ctx = cowshare_kmod_new();
	struct kmod_module *mod = NULL;
	int err;

	if (!ctx)
		return -ENOMEM;
	err = kmod_module_new_from_name(ctx, COWSHARE_MODULE_NAME, &mod);
	if (err < 0)
		goto out;
	/* Not in /sys/module: -ENOENT, also for callers without privilege. */
	err = kmod_module_get_initstate(mod);
	if (err == -ENOENT) {
		kmod_module_unref(mod);
		goto out;
	}
	/* No force; libkmod adds O_NONBLOCK, so a module in use fails
	 * at once with EWOULDBLOCK rather than waiting. */
	err = kmod_module_remove_module(mod, 0);
	kmod_module_unref(mod);
	if (err == -EWOULDBLOCK || err == -EAGAIN)
		err = -EBUSY;
out:
	kmod_unref(ctx);
	return err;
}

#endif /* COWSHARE_NO_LIBKMOD */
