/* SPDX-License-Identifier: MIT */
/*
 * shm.h - what the pooter-shm subcommands share: the exit statuses, error
 * reporting, argument parsing, the JSON writer and broker snapshots.
 *
 * Each subcommand lives in its own file (inspect.c: ls, show, watch;
 * admin.c: create, rm, set, cancel, check, gc; emit.c; consume.c;
 * metrics.c) and is dispatched by main.c; url.c opens the broker a command
 * names, of this machine or on a ZooKeeper ensemble.  Nothing here knows
 * the segment's layout: the tool sees a broker only through the public API
 * of pooter.h.
 */
#ifndef POOTER_SHM_H
#define POOTER_SHM_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <pooter.h>

#define SHM_PROG "pooter-shm"

/*
 * Exit statuses.  0..5 tell the outcomes of a round (and of a few commands)
 * apart; the rest follow sysexits(3).  The man page's EXIT STATUS section
 * documents this table: keep them in step.
 */
enum shm_exit {
	SHM_EXIT_OK = 0,	/* resolved, or the command did its work */
	SHM_EXIT_TIMEDOUT = 1,	/* ETIMEDOUT: deadline, or consume --timeout */
	SHM_EXIT_CANCELED = 2,	/* ECANCELED: operator, or a member left */
	SHM_EXIT_OWNERDEAD = 3, /* EOWNERDEAD: a participant died */
	SHM_EXIT_RINGFULL = 4,	/* EAGAIN: no ring record for a whole timeout */
	SHM_EXIT_NOROUND = 5,	/* cancel: no round was open */
	SHM_EXIT_DEADMEMBERS = 6,  /* check: dead members, no corruption */
	SHM_EXIT_USAGE = 64,	   /* EX_USAGE: command line, name, range */
	SHM_EXIT_DATAERR = 65,	   /* EX_DATAERR: EPROTO, EMSGSIZE, problems */
	SHM_EXIT_NOINPUT = 66,	   /* EX_NOINPUT: --file cannot be read */
	SHM_EXIT_UNAVAILABLE = 69, /* EX_UNAVAILABLE: ENOENT, EXDEV */
	SHM_EXIT_SOFTWARE = 70,	   /* EX_SOFTWARE: the library said nonsense */
	SHM_EXIT_OSERR = 71,	   /* EX_OSERR: any other system error */
	SHM_EXIT_CANTCREAT = 73,   /* EX_CANTCREAT: EEXIST */
	SHM_EXIT_IOERR = 74,	   /* EX_IOERR: writing the output failed */
	SHM_EXIT_TEMPFAIL = 75,	   /* EX_TEMPFAIL: EBUSY, ENOSPC */
	SHM_EXIT_NOPERM = 77,	   /* EX_NOPERM: EACCES, EPERM */
	SHM_EXIT_SIGNAL = 128,	   /* consume: interrupted, + the signal */
};

struct shm_cmd {
	const char *name;
	int (*run)(const struct shm_cmd *cmd, int argc, char **argv);
	const char *synopsis; /* arguments, for the one-line usage */
	const char *summary;  /* one line, for pooter-shm --help */
	const char *help;     /* the options, for pooter-shm CMD --help */
};

/* main.c */
void shm_usage(const struct shm_cmd *cmd, FILE *out);
int shm_usage_error(const struct shm_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A subcommand's option, for shm_getopt(): its long name (without "--") and
 * short one, and what becomes of it.  A switch sets *flag; an argument goes
 * to *arg as it is, or to *uint as a number in min..max (and then sets
 * *flag too, when there is one, for a number with no "unset" value); an
 * option with none of these is handed back to the caller.  --help and the
 * URL options (url.c) are every command's and in no table; { .name = NULL }
 * ends one.
 */
struct shm_opt {
	const char *name;
	int val;
	int has_arg; /* no_argument or required_argument */
	bool *flag;
	const char **arg;
	unsigned int *uint;
	unsigned long min, max;
};

#define SHM_OPT_FLAG(NAME, VAL, FLAG)                                 \
	{                                                             \
		.name = (NAME), .val = (VAL), .has_arg = no_argument, \
		.flag = (FLAG)                                        \
	}
#define SHM_OPT_STR(NAME, VAL, ARG)                                         \
	{                                                                   \
		.name = (NAME), .val = (VAL), .has_arg = required_argument, \
		.arg = (ARG)                                                \
	}
#define SHM_OPT_UINT(NAME, VAL, UINT, MIN, MAX, GIVEN)                      \
	{                                                                   \
		.name = (NAME), .val = (VAL), .has_arg = required_argument, \
		.uint = (UINT), .min = (MIN), .max = (MAX), .flag = (GIVEN) \
	}

/* util.c */
void shm_error_prefix(const struct shm_cmd *cmd, const char *broker);
void shm_error(const struct shm_cmd *cmd, const char *broker, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));
int shm_fail(const struct shm_cmd *cmd, const char *broker, int err);
int shm_result(const struct shm_cmd *cmd, const char *broker, int ret);
const char *shm_detail_trim(const char *detail, const char *broker);
int shm_exit_status(int err);
const char *shm_errno_name(int err);
const char *shm_outcome_name(int outcome);
void shm_print_outcome(FILE *out, int outcome);
int shm_check_name(const struct shm_cmd *cmd, const char *what,
		   const char *name);
