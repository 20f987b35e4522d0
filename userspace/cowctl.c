// SPDX-License-Identifier: GPL-2.0
/*
 * cowctl: control and inspect the cowshare kernel module.
 *
 * Exit status: 0 success, 1 the operation failed, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cowshare.h"

#define EXIT_USAGE	2

static const char *progname = "cowctl";

struct cowctl_cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(const struct cowctl_cmd *cmd, int argc, char **argv);
};

/* A __u64 counter of an info struct, for tables of output fields. */
struct u64_field {
	const char *name;
	size_t offset;
};

#define U64_FIELD(type, member) { #member, offsetof(type, member) }

static const struct u64_field global_fields[] = {
	U64_FIELD(struct cowshare_global_info, regions),
	U64_FIELD(struct cowshare_global_info, base_pages),
	U64_FIELD(struct cowshare_global_info, private_pages),
	U64_FIELD(struct cowshare_global_info, views),
	U64_FIELD(struct cowshare_global_info, page_size),
	U64_FIELD(struct cowshare_global_info, max_region_size),
	U64_FIELD(struct cowshare_global_info, huge_folios),
	U64_FIELD(struct cowshare_global_info, pmd_maps),
	U64_FIELD(struct cowshare_global_info, huge_fallbacks),
	U64_FIELD(struct cowshare_global_info, pmd_splits),
	{ NULL, 0 },
};

static const struct u64_field region_fields[] = {
	U64_FIELD(struct cowshare_region_entry, id),
	U64_FIELD(struct cowshare_region_entry, length),
	U64_FIELD(struct cowshare_region_entry, base_pages),
	U64_FIELD(struct cowshare_region_entry, private_pages),
	U64_FIELD(struct cowshare_region_entry, views),
	U64_FIELD(struct cowshare_region_entry, region_flags),
	U64_FIELD(struct cowshare_region_entry, creator_uid),
	{ NULL, 0 },
};

/* region_flags bits shown by name, as booleans */
static const struct {
	const char *name;
	uint64_t bit;
} region_flag_names[] = {
	{ "sealed", COWSHARE_REGION_SEALED },
	{ "file_image", COWSHARE_REGION_FILE_IMAGE },
	{ "no_huge", COWSHARE_REGION_NO_HUGE },
};

#define NR_REGION_FLAGS	(sizeof(region_flag_names) / sizeof(region_flag_names[0]))

static unsigned long long field_u64(const void *info,
				    const struct u64_field *f)
{
	__u64 v;

	memcpy(&v, (const char *)info + f->offset, sizeof(v));
	return v;
}

/* Print "cowctl: WHAT: strerror" and a hint for the usual causes. */
static void report(const char *what, int err, const char *hint)
{
	fprintf(stderr, "%s: %s: %s\n", progname, what, strerror(-err));
	if (hint)
		fprintf(stderr, "%s: hint: %s\n", progname, hint);
}

/* Hint for failures to reach /dev/cowshare. */
static const char *dev_hint(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENODEV:
	case -ENXIO:
		return "the cowshare module is not loaded (" COWSHARE_DEVICE
		       " is missing); load it with 'cowctl load'";
	case -EACCES:
	case -EPERM:
		return "no permission to open " COWSHARE_DEVICE;
	case -ENOTTY:
		return "the loaded cowshare module does not support this request";
	default:
		return NULL;
	}
}

static void cmd_usage(FILE *f, const struct cowctl_cmd *cmd)
{
	fprintf(f, "usage: %s %s%s%s\n", progname, cmd->name,
		cmd->args[0] ? " " : "", cmd->args);
}

/*
 * Parse a subcommand's options; argv[0] is the command name. Returns
 * the option character, -1 at the end, or '?' after printing usage.
 * "-h/--help" is handled here: it sets *help.
 */
static int cmd_getopt(const struct cowctl_cmd *cmd, int argc, char **argv,
		      const char *shortopts, const struct option *longopts,
		      int *help)
{
	int c = getopt_long(argc, argv, shortopts, longopts, NULL);

	if (c == 'h') {
		*help = 1;
		return -1;
	}
	if (c == '?')
		cmd_usage(stderr, cmd);
	return c;
}

