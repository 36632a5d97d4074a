/*
 * cmd_flows.c — 'switchyard flows -c FILE [--watch]': the live flows of a
 * running switchyard, read from its control API (GET /connections; the
 * policy's control section names the listener and the secret), as a table:
 * id, inbound, source, destination, host, rule, outbound, bytes up and down,
 * age. --watch prints it again each second until interrupted.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/cli/cli.h"
#include "engine/cli/cli_control.h"

static void flows_usage(FILE *out)
{
    fprintf(out, "usage: switchyard flows -c FILE [--watch]\n\n"
                 "Lists the open flows of the switchyard running with the policy FILE, read\n"
                 "from its control API (the control section's listener and secret):\n"
                 "id, inbound, source, destination, host, rule, outbound, bytes up and down,\n"
                 "age. --watch prints the list again every second until interrupted.\n");
}

struct flows_args {
    const char *file;
    bool watch;
};

static int flows_take(void *ctx, int opt, const char *arg)
{
    struct flows_args *a = ctx;
    if (opt == 'c')
        a->file = arg;
    else
        a->watch = true;
    return CLI_OK;
}

static bool flows_done(const void *ctx)
{
    return ((const struct flows_args *)ctx)->file != NULL;
}

/* "ADDR:PORT", IPv6 addresses in brackets. */
static void endpoint(const char *ip, const char *port, char *out, size_t size)
{
    snprintf(out, size, strchr(ip, ':') ? "[%s]:%s" : "%s:%s", ip, port);
}

/* Seconds since `start` (RFC 3339 in UTC, as /connections writes it); 0 when unreadable. */
static long long age_of(const char *start, time_t now)
{
    struct tm tm = {0};
    if (!strptime(start, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (long long)(now - timegm(&tm));
}

/* The string at `key` of `o`, "" when there is none. */
static const char *text(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static void add_flow(struct cli_table *t, json_t *c, time_t now)
{
    json_t *m = json_object_get(c, "metadata");
    char src[96], dst[96], up[CLI_NUMBER_TEXT], down[CLI_NUMBER_TEXT], age[CLI_NUMBER_TEXT],
        outbound[128] = "";
    endpoint(text(m, "sourceIP"), text(m, "sourcePort"), src, sizeof(src));
    endpoint(text(m, "destinationIP"), text(m, "destinationPort"), dst, sizeof(dst));
    size_t i;
    json_t *chain;
    json_array_foreach(json_object_get(c, "chains"), i, chain)
    {
        const char *name = json_string_value(chain);
        size_t n = strlen(outbound);
        snprintf(outbound + n, sizeof(outbound) - n, "%s%s", i ? " " : "", name ? name : "");
    }
    cli_bytes((uint64_t)json_integer_value(json_object_get(c, "upload")), up);
    cli_bytes((uint64_t)json_integer_value(json_object_get(c, "download")), down);
    cli_duration(age_of(text(c, "start"), now), age);
    const char *inbound = *text(m, "inbound") ? text(m, "inbound") : text(m, "type");
    const char *row[] = {text(c, "id"),
                         inbound,
                         src,
                         dst,
                         *text(m, "host") ? text(m, "host") : "-",
                         *text(c, "rule") ? text(c, "rule") : "-",
                         *outbound ? outbound : "-",
                         up,
                         down,
                         age};
    cli_table_add(t, row);
}

/* Reads /connections once and prints the table; false after printing why it could not. */
static bool flows_print(const char *command, const struct policy *p)
{
    json_t *d = cli_control_json(command, p, "/connections");
    if (!d)
        return false;
    static const char *const header[] = {"ID",   "INBOUND",  "SRC", "DST",  "HOST",
                                         "RULE", "OUTBOUND", "UP",  "DOWN", "AGE"};
    struct cli_table t = {.cols = 10};
    cli_table_add(&t, header);
    time_t now = time(NULL);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(d, "connections"), i, c)
    {
        add_flow(&t, c, now);
    }
    char up[CLI_NUMBER_TEXT], down[CLI_NUMBER_TEXT];
    cli_bytes((uint64_t)json_integer_value(json_object_get(d, "uploadTotal")), up);
    cli_bytes((uint64_t)json_integer_value(json_object_get(d, "downloadTotal")), down);
    printf("%zu open flow%s; since start: up %s, down %s\n", t.rows - 1, t.rows == 2 ? "" : "s", up,
           down);
    if (t.rows > 1)
        cli_table_print(&t, stdout, 1u << 0 | 1u << 7 | 1u << 8 | 1u << 9);
    cli_table_free(&t);
    json_decref(d);
    return true;
}

int cmd_flows(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"watch", no_argument, NULL, 'w'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const struct cli_spec spec = {"c:wh", options, flows_usage, flows_take, flows_done, false};
    struct flows_args a = {0};
    int status = cli_options(argc, argv, &spec, &a);
    if (status != CLI_GO_ON)
        return status;
    struct policy *p = cli_load_policy(a.file);
    if (!p)
        return CLI_USAGE;
    bool clear = a.watch && isatty(STDOUT_FILENO);
    bool ok;
    do {
        if (clear)
            fputs("\033[H\033[2J", stdout);
        ok = flows_print("flows", p);
        fflush(stdout);
        if (ok && a.watch) {
            if (!clear)
                putchar('\n');
            sleep(1);
        }
    } while (ok && a.watch);
    policy_unref(p);
    return ok ? CLI_OK : CLI_RUNTIME;
}