bool shm_parse_ulong(const char *arg, int base, unsigned long *v);
int shm_getopt(const struct shm_cmd *cmd, int argc, char **argv,
	       const struct shm_opt *opts, int *status);
int shm_parse_name(const struct shm_cmd *cmd, int argc, char **argv,
		   const struct shm_opt *opts, const char **name, int *status);
int shm_open_broker(const struct shm_cmd *cmd, const char *name,
		    struct pooter_broker **brokerp);
int shm_parse_open(const struct shm_cmd *cmd, int argc, char **argv,
		   const struct shm_opt *opts, const char **name,
		   struct pooter_broker **brokerp, int *status);
int shm_flush(const struct shm_cmd *cmd, FILE *out);
extern volatile sig_atomic_t shm_stop; /* the signal that asked, or 0 */
void shm_catch_signals(void);
void *shm_grow(void *array, size_t *cap, size_t n, size_t size, size_t first);
uint64_t shm_now_ns(void);
size_t shm_utf8_seq(const unsigned char *p, size_t avail);
bool shm_utf8_valid(const void *data, size_t len);
bool shm_text_printable(const void *data, size_t len);
void shm_print_hex(FILE *out, const void *data, size_t len);
void shm_print_clean(FILE *out, const char *s);

/*
 * url.c: a broker NAME, "shm:NAME" or "SCHEME://HOSTS/PATH/NAME", and the
 * options of the URL calls, which every command takes (shm_getopt()) and
 * so does pooter-shm itself, before the command (main.c).
 */
enum {
	URL_OPT_SESSION_TIMEOUT = 0x100, /* past every short option */
	URL_OPT_CONNECT_TIMEOUT,
	URL_OPT_AUTH,
};

#define URL_NOPTS 3
extern const struct option url_longopts[URL_NOPTS + 1];

int url_option(const struct shm_cmd *cmd, int val, const char *arg);
int url_env(const struct shm_cmd *cmd);
bool url_is_shm(const char *arg);
void url_backend(const char *arg, char *buf, size_t size);
const char *url_name(const char *arg);
void url_canonical(const char *arg, char *buf, size_t size);
char *url_join(const char *base, const char *name);
struct json;
void url_json(struct json *j, const char *key, const char *arg);
int url_check(const struct shm_cmd *cmd, const char *arg);
int url_open(const char *arg, struct pooter_broker **brokerp);
int url_create(const char *arg, const struct pooter_broker_attr *attr,
	       struct pooter_broker **brokerp);
int url_unlink(const char *arg);
int url_foreach(const char *base, int (*cb)(const char *name, void *arg),
		void *arg);

/* json.c: one JSON document, written as it goes, on one line */
#define JSON_DEPTH_MAX 16

struct json {
	FILE *out;
	int depth;
	bool first[JSON_DEPTH_MAX];
};

void json_init(struct json *j, FILE *out);
void json_object_begin(struct json *j, const char *key);
void json_object_end(struct json *j);
void json_array_begin(struct json *j, const char *key);
void json_array_end(struct json *j);
void json_string(struct json *j, const char *key, const char *s);
void json_string_len(struct json *j, const char *key, const void *s,
		     size_t len);
void json_base64(struct json *j, const char *key, const void *data, size_t len);
void json_uint(struct json *j, const char *key, uint64_t v);
void json_int(struct json *j, const char *key, int64_t v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
void json_end(struct json *j);

void json_errno(struct json *j, int err, const char *detail);

/* inspect.c: a broker's state, gathered through the inspection API */
struct snapshot {
	struct pooter_broker_stat st;
	uint64_t now_ns;
	struct pooter_member_info *members;
	unsigned int nmembers;
	size_t members_cap;
	struct pooter_record_info *records;
	unsigned int nrecords;
	size_t records_cap;
	bool records_listed; /* false: the backend lists none (zk) */
};

int snapshot_take(struct pooter_broker *broker, struct snapshot *s);
void snapshot_free(struct snapshot *s);

/* Broker names, gathered by name_list_add() as a pooter_broker_foreach() cb */
struct name_list {
	char **names;
	size_t n, cap;
};

int name_list_add(const char *name, void *arg);
int name_cmp(const void *a, const void *b);
unsigned int snapshot_count(const struct snapshot *s, int kind, bool dead_only);
uint64_t rounds_cancelled(const struct pooter_broker_stat *st);
void json_round(struct json *j, const struct pooter_broker_stat *st,
		const struct snapshot *s);
void json_counters(struct json *j, const struct pooter_broker_stat *st);

/* the subcommands */
int cmd_ls(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_show(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_watch(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_create(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_rm(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_set(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_cancel(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_check(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_gc(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_emit(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_consume(const struct shm_cmd *cmd, int argc, char **argv);
int cmd_metrics(const struct shm_cmd *cmd, int argc, char **argv);

#endif /* POOTER_SHM_H */