/* After options: reject operands. Returns 0 or EXIT_USAGE. */
static int no_operands(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	if (optind < argc) {
		fprintf(stderr, "%s %s: unexpected argument '%s'\n", progname,
			cmd->name, argv[optind]);
		cmd_usage(stderr, cmd);
		return EXIT_USAGE;
	}
	return 0;
}

#ifdef COWSHARE_NO_LIBKMOD
static int no_libkmod(const struct cowctl_cmd *cmd)
{
	fprintf(stderr, "%s %s: built without libkmod; use insmod/rmmod\n",
		progname, cmd->name);
	return EXIT_FAILURE;
}
#endif

static int cmd_load(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ko", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ko = NULL;
	const char *hint = NULL;
	int help = 0, c, err;

	while ((c = cmd_getopt(cmd, argc, argv, "+k:h", opts, &help)) != -1) {
		if (c == 'k')
			ko = optarg;
		else
			return EXIT_USAGE;
	}
	if (help) {
		cmd_usage(stdout, cmd);
		printf("Load the cowshare module: from PATH with --ko, else by\n"
		       "name from /lib/modules/$(uname -r). Succeeds if it is\n"
		       "already loaded.\n");
		return EXIT_SUCCESS;
	}
	err = no_operands(cmd, argc, argv);
	if (err)
		return err;
#ifdef COWSHARE_NO_LIBKMOD
	(void)ko;
	(void)hint;
	return no_libkmod(cmd);
#else
	err = cowshare_module_load(ko);
	if (!err)
		return EXIT_SUCCESS;
	switch (err) {
	case -ENOENT:
		hint = ko ? "no such module file, or the module needs symbols "
			    "this kernel lacks (built for another kernel?)"
			  : "cowshare is not installed in the module path; "
			    "give the .ko with --ko PATH";
		break;
	case -EPERM:
	case -EACCES:
		hint = "loading modules needs root (CAP_SYS_MODULE)";
		break;
	case -ENOSYS:
		hint = "the kernel refuses module syscalls (no "
		       "CONFIG_MODULES, or a seccomp filter in a container)";
		break;
	case -ENOEXEC:
	case -EINVAL:
		hint = "the module does not fit the running kernel "
		       "(built for another version or architecture?)";
		break;
	case -EKEYREJECTED:
	case -ENOKEY:
		hint = "the module signature was rejected (module signing "
		       "enforced, or Secure Boot lockdown)";
		break;
	default:
		break;
	}
	report(ko ? ko : "load cowshare", err, hint);
	return EXIT_FAILURE;
#endif
}

static int cmd_unload(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hint = NULL;
	int help = 0, c, err;

	while ((c = cmd_getopt(cmd, argc, argv, "+h", opts, &help)) != -1)
		return EXIT_USAGE;
	if (help) {
		cmd_usage(stdout, cmd);
		printf("Unload the cowshare module (never forced).\n");
		return EXIT_SUCCESS;
	}
	err = no_operands(cmd, argc, argv);
	if (err)
		return err;
#ifdef COWSHARE_NO_LIBKMOD
	(void)hint;
	return no_libkmod(cmd);
#else
	err = cowshare_module_unload();
	if (!err)
		return EXIT_SUCCESS;
	switch (err) {
	case -EBUSY:
		hint = "the module is in use: close every region fd and "
		       "/dev/cowshare fd and unmap every view first";
		break;
	case -ENOENT:
		hint = "the cowshare module is not loaded";
		break;
	case -EPERM:
	case -EACCES:
		hint = "unloading modules needs root (CAP_SYS_MODULE)";
		break;
	case -ENOSYS:
		hint = "the kernel refuses module syscalls (no "
		       "CONFIG_MODULES, or a seccomp filter in a container)";
		break;
	default:
		break;
	}
	report("unload cowshare", err, hint);
	return EXIT_FAILURE;
#endif
}

