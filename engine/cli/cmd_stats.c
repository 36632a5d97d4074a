/*
 * cmd_stats.c — 'switchyard stats -c FILE': the counters of a running
 * switchyard, read from its control API (/metrics, and /rules for what each
 * rule sends where): flows and UDP sessions, bytes, reloads, descriptors and
 * memory, then a table by outbound and one by rule.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/cli/cli_control.h"

static void stats_usage(FILE *out)
{
    fprintf(out, "usage: switchyard stats -c FILE\n\n"
                 "Prints the counters of the switchyard running with the policy FILE, read\n"
                 "from its control API (the control section's listener and secret): flows,\n"
                 "UDP sessions, bytes, reloads, descriptors, memory, then flows and bytes by\n"
                 "outbound and hits by rule.\n");
}

/*
 * The samples of the /metrics text, in place: each line "NAME{LABELS} VALUE"
 * or "NAME VALUE" (comments skipped), NAME and LABELS cut out as strings.
 */
struct sample {
    const char *name, *labels; /* labels: `k="v",k="v"`, "" for none */
    double value;
};

struct samples {
    struct sample *s;
    size_t n;
};

static bool samples_read(struct samples *out, char *text)
{
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *value = strrchr(line, ' ');
        if (line[0] == '#' || !value)
            continue;
        *value++ = '\0';
        struct sample s = {line, "", strtod(value, NULL)};
        char *brace = strchr(line, '{');
        if (brace && value[-2] == '}') {
            *brace = '\0';
            value[-2] = '\0';
            s.labels = brace + 1;
        }
        struct sample *grown = realloc(out->s, (out->n + 1) * sizeof(*grown));
        if (!grown)
            return false;
        out->s = grown;
        out->s[out->n++] = s;
    }
    return true;
}

/* Whether `labels` holds key="value". */
static bool has_label(const char *labels, const char *key, const char *value)
{
    char want[256];
    snprintf(want, sizeof(want), "%s=\"%s\"", key, value);
    size_t n = strlen(want);
    for (const char *at = strstr(labels, want); at; at = strstr(at + 1, want))
        if ((at == labels || at[-1] == ',') && (at[n] == ',' || at[n] == '\0'))
            return true;
    return false;
}

/* The sum of the samples of `name` (with key="value" when key is not NULL). */
static double sum(const struct samples *m, const char *name, const char *key, const char *value)
{
    double total = 0;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->s[i].name, name) == 0 && (!key || has_label(m->s[i].labels, key, value)))
            total += m->s[i].value;
    return total;
}

/* The value of label `key` in `labels` into `out` (no escapes: policy names are plain). */
static bool label_value(const char *labels, const char *key, char *out, size_t size)
{
    char want[64];
    snprintf(want, sizeof(want), "%s=\"", key);
    for (const char *at = strstr(labels, want); at; at = strstr(at + 1, want)) {
        if (at != labels && at[-1] != ',')
            continue;
        at += strlen(want);
        size_t n = strcspn(at, "\"");
        snprintf(out, size, "%.*s", (int)n, at);
        return true;
    }
    return false;
}

static void print_totals(const struct samples *m)
{
    char up[CLI_NUMBER_TEXT], down[CLI_NUMBER_TEXT], mem[CLI_NUMBER_TEXT], age[CLI_NUMBER_TEXT];
    cli_bytes((uint64_t)sum(m, "switchyard_bytes_total", "direction", "up"), up);
    cli_bytes((uint64_t)sum(m, "switchyard_bytes_total", "direction", "down"), down);
    cli_bytes((uint64_t)sum(m, "switchyard_resident_memory_bytes", NULL, NULL), mem);
    cli_duration((long long)sum(m, "switchyard_policy_age_seconds", NULL, NULL), age);
    printf("flows         %.0f open, %.0f accepted, %.0f refused, %.0f dropped (limit %.0f)\n",
           sum(m, "switchyard_flows_active", NULL, NULL),
           sum(m, "switchyard_flows_accepted_total", NULL, NULL),
           sum(m, "switchyard_flows_refused_total", NULL, NULL),
           sum(m, "switchyard_flows_dropped_total", NULL, NULL),
           sum(m, "switchyard_flows_limit", NULL, NULL));
    printf("udp sessions  %.0f open, %.0f in all\n",
           sum(m, "switchyard_udp_sessions_active", NULL, NULL),
           sum(m, "switchyard_udp_sessions_total", NULL, NULL));
    printf("bytes         up %s, down %s\n", up, down);
    printf("upstreams     %.0f failed\n", sum(m, "switchyard_upstream_failures_total", NULL, NULL));
    printf("reloads       %.0f ok, %.0f failed; policy loaded %s ago\n",
           sum(m, "switchyard_reloads_total", "result", "ok"),
           sum(m, "switchyard_reloads_total", "result", "failed"), age);
    printf("descriptors   %.0f in use of %.0f (RLIMIT_NOFILE %.0f)\n",
           sum(m, "switchyard_fds_in_use", NULL, NULL), sum(m, "switchyard_fds_limit", NULL, NULL),
           sum(m, "switchyard_fds_rlimit", NULL, NULL));
    printf("memory        %s resident\n", mem);
}

