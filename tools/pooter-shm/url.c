/* SPDX-License-Identifier: MIT */
/*
 * url.c - brokers named on the command line: a plain NAME or "shm:NAME" (a
 * broker of this machine), or a URL, "zk://HOSTS/PATH/NAME" (a broker on a
 * ZooKeeper ensemble).  The options of the URL calls (--session-timeout,
 * --connect-timeout, --auth, $POOTER_ZK_AUTH) are kept here, and every
 * command opens, creates, removes and lists brokers through the calls
 * below, which hand them to the library.
 *
 * What a URL means beyond its last element is the library's to judge: the
 * tool checks the broker's NAME, so that a bad one is told as plainly as
 * for a plain name, and passes the rest through.
 */
#include <stdlib.h>
#include <string.h>

#include "shm.h"

/* The options as given; 0 or NULL: the library's default. */
static struct {
	unsigned int session_timeout_ms;
	unsigned int connect_timeout_ms;
	char scheme[32];
	const char *auth_scheme; /* NULL, or scheme */
	const char *auth; /* "user:password", into argv or the environment */
	bool have_auth;	  /* --auth given: the environment is not read */
} url_args;

const struct option url_longopts[URL_NOPTS + 1] = {
	{ "session-timeout", required_argument, NULL, URL_OPT_SESSION_TIMEOUT },
	{ "connect-timeout", required_argument, NULL, URL_OPT_CONNECT_TIMEOUT },
	{ "auth", required_argument, NULL, URL_OPT_AUTH },
	{ NULL, 0, NULL, 0 },
};

/*
 * SCHEME:USER:PASSWORD, split at its first colon.  The value is a secret:
 * no message repeats it.
 */
static int url_auth_set(const struct shm_cmd *cmd, const char *what,
			const char *value)
{
	const char *colon = strchr(value, ':');
	size_t len = colon ? (size_t)(colon - value) : 0;

	if (!len || len >= sizeof(url_args.scheme) || !strchr(colon + 1, ':') ||
	    colon[1] == ':')
		return shm_usage_error(cmd,
				       "%s is not SCHEME:USER:PASSWORD "
				       "(digest:alice:secret)",
				       what);
	memcpy(url_args.scheme, value, len);
	url_args.scheme[len] = '\0';
	url_args.auth_scheme = url_args.scheme;
	url_args.auth = colon + 1;
	return SHM_EXIT_OK;
}

int url_option(const struct shm_cmd *cmd, int val, const char *arg)
{
	unsigned long v;
	const char *name;

	if (val == URL_OPT_AUTH) {
		url_args.have_auth = true;
		return url_auth_set(cmd, "--auth", arg);
	}
	name = val == URL_OPT_SESSION_TIMEOUT ? "session-timeout" :
						"connect-timeout";
	if (!shm_parse_ulong(arg, 10, &v))
		return shm_usage_error(cmd, "--%s: '%s' is not a number", name,
				       arg);
	if (v < 1 || v > POOTER_TIMEOUT_MAX_MS)
		return shm_usage_error(cmd, "--%s %s: out of range 1..%u", name,
				       arg, POOTER_TIMEOUT_MAX_MS);
	if (val == URL_OPT_SESSION_TIMEOUT)
		url_args.session_timeout_ms = v;
	else
		url_args.connect_timeout_ms = v;
	return SHM_EXIT_OK;
}

/* After the command line: $POOTER_ZK_AUTH, unless --auth was given. */
int url_env(const struct shm_cmd *cmd)
{
	const char *env = getenv("POOTER_ZK_AUTH");

	if (url_args.have_auth || !env || !env[0])
		return SHM_EXIT_OK;
	return url_auth_set(cmd, "POOTER_ZK_AUTH", env);
}

/*
 * The options, zeroed first (padding too: the library refuses what it does
 * not know), in a local of the caller's: a macro, for POOTER_OPTS declares.
 */