static int cmd_stats(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cowshare_global_info gi;
	const struct u64_field *f;
	int json = 0, help = 0, c, err;

	while ((c = cmd_getopt(cmd, argc, argv, "+jh", opts, &help)) != -1) {
		if (c == 'j')
			json = 1;
		else
			return EXIT_USAGE;
	}
	if (help) {
		cmd_usage(stdout, cmd);
		printf("Print the module's global counters; --json prints one\n"
		       "JSON object.\n");
		return EXIT_SUCCESS;
	}
	err = no_operands(cmd, argc, argv);
	if (err)
		return err;

	err = cowshare_global_info(&gi);
	if (err < 0) {
		report("global info", err, dev_hint(err));
		return EXIT_FAILURE;
	}
	if (json)
		putchar('{');
	for (f = global_fields; f->name; f++) {
		unsigned long long v = field_u64(&gi, f);

		if (json)
			printf("%s\"%s\":%llu", f == global_fields ? "" : ",",
			       f->name, v);
		else
			printf("%-16s %llu\n", f->name, v);
	}
	if (json)
		printf("}\n");
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Regions per COWSHARE_IOC_LIST_REGIONS call. */
#define LS_BATCH	64

/* One region as a JSON object (no newline). */
static void region_json(const struct cowshare_region_entry *e)
{
	const struct u64_field *f;
	size_t i;

	putchar('{');
	for (f = region_fields; f->name; f++)
		printf("%s\"%s\":%llu", f == region_fields ? "" : ",", f->name,
		       field_u64(e, f));
	for (i = 0; i < NR_REGION_FLAGS; i++)
		printf(",\"%s\":%s", region_flag_names[i].name,
		       (e->region_flags & region_flag_names[i].bit) ?
		       "true" : "false");
	putchar('}');
}

static const char *yes_no(uint64_t flags, uint64_t bit)
{
	return (flags & bit) ? "yes" : "no";
}

static void ls_header(void)
{
	printf("%-8s %14s %10s %6s %10s %-6s %-4s %s\n", "ID", "SIZE", "BASE",
	       "VIEWS", "PRIVATE", "SEALED", "FILE", "UID");
}

static void ls_row(const struct cowshare_region_entry *e)
{
	printf("%-8llu %14llu %10llu %6llu %10llu %-6s %-4s %llu\n",
	       (unsigned long long)e->id, (unsigned long long)e->length,
	       (unsigned long long)e->base_pages, (unsigned long long)e->views,
	       (unsigned long long)e->private_pages,
	       yes_no(e->region_flags, COWSHARE_REGION_SEALED),
	       yes_no(e->region_flags, COWSHARE_REGION_FILE_IMAGE),
	       (unsigned long long)e->creator_uid);
}

static void list_report(int err)
{
	report("list regions", err, err == -EPERM || err == -EACCES ?
	       NULL : dev_hint(err));
}

static int cmd_ls(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cowshare_region_entry batch[LS_BATCH];
	uint64_t start = 0, total;
	unsigned long long rows = 0;
	int json = 0, help = 0, c, err;

	while ((c = cmd_getopt(cmd, argc, argv, "+jh", opts, &help)) != -1) {
		if (c == 'j')
			json = 1;
		else
			return EXIT_USAGE;
	}
	if (help) {
		cmd_usage(stdout, cmd);
		printf("List the regions the caller may see (root: all), one\n"
		       "row each; --json prints one JSON array.\n");
		return EXIT_SUCCESS;
	}
	err = no_operands(cmd, argc, argv);
	if (err)
		return err;

	/*
	 * In batches by id: regions created or freed meanwhile may or may
	 * not show, but none shows twice.
	 */
	for (;;) {
		int n = cowshare_list_regions(start, batch, LS_BATCH, &total);
		int i;

		if (n < 0) {
			list_report(n);
			return EXIT_FAILURE;
		}
		if (!rows && !json)
			ls_header();
		if (!rows && json)
			putchar('[');
		for (i = 0; i < n; i++) {
			if (json) {
				if (rows)
					putchar(',');
				region_json(&batch[i]);
			} else {
				ls_row(&batch[i]);
			}
			rows++;
		}
		if (n == 0 || (uint64_t)n >= total ||
		    batch[n - 1].id == UINT64_MAX)
			break;
		start = batch[n - 1].id + 1;
	}
	if (json)
		printf("]\n");
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Parse a region id: decimal, no sign, nothing after it. */
static int parse_id(const char *s, uint64_t *id)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*id = v;
	return 0;
}

static int cmd_info(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cowshare_region_entry e;
	int json = 0, help = 0, c, n;
	uint64_t id;

	while ((c = cmd_getopt(cmd, argc, argv, "+jh", opts, &help)) != -1) {
		if (c == 'j')
			json = 1;
		else
			return EXIT_USAGE;
	}
	if (help) {
		cmd_usage(stdout, cmd);
		printf("Print one region's counters and flags; --json prints\n"
		       "one JSON object.\n");
		return EXIT_SUCCESS;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s %s: %s\n", progname, cmd->name,
			optind >= argc ? "missing REGION-ID" :
			"too many arguments");
		cmd_usage(stderr, cmd);
		return EXIT_USAGE;
	}
	if (parse_id(argv[optind], &id)) {
		fprintf(stderr, "%s %s: bad region id '%s'\n", progname,
			cmd->name, argv[optind]);
		cmd_usage(stderr, cmd);
		return EXIT_USAGE;
	}

	n = cowshare_list_regions(id, &e, 1, NULL);
	if (n < 0) {
		list_report(n);
		return EXIT_FAILURE;
	}
	if (n == 0 || e.id != id) {
		fprintf(stderr, "%s: no region %" PRIu64 " (freed, or created "
			"by another user)\n", progname, id);
		return EXIT_FAILURE;
	}
	if (json) {
		region_json(&e);
		putchar('\n');
	} else {
		const struct u64_field *f;
		size_t i;

		for (f = region_fields; f->name; f++)
			printf("%-16s %llu\n", f->name, field_u64(&e, f));
		for (i = 0; i < NR_REGION_FLAGS; i++)
			printf("%-16s %s\n", region_flag_names[i].name,
			       yes_no(e.region_flags, region_flag_names[i].bit));
	}
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static const struct cowctl_cmd cowctl_cmds[] = {
	{ "load", "[--ko PATH]", "load the module", cmd_load },
	{ "unload", "", "unload the module", cmd_unload },
	{ "stats", "[--json]", "print global counters", cmd_stats },
	{ "ls", "[--json]", "list regions", cmd_ls },
	{ "info", "[--json] REGION-ID", "print one region", cmd_info },
	{ NULL, NULL, NULL, NULL },
};

static void usage(FILE *f)
{
	const struct cowctl_cmd *cmd;

	fprintf(f, "usage: %s [--help] [--version] COMMAND [ARGS]\n\n"
		"Control and inspect the cowshare kernel module.\n\n"
		"Commands:\n", progname);
	for (cmd = cowctl_cmds; cmd->name; cmd++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "%s%s%s", cmd->name,
			 cmd->args[0] ? " " : "", cmd->args);
		fprintf(f, "  %-24s %s\n", buf, cmd->help);
	}
	fprintf(f, "\nRun '%s COMMAND --help' for a command's options.\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n",
		progname);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cowctl_cmd *cmd;
	int c;

	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("cowctl (cowshare) %d.%d.%d, libcowshare %s\n",
			       COWSHARE_VERSION_MAJOR, COWSHARE_VERSION_MINOR,
			       COWSHARE_VERSION_PATCH, cowshare_version());
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (cmd = cowctl_cmds; cmd->name; cmd++) {
		if (strcmp(cmd->name, argv[optind]) == 0) {
			char name[64];

			argc -= optind;
			argv += optind;
			/* getopt's messages then read "cowctl CMD: ..." */
			snprintf(name, sizeof(name), "%s %s", progname,
				 cmd->name);
			argv[0] = name;
			optind = 0;	/* restart getopt on the command's args */
			return cmd->run(cmd, argc, argv);
		}
	}
	fprintf(stderr, "%s: unknown command '%s'\n", progname, argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