/* Flows and bytes by outbound: one row for each outbound the metrics name. */
static void print_outbounds(const struct samples *m)
{
    static const char *const header[] = {"OUTBOUND", "FLOWS", "OPEN", "UDP", "UP", "DOWN"};
    struct cli_table t = {.cols = 6};
    cli_table_add(&t, header);
    for (size_t i = 0; i < m->n; i++) {
        char name[128];
        if ((strcmp(m->s[i].name, "switchyard_flows_total") != 0 &&
             strcmp(m->s[i].name, "switchyard_udp_sessions_total") != 0) ||
            !label_value(m->s[i].labels, "outbound", name, sizeof(name)))
            continue;
        bool seen = false;
        for (size_t r = 1; r < t.rows && !seen; r++)
            seen = t.cells[r * t.cols] && strcmp(t.cells[r * t.cols], name) == 0;
        if (seen)
            continue;
        char flows[24], open[24], udp[24], up[CLI_NUMBER_TEXT], down[CLI_NUMBER_TEXT];
        snprintf(flows, sizeof(flows), "%.0f", sum(m, "switchyard_flows_total", "outbound", name));
        snprintf(open, sizeof(open), "%.0f", sum(m, "switchyard_flows_active", "outbound", name));
        snprintf(udp, sizeof(udp), "%.0f",
                 sum(m, "switchyard_udp_sessions_total", "outbound", name));
        double bytes_up = 0, bytes_down = 0;
        for (size_t k = 0; k < m->n; k++)
            if (strcmp(m->s[k].name, "switchyard_bytes_total") == 0 &&
                has_label(m->s[k].labels, "outbound", name))
                *(has_label(m->s[k].labels, "direction", "up") ? &bytes_up : &bytes_down) +=
                    m->s[k].value;
        cli_bytes((uint64_t)bytes_up, up);
        cli_bytes((uint64_t)bytes_down, down);
        const char *row[] = {name, flows, open, udp, up, down};
        cli_table_add(&t, row);
    }
    if (t.rows > 1) {
        putchar('\n');
        cli_table_print(&t, stdout, 0x3eu);
    }
    cli_table_free(&t);
}

/* Hits by rule, with what /rules says of each (rule N (line L), the outbound). */
static void print_rules(const struct samples *m, json_t *rules)
{
    static const char *const header[] = {"RULE", "OUTBOUND", "HITS"};
    struct cli_table t = {.cols = 3};
    cli_table_add(&t, header);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(rules, "rules"), i, r)
    {
        const char *type = json_string_value(json_object_get(r, "type"));
        bool fallback = type && strcmp(type, "Match") == 0;
        char number[24], hits[24];
        snprintf(number, sizeof(number), "%zu", fallback ? 0 : i + 1);
        snprintf(hits, sizeof(hits), "%.0f", sum(m, "switchyard_rule_hits_total", "rule", number));
        const char *row[] = {json_string_value(json_object_get(r, "payload")),
                             json_string_value(json_object_get(r, "proxy")), hits};
        cli_table_add(&t, row);
    }
    putchar('\n');
    cli_table_print(&t, stdout, 1u << 2);
    cli_table_free(&t);
}

int cmd_stats(int argc, char **argv)
{
    struct policy *p = NULL;
    int status = cli_config_policy(argc, argv, stats_usage, &p);
    if (status != CLI_GO_ON)
        return status;
    char *text = cli_control_get("stats", p, "/metrics", NULL);
    json_t *rules = text ? cli_control_json("stats", p, "/rules") : NULL;
    struct samples m = {0};
    bool ok = rules && samples_read(&m, text);
    if (ok) {
        print_totals(&m);
        print_outbounds(&m);
        print_rules(&m, rules);
    } else if (rules) {
        fprintf(stderr, "switchyard stats: out of memory\n");
    }
    free(m.s);
    free(text);
    json_decref(rules);
    policy_unref(p);
    return ok ? CLI_OK : CLI_RUNTIME;
}
