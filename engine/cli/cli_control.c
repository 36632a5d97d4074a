/*
 * cli_control.c — the control API's client for the commands that read it.
 * libcurl does the HTTP (libmicrohttpd is a server only), opened only here
 * (cli_curl.h): over TCP to the listener's address, a wildcard one asked on
 * loopback, or over the unix socket. See cli_control.h.
 */
#include "engine/cli/cli_control.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "engine/cli/cli_curl.h"
#include "rules/flow_addr.h"
#include "rules/util.h"

/* Seconds a request may take in all, and the most bytes an answer may have. */
#define CLI_CONTROL_TIMEOUT_S 10
#define CLI_CONTROL_BODY_MAX (64u << 20)

struct body {
    char *data;
    size_t len;
    bool too_long;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *ctx)
{
    struct body *b = ctx;
    size_t add = size * n;
    if (b->len + add > CLI_CONTROL_BODY_MAX) {
        b->too_long = true;
        return 0;
    }
    char *grown = realloc(b->data, b->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* The URL for `path` on the listener (a wildcard address asked on loopback); the unix path, if any.
 */
static void control_url(const struct policy_settings *s, const char *path, char *url, size_t size,
                        const char **unix_path)
{
    *unix_path = NULL;
    if (s->control_listen.ss_family == AF_UNIX) {
        *unix_path = ((const struct sockaddr_un *)&s->control_listen)->sun_path;
        snprintf(url, size, "http://localhost%s", path);
        return;
    }
    struct flow_addr a;
    flow_addr_from_sockaddr(&a, (const struct sockaddr *)&s->control_listen);
    static const uint8_t any[16] = {0};
    if (memcmp(a.ip, any, a.family == AF_INET ? 4 : 16) == 0) {
        if (a.family == AF_INET)
            a.ip[0] = 127, a.ip[3] = 1;
        else
            a.ip[15] = 1;
    }
    char where[FLOW_ADDR_TEXT_MAX];
    flow_addr_format(&a, where);
    snprintf(url, size, "http://%s%s", where, path);
}

char *cli_control_get(const char *command, const struct policy *p, const char *path, size_t *len)
{
    const struct policy_settings *s = policy_settings(p);
    if (!s->control_on) {
        fprintf(stderr, "switchyard %s: %s has no control section\n", command, policy_path(p));
        return NULL;
    }
    char error[512];
    const struct cli_curl *c = cli_curl_open(error, sizeof(error));
    if (!c) {
        fprintf(stderr, "switchyard %s: %s\n", command, error);
        return NULL;
    }
    char url[FLOW_ADDR_TEXT_MAX + 256], auth[1024] = "";
    const char *unix_path;
    control_url(s, path, url, sizeof(url), &unix_path);
    CURL *curl = c->easy_init();
    struct curl_slist *headers = NULL;
    if (s->control_secret) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", s->control_secret);
        headers = c->slist_append(NULL, auth);
    }
    struct body b = {0};
    long status = 0;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    if (curl) {
        c->easy_setopt(curl, CURLOPT_URL, url);
        if (unix_path)
            c->easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, unix_path);
        c->easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        c->easy_setopt(curl, CURLOPT_TIMEOUT, (long)CLI_CONTROL_TIMEOUT_S);
        c->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        c->easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
        c->easy_setopt(curl, CURLOPT_WRITEDATA, &b);
        rc = c->easy_perform(curl);
        c->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        c->easy_cleanup(curl);
    }
    c->slist_free_all(headers);
    const char *where = unix_path ? unix_path : url;
    if (rc != CURLE_OK || status != 200) {
        if (rc != CURLE_OK)
            fprintf(stderr, "switchyard %s: cannot read %s: %s\n", command, where,
                    b.too_long ? "the answer is too long" : c->easy_strerror(rc));
        else if (status == 401)
            fprintf(stderr, "switchyard %s: %s refused the secret (401)\n", command, where);
        else
            fprintf(stderr, "switchyard %s: %s answered %ld\n", command, where, status);
        free(b.data);
        return NULL;
    }
    if (!b.data)
        b.data = calloc(1, 1);
    if (len)
        *len = b.len;
    return b.data;
}

json_t *cli_control_json(const char *command, const struct policy *p, const char *path)
{
    size_t len;
    char *text = cli_control_get(command, p, path, &len);
    if (!text)
        return NULL;
    json_error_t error;
    json_t *j = json_loadb(text, len, 0, &error);
    free(text);
    if (!j)
        fprintf(stderr, "switchyard %s: %s is not JSON: %s\n", command, path, error.text);
    return j;
}

void cli_bytes(uint64_t n, char out[CLI_NUMBER_TEXT])
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        snprintf(out, CLI_NUMBER_TEXT, "%" PRIu64 " B", n);
        return;
    }
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < ARRAY_LEN(units)) {
        v /= 1024;
        u++;
    }
    snprintf(out, CLI_NUMBER_TEXT, "%.1f %s", v, units[u]);
}

void cli_duration(long long secs, char out[CLI_NUMBER_TEXT])
{
    if (secs < 0)
        secs = 0;
    if (secs < 60)
        snprintf(out, CLI_NUMBER_TEXT, "%llds", secs);
    else if (secs < 3600)
        snprintf(out, CLI_NUMBER_TEXT, "%lldm%02llds", secs / 60, secs % 60);
    else
        snprintf(out, CLI_NUMBER_TEXT, "%lldh%02lldm", secs / 3600, (secs % 3600) / 60);
}

bool cli_table_add(struct cli_table *t, const char *const *cells)
{
    char **grown = realloc(t->cells, (t->rows + 1) * t->cols * sizeof(*grown));
    if (!grown)
        return false;
    t->cells = grown;
    for (size_t i = 0; i < t->cols; i++)
        grown[t->rows * t->cols + i] = strdup(cells[i] ? cells[i] : "");
    t->rows++;
    return true;
}

void cli_table_print(const struct cli_table *t, FILE *out, unsigned right)
{
    size_t width[CLI_TABLE_COLS_MAX] = {0};
    for (size_t r = 0; r < t->rows; r++)
        for (size_t i = 0; i < t->cols && i < CLI_TABLE_COLS_MAX; i++) {
            const char *cell = t->cells[r * t->cols + i];
            size_t n = cell ? strlen(cell) : 0;
            if (n > width[i])
                width[i] = n;
        }
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t i = 0; i < t->cols && i < CLI_TABLE_COLS_MAX; i++) {
            const char *cell = t->cells[r * t->cols + i] ? t->cells[r * t->cols + i] : "?";
            bool last = i + 1 == t->cols;
            if (right & (1u << i))
                fprintf(out, "%*s%s", (int)width[i], cell, last ? "" : "  ");
            else if (last)
                fputs(cell, out);
            else
                fprintf(out, "%-*s  ", (int)width[i], cell);
        }
        fputc('\n', out);
    }
}

void cli_table_free(struct cli_table *t)
{
    for (size_t i = 0; i < t->rows * t->cols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->rows = 0;
}
