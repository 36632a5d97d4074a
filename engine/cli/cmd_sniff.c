/*
 * cmd_sniff.c — 'switchyard sniff [--udp] FILE...|-': what the classifier
 * sees in a client's first bytes. Without --udp the files are one TCP
 * stream prefix, joined in order; with --udp each file is one datagram, fed
 * in order. Prints `PROTOCOL HOST`, `PROTOCOL -` or `unknown`.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "rules/sniff/sniff.h"

#define SNIFF_INPUT_MAX (1 << 20)

static void sniff_usage(FILE *out)
{
    fprintf(out, "usage: switchyard sniff [--udp] FILE...|-\n\n"
                 "Reads a client's first bytes and prints what the classifier finds:\n"
                 "  tls example.com | http example.com | quic example.com | dns example.com\n"
                 "  PROTOCOL -   (known protocol, no name)   |   unknown\n"
                 "Without --udp the files form one TCP stream prefix; with --udp each file is\n"
                 "one datagram, in the order the client sent them. '-' reads standard input.\n");
}

/* Appends the file's bytes to buf; returns the new length or -1. */
static long read_input(const char *path, uint8_t *buf, size_t off)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t n = fread(buf + off, 1, SNIFF_INPUT_MAX - off, f);
    bool err = ferror(f);
    if (f != stdin)
        fclose(f);
    if (err) {
        fprintf(stderr, "%s: read error\n", path);
        return -1;
    }
    return (long)(off + n);
}

static void print_result(const struct sniff_result *r)
{
    if (r->protocol == SNIFF_PROTO_UNKNOWN || r->protocol == SNIFF_PROTO_NONE)
        printf("unknown\n");
    else
        printf("%s %s\n", sniff_protocol_name(r->protocol), r->host[0] ? r->host : "-");
}

static int sniff_take(void *ctx, int opt, const char *arg)
{
    (void)opt; /* --udp, the only option */
    (void)arg;
    *(bool *)ctx = true;
    return CLI_OK;
}

int cmd_sniff(int argc, char **argv)
{
    static const struct option options[] = {
        {"udp", no_argument, NULL, 'u'}, {"help", no_argument, NULL, 'h'}, {0}};
    static const struct cli_spec spec = {"uh", options, sniff_usage, sniff_take, NULL, true};
    bool udp = false;
    int status = cli_options(argc, argv, &spec, &udp);
    if (status != CLI_GO_ON)
        return status;
    uint8_t *buf = malloc(SNIFF_INPUT_MAX);
    if (!buf)
        return CLI_RUNTIME;
    struct sniff_result r = {.protocol = SNIFF_PROTO_UNKNOWN};
    status = CLI_OK;
    if (udp) {
        struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
        for (int i = optind; s && i < argc; i++) {
            long n = read_input(argv[i], buf, 0);
            if (n < 0) {
                status = CLI_RUNTIME;
                break;
            }
            if (sniff_datagram_feed(s, buf, (size_t)n, &r) == PARSE_DONE)
                break;
        }
        sniff_datagram_free(s);
    } else {
        long len = 0;
        for (int i = optind; i < argc && len >= 0; i++)
            len = read_input(argv[i], buf, (size_t)len);
        if (len < 0)
            status = CLI_RUNTIME;
        else if (sniff_stream(buf, (size_t)len, SNIFF_PROTO_ALL, &r) == PARSE_NEED_MORE)
            r.protocol = SNIFF_PROTO_UNKNOWN; /* the input ended before the name did */
    }
    free(buf);
    if (status == CLI_OK)
        print_result(&r);
    return status;
}
