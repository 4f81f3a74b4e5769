/* SPDX-License-Identifier: MIT */
/*
 * main.c - pooter-shm's entry point: the table of subcommands, their help
 * texts, and the dispatch.  The subcommands themselves live in the files
 * named after what they do; see shm.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shm.h"

/* The option every command has, as their help words it. */
#define SHM_HELP_JSON "  -j, --json     one JSON document (see pooter-shm(1))\n"

static const struct shm_cmd shm_cmds[] = {
	{
		.name = "ls",
		.run = cmd_ls,
		.synopsis = "[shm: | zk://HOSTS/PATH] [--json]",
		.summary = "list every broker on this machine (or under a "
			   "ZooKeeper PATH)",
		.help = SHM_HELP_JSON,
	},
	{
		.name = "show",
		.run = cmd_show,
		.synopsis = "NAME [--json]",
		.summary = "everything about one broker: capacities, members, "
			   "the open round, the ring, counters",
		.help = SHM_HELP_JSON,
	},
	{
		.name = "watch",
		.run = cmd_watch,
		.synopsis = "NAME [--interval MS] [--count N] [--json]",
		.summary =
			"a live view of show: redrawn on a terminal, one line "
			"per change otherwise",
		.help = "  -i, --interval MS  time between looks (default 200)\n"
			"  -n, --count N      stop after N views or lines "
			"(default: until interrupted)\n"
			"  -j, --json         one JSON document per change, one "
			"per line\n",
	},
	{
		.name = "create",
		.run = cmd_create,
		.synopsis = "[NAME] [--emitters N] [--consumers N] "
			    "[--payload BYTES] [--depth D] [--timeout MS] "
			    "[--quorum Q] [--mode OCTAL] [--json]",
		.summary =
			"create a broker (no NAME: one of this machine, with "
			"a generated UUIDv7 name, printed)",
		.help = "  -e, --emitters N     most emitters (1..256, default 8)\n"
			"  -c, --consumers N    most consumers (1..64, default 8)\n"
			"  -p, --payload BYTES  most bytes per emitter per round "
			"(1..1048576, default 4096;\n"
			"                       zk: at most 983040)\n"
			"  -d, --depth D        ring records (1..64, default 8)\n"
			"  -t, --timeout MS     round timeout (1..3600000, "
			"default 1000)\n"
			"  -q, --quorum Q       emitters a round waits for "
			"(0..N, default 0: none)\n"
			"  -m, --mode OCTAL     file mode (default 0600; the owner "
			"needs 0600; zk with\n"
			"                       --auth: 0044 bits let others "
			"read)\n"
			"  -j, --json           the broker created, as one JSON "
			"document\n",
	},
	{
		.name = "rm",
		.run = cmd_rm,
		.synopsis = "NAME... [--force] [--json] | --abandoned "
			    "[--older-than AGE] [--dry-run] [--json] [NAME...]",
		.summary =
			"remove brokers (members attached keep working until "
			"they close)",
		.help = "  -f, --force           remove NAME even when it is "
			"no valid broker\n"
			"  -A, --abandoned       remove the brokers (all, or the "
			"NAMEs) with no live\n"
			"                        member and no open round\n"
			"  -o, --older-than AGE  --abandoned: only those idle "
			"for AGE (30s, 10m, 2h, 7d)\n"
			"  -n, --dry-run         --abandoned: say what would be "
			"removed, remove nothing\n" SHM_HELP_JSON,
	},
	{
		.name = "set",
		.run = cmd_set,
		.synopsis = "NAME --timeout MS [--json]",
		.summary = "change the timeout of rounds opened from now on",
		.help = "  -t, --timeout MS  1..3600000\n" SHM_HELP_JSON,
	},
	{
		.name = "cancel",
		.run = cmd_cancel,
		.synopsis = "NAME [--json]",
		.summary = "cancel the open round (ECANCELED)",
		.help = SHM_HELP_JSON,
	},
	{
		.name = "emit",
		.run = cmd_emit,
		.synopsis =
			"NAME [--as EMITTER] [--data TEXT | --file PATH | -] "
			"[--wait-join] [--json]",
		.summary = "join, emit once, print the round's outcome, leave",
		.help = "  -a, --as EMITTER  the emitter's name (default: a "
			"generated UUIDv7)\n"
			"  -d, --data TEXT   the payload (default: empty)\n"
			"  -f, --file PATH   the payload is the file's contents\n"
			"  -                 the payload is standard input\n"
			"  -w, --wait-join   while a round is open, wait for it "
			"to end before joining\n"
			"                    (default: fail with status 75)\n"
			"  -j, --json        the outcome as one JSON document\n",
	},
	{
		.name = "consume",
		.run = cmd_consume,
		.synopsis = "NAME [--as CONSUMER] [--count N | --follow] "
			    "[--timeout MS] [--notices] [--json]",
		.summary = "print delivered rounds: number and each emitter's "
			   "payload",
		.help = "  -a, --as CONSUMER  the consumer's name (default: a "
			"generated UUIDv7)\n"
			"  -n, --count N      stop after N deliveries (default 1)\n"
			"  -f, --follow       never stop (until interrupted)\n"
			"  -t, --timeout MS   wait at most MS for each delivery "
			"(default: forever)\n"
			"  -N, --notices      also print cancelled rounds\n"
			"  -j, --json         one JSON document per delivery, "
			"one per line\n",
	},
	{
		.name = "check",
		.run = cmd_check,
		.synopsis = "NAME [--json]",
		.summary = "validate a segment (like fsck, never repairs) and "
			   "report each problem (shm only)",
		.help = SHM_HELP_JSON,
	},
	{
		.name = "gc",
		.run = cmd_gc,
		.synopsis = "NAME [--json]",
		.summary =
			"reclaim the slots of members whose processes are dead",
		.help = SHM_HELP_JSON,
	},
	{
		.name = "metrics",
		.run = cmd_metrics,
		.synopsis = "[NAME...] [--output FILE]",
		.summary = "every broker's counters, in the Prometheus text "
			   "format",
		.help = "  -o, --output FILE  write FILE atomically (for the "
			"node exporter's textfile\n"
			"                     collector), not standard output\n",
	},
};