#define URL_OPTS(NAME)                                                 \
	POOTER_OPTS(pooter_url_opts, NAME,                             \
		    .session_timeout_ms = url_args.session_timeout_ms, \
		    .connect_timeout_ms = url_args.connect_timeout_ms, \
		    .auth_scheme = url_args.auth_scheme,               \
		    .auth = url_args.auth)

/* --- what a broker argument names --------------------------------------- */

bool url_is_shm(const char *arg)
{
	return !strstr(arg, "://");
}

/* The backend's name, for what the tool prints: "shm", or the scheme. */
void url_backend(const char *arg, char *buf, size_t size)
{
	const char *sep = strstr(arg, "://");

	if (!sep)
		snprintf(buf, size, "shm");
	else
		snprintf(buf, size, "%.*s", (int)(sep - arg), arg);
}

/*
 * The broker's NAME: the argument itself, or past "shm:", or a URL's last
 * element (NULL when there is none: "zk://HOSTS", "zk://HOSTS/PATH/").
 */
const char *url_name(const char *arg)
{
	const char *sep = strstr(arg, "://"), *path;

	if (!sep)
		return strncmp(arg, "shm:", 4) ? arg : arg + 4;
	path = strchr(sep + 3, '/');
	if (!path || !strrchr(path, '/')[1])
		return NULL;
	return strrchr(path, '/') + 1;
}

/* "shm:NAME" for a broker of this machine, the URL as given for others. */
void url_canonical(const char *arg, char *buf, size_t size)
{
	if (url_is_shm(arg))
		snprintf(buf, size, "shm:%s", url_name(arg));
	else
		snprintf(buf, size, "%s", arg);
}

/*
 * The URL of the broker NAME listed under base (as url_foreach() lists):
 * base/NAME for a URL, NAME for shm.  Freed by the caller; NULL: no memory.
 */
char *url_join(const char *base, const char *name)
{
	size_t len = strlen(base);
	char *url;

	if (!base[0] || url_is_shm(base))
		return strdup(name);
	url = malloc(len + strlen(name) + 2);
	if (url)
		sprintf(url, "%s%s%s", base, base[len - 1] == '/' ? "" : "/",
			name);
	return url;
}

/*
 * How every JSON document names a broker: key (name, or broker) its NAME,
 * and "url" where it lives, whatever form the command line used.
 */
void url_json(struct json *j, const char *key, const char *arg)
{
	char url[4096];

	url_canonical(arg, url, sizeof(url));
	json_string(j, key, url_name(arg));
	json_string(j, "url", url);
}

int url_check(const struct shm_cmd *cmd, const char *arg)
{
	const char *name = url_name(arg);

	if (!name) {
		shm_error_prefix(cmd, NULL);
		fputs("'", stderr);
		shm_print_clean(stderr, arg);
		fputs("' names no broker: a URL ends with its NAME "
		      "(zk://HOST:PORT/PATH/NAME)\n",
		      stderr);
		return SHM_EXIT_USAGE;
	}
	return shm_check_name(cmd, "broker", name);
}

/* --- the URL calls, with the options ------------------------------------ */

int url_open(const char *arg, struct pooter_broker **brokerp)
{
	URL_OPTS(opts);

	return pooter_broker_open_url(arg, &opts, brokerp);
}

int url_create(const char *arg, const struct pooter_broker_attr *attr,
	       struct pooter_broker **brokerp)
{
	URL_OPTS(opts);

	return pooter_broker_create_url(arg, attr, &opts, brokerp);
}

int url_unlink(const char *arg)
{
	URL_OPTS(opts);

	return pooter_broker_unlink_url(arg, &opts);
}

/* The brokers under base: "shm:" (this machine) or "zk://HOSTS/PATH". */
int url_foreach(const char *base, int (*cb)(const char *name, void *arg),
		void *arg)
{
	URL_OPTS(opts);

	return pooter_broker_foreach_url(base, &opts, cb, arg);
}