#define SHM_NCMDS (sizeof(shm_cmds) / sizeof(shm_cmds[0]))

static const char shm_exit_help[] =
	"Exit status:\n"
	"   0  success; emit: the round resolved; check: no problem\n"
	"   1  timed out (emit: round cancelled by its deadline; consume: "
	"nothing within --timeout)\n"
	"   2  emit: round cancelled (ECANCELED: by an operator, or a "
	"participant left)\n"
	"   3  emit: round cancelled because a participant died (EOWNERDEAD)\n"
	"   4  emit: ring full, no round opened (EAGAIN)\n"
	"   5  cancel: no round was open\n"
	"   6  check: members of dead processes (gc reclaims them), no "
	"corruption\n"
	"  64  usage: bad command line, bad name, value out of range\n"
	"  65  bad data: corrupted segment (EPROTO), payload over the "
	"limit, check found corruption\n"
	"  66  emit: the payload's file cannot be read\n"
	"  69  no such broker (ENOENT), or one from another namespace (EXDEV); "
	"a URL\n"
	"      whose backend is not installed (EPROTONOSUPPORT)\n"
	"  70  internal error\n"
	"  71  other system error\n"
	"  73  already exists (EEXIST)\n"
	"  74  writing the output failed\n"
	"  75  try again later: a round is open (EBUSY), no free slot or "
	"space (ENOSPC),\n"
	"      no server of a ZooKeeper ensemble answered (EHOSTUNREACH)\n"
	"  77  permission denied (EACCES, EPERM)\n"
	" 130  consume: interrupted (128 + the signal: 129 SIGHUP, 143 "
	"SIGTERM)\n";

/* The options of the URL calls, every command's; in pooter-shm --help too. */
static const char shm_url_help[] =
	"      --session-timeout MS  a ZooKeeper session: a member silent "
	"this long is\n"
	"                            dead (default 4000)\n"
	"      --connect-timeout MS  give up when no server answers for "
	"this long\n"
	"                            (default 5000; status 75)\n"
	"      --auth SCHEME:USER:PASSWORD\n"
	"                            authenticate (digest:USER:PASSWORD; "
	"default:\n"
	"                            $POOTER_ZK_AUTH, which ps does not "
	"show)\n";

void shm_usage(const struct shm_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: %s %s %s\n\n%s.\n", SHM_PROG, cmd->name,
		cmd->synopsis, cmd->summary);
	if (cmd->help[0])
		fprintf(out, "\nOptions:\n%s", cmd->help);
	else
		fputs("\nOptions:\n", out);
	fprintf(out,
		"  -h, --help     this help\n\n"
		"A broker NAME may be a URL: shm:NAME (the same as NAME), or "
		"a broker on a\n"
		"ZooKeeper ensemble, zk://HOST:PORT[,HOST:PORT...]/PATH/NAME, "
		"opened with:\n%s\n"
		"Exit status: 0 on success; the others are listed by '%s "
		"--help'\nand in pooter-shm(1), section EXIT STATUS.\n",
		shm_url_help, SHM_PROG);
}

int shm_usage_error(const struct shm_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	/* No command yet: an option of pooter-shm's own, before one. */
	fprintf(stderr, "%s: %s%s", SHM_PROG, cmd ? cmd->name : "",
		cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '%s %s%s--help')\n", SHM_PROG,
		cmd ? cmd->name : "", cmd ? " " : "");
	return SHM_EXIT_USAGE;
}

static void shm_help(FILE *out)
{
	size_t i;

	fprintf(out,
		"usage: %s [URL OPTIONS] COMMAND [ARGS]\n"
		"       %s COMMAND --help\n\n"
		"Inspect and operate pooter brokers: this machine's "
		"(/dev/shm/pooter.NAME),\n"
		"and those on a ZooKeeper ensemble.  Wherever a command takes "
		"a broker NAME,\n"
		"it takes a URL too: shm:NAME (the same as NAME), or\n"
		"zk://HOST:PORT[,HOST:PORT...]/PATH/NAME (needs the package "
		"libpooter-zk0).\n\n"
		"Commands:\n",
		SHM_PROG, SHM_PROG);
	for (i = 0; i < SHM_NCMDS; i++)
		fprintf(out, "  %-8s %s\n           %s %s\n", shm_cmds[i].name,
			shm_cmds[i].summary, shm_cmds[i].name,
			shm_cmds[i].synopsis);
	fprintf(out,
		"\nOptions:\n"
		"  -h, --help     this help\n"
		"  -V, --version  the version\n\n"
		"URL options, for zk:// brokers (before COMMAND, or among its "
		"options):\n%s\n%s\nSee pooter-shm(1).\n",
		shm_url_help, shm_exit_help);
}

static const struct shm_cmd *shm_find(const char *name)
{
	size_t i;

	for (i = 0; i < SHM_NCMDS; i++)
		if (!strcmp(shm_cmds[i].name, name))
			return &shm_cmds[i];
	return NULL;
}

static int shm_print_help(int argc, char **argv)
{
	const struct shm_cmd *cmd;

	if (optind < argc && (cmd = shm_find(argv[optind]))) {
		shm_usage(cmd, stdout);
		return shm_flush(cmd, stdout);
	}
	shm_help(stdout);
	return fflush(stdout) ? SHM_EXIT_IOERR : SHM_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct option longopts[URL_NOPTS + 3] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
	};
	const struct shm_cmd *cmd;
	int c, ret;

	/* pooter-shm's own options, up to the command ("+": no further) */
	memcpy(longopts + 2, url_longopts, sizeof(url_longopts));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return shm_print_help(argc, argv);
		case 'V':
			printf("%s %d.%d.%d (libpooter %s)\n", SHM_PROG,
			       POOTER_VERSION_MAJOR, POOTER_VERSION_MINOR,
			       POOTER_VERSION_PATCH, pooter_version());
			return fflush(stdout) ? SHM_EXIT_IOERR : SHM_EXIT_OK;
		case '?':
			if (optopt >= URL_OPT_SESSION_TIMEOUT)
				return shm_usage_error(NULL,
						       "%s needs an argument",
						       argv[optind - 1]);
			return shm_usage_error(NULL, "unknown option '%s'",
					       argv[optind - 1]);
		default:
			ret = url_option(NULL, c, optarg);
			if (ret)
				return ret;
		}
	}
	if (optind >= argc) {
		shm_help(stderr);
		return SHM_EXIT_USAGE;
	}
	if (!strcmp(argv[optind], "help")) {
		optind++;
		return shm_print_help(argc, argv);
	}
	cmd = shm_find(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "%s: unknown command '%s' (try '%s --help')\n",
			SHM_PROG, argv[optind], SHM_PROG);
		return SHM_EXIT_USAGE;
	}
	/*
	 * The subcommand parses its own options, from its name on, with
	 * getopt's state started afresh (optind 0: glibc's reset) and its
	 * messages back on.
	 */
	argc -= optind;
	argv += optind;
	optind = 0;
	opterr = 1;
	return cmd->run(cmd, argc, argv);
}
