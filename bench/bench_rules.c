/*
 * bench_rules.c — the rule engine under a realistic load: a policy with
 * 100,000 domain entries (the community lists in examples/lists plus
 * generated names), the CN prefix list (12,412 CIDRs), a GeoIP database and
 * 30 rules. Measures load time, memory, and decisions per second on one
 * core for flows known by address only and for flows with a host name.
 *
 *   build/bench/bench_rules [--domains FILE]... [MMDB]
 *
 * The domain entries come from the lists named with --domains (default:
 * examples/lists/cn.txt and examples/lists/category-ads-all.txt, the lists a
 * split-tunnel policy uses), padded with generated names to 100,000 lines;
 * bench/data/all-categories.txt is every v2fly category (163 regexes).
 * MMDB defaults to geodata/country.mmdb (make geodata); without it a small
 * database is built with geodata/mkmmdb.pl from the CN prefixes. Inputs are
 * written to a temporary directory, removed at the end.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rules/policy.h"

#define DOMAINS_WANTED 100000
#define FLOWS 4096

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    if (f)
        fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * Copies the lists and pads them with generated names to DOMAINS_WANTED
 * lines; counts the regexes among them.
 */
static size_t write_domains(const char *path, const char *const *lists, size_t n_lists,
                            char names[][64], size_t names_max, size_t *n_names, size_t *regexes)
{
    FILE *out = fopen(path, "w");
    size_t lines = 0;
    char line[512];
    *n_names = 0;
    *regexes = 0;
    for (size_t i = 0; i < n_lists; i++) {
        FILE *in = fopen(lists[i], "r");
        if (!in) {
            fprintf(stderr, "bench_rules: cannot read %s (run from the repository root)\n",
                    lists[i]);
            exit(1);
        }
        while (fgets(line, sizeof(line), in) && lines < DOMAINS_WANTED) {
            if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
                continue;
            fputs(line, out);
            lines++;
            *regexes += strncmp(line, "regexp:", 7) == 0;
            if (strncmp(line, "domain:", 7) == 0 && *n_names < names_max / 2 && lines % 7 == 0) {
                line[strcspn(line, "\r\n")] = '\0';
                snprintf(names[(*n_names)++], 64, "www.%.50s", line + 7);
            }
        }
        fclose(in);
    }
    for (size_t i = 0; lines < DOMAINS_WANTED; i++, lines++)
        fprintf(out,
                i % 10 == 0 ? "full:host%zu.svc%zu.example.net\n"
                            : "domain:site%zu.example%zu.org\n",
                i, i % 97);
    fclose(out);
    /* Names no list holds, half of what the benchmark asks for. */
    for (size_t i = *n_names; i < names_max; i++)
        snprintf(names[i], 64, "cdn%zu.unlisted%zu.example.com", i, i % 13);
    *n_names = names_max;
    return lines;
}

static const char *policy_fmt =
    "geoip: {file: %s}\n"
    "outbounds:\n"
    "  - {name: proxy, type: socks5, server: \"127.0.0.1:1080\", udp: true}\n"
    "  - {name: office, type: http, server: \"192.0.2.10:3128\"}\n"
    "sets:\n"
    "  private: {cidr: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, \"fc00::/7\"]}\n"
    "  chnroute: {cidr_file: %s/examples/lists/chnroute.txt}\n"
    "  big: {domain_file: %s}\n"
    "rules:\n"
    "  - {dst_set: private, action: direct}\n"
    "  - {dst: [192.0.2.0/24, \"2001:db8::/32\"], action: direct}\n"
    "  - {network: udp, dst_port: 443, action: drop}\n"
    "  - {dst_port: [25, 465, 587], action: drop}\n"
    "  - {dst_port: \"6881-6889\", action: drop}\n"
    "  - {src: 198.51.100.0/24, dst_port: 22, action: office}\n"
    "  - {domain_suffix: [corp.example, intranet.example], action: office}\n"
    "  - {domain: [login.example.com, sso.example.com], action: office}\n"
    "  - {domain_keyword: [adservice, tracking], action: drop}\n"
    "  - {domain_regex: '^ads?[0-9]*\\.', action: drop}\n"
    "  - {domain_set: big, action: direct}\n"
    "  - {dst_set: chnroute, action: direct}\n"
    "  - {geoip: [CN], action: direct}\n"
    "  - {geoip: [HK, MO], dst_port: 443, action: proxy}\n"
    "  - {protocol: quic, action: drop}\n"
    "  - {any: [{dst_port: 8080}, {dst_port: 8443}], action: office}\n"
    "  - {not: {dst_port: [80, 443]}, network: tcp, dst_port: \"1-1023\", action: proxy}\n"
    "  - {domain_suffix: [google.com, youtube.com, googlevideo.com], action: proxy}\n"
    "  - {domain_suffix: [netflix.com, nflxvideo.net], action: proxy}\n"
    "  - {domain_suffix: [github.com, githubusercontent.com], action: proxy}\n"
    "  - {domain_keyword: [telegram], action: proxy}\n"
    "  - {src_port: \"1-1023\", action: drop}\n"
    "  - {geoip: [US], dst_port: 443, action: proxy}\n"
    "  - {geoip: [JP, KR, SG], action: proxy}\n"
    "  - {dst_port: 853, action: drop}\n"
    "  - {dst_port: [3478, \"19302-19309\"], action: proxy}\n"
    "  - {network: udp, dst_port: 53, action: direct}\n"
    "  - {protocol: [tls, http], dst_port: [80, 443], action: proxy}\n"
    "  - {protocol: unknown, dst_port: 443, action: proxy}\n"
    "  - {dst_port: [80, 443], action: proxy}\n"
    "default: proxy\n";

static double run(struct policy *p, struct policy_flow *flows, long rounds)
{
    struct policy_decision d;
    unsigned long sink = 0;
    double t0 = now();
    for (long i = 0; i < rounds; i++) {
        policy_decide(p, &flows[i & (FLOWS - 1)], &d);
        sink += d.rule;
    }
    double t = now() - t0;
    if (sink == 42)
        puts("");
    return (double)rounds / t;
}

int main(int argc, char **argv)
{
    const char *lists[16] = {"examples/lists/cn.txt", "examples/lists/category-ads-all.txt"};
    size_t n_lists = 0;
    const char *mmdb_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--domains") == 0 && i + 1 < argc && n_lists < 16)
            lists[n_lists++] = argv[++i];
        else if (argv[i][0] != '-' && !mmdb_arg)
            mmdb_arg = argv[i];
        else {
            fprintf(stderr, "usage: bench_rules [--domains FILE]... [MMDB]\n");
            return 2;
        }
    }
    if (n_lists == 0)
        n_lists = 2;

    char dir[] = "/tmp/switchyard-bench-XXXXXX", path[512], mmdb[512], cwd[256], cmd[1024];
    if (!mkdtemp(dir) || !getcwd(cwd, sizeof(cwd)))
        return 1;
    static char names[FLOWS][64];
    size_t n_names, regexes;
    snprintf(path, sizeof(path), "%s/domains.txt", dir);
    size_t entries = write_domains(path, lists, n_lists, names, FLOWS, &n_names, &regexes);

    const char *geo_kind = "geodata/country.mmdb (real, make geodata)";
    snprintf(mmdb, sizeof(mmdb), "%s", mmdb_arg ? mmdb_arg : "geodata/country.mmdb");
    if (access(mmdb, R_OK) != 0) {
        snprintf(mmdb, sizeof(mmdb), "%s/country.mmdb", dir);
        snprintf(cmd, sizeof(cmd),
                 "sed 's/$/ CN/' examples/lists/chnroute.txt | grep -v '^#' | "
                 "perl geodata/mkmmdb.pl --layout geolite2 %s",
                 mmdb);
        if (system(cmd) != 0)
            return 1;
        geo_kind = "built by mkmmdb.pl from the CN prefixes (run make geodata for the real one)";
    } else if (mmdb_arg) {
        geo_kind = mmdb_arg;
    }
    char yaml[8192], yaml_path[512];
    snprintf(yaml, sizeof(yaml), policy_fmt, mmdb[0] == '/' ? mmdb : "", cwd, path);
    if (mmdb[0] != '/') {
        char abs[1024];
        snprintf(abs, sizeof(abs), "%s/%s", cwd, mmdb);
        snprintf(yaml, sizeof(yaml), policy_fmt, abs, cwd, path);
    }
    snprintf(yaml_path, sizeof(yaml_path), "%s/policy.yaml", dir);
    FILE *f = fopen(yaml_path, "w");
    fputs(yaml, f);
    fclose(f);

    struct mallinfo2 m0 = mallinfo2();
    long rss0 = rss_kib();
    char error[POLICY_ERROR_MAX];
    double t0 = now();
    struct policy *p = policy_load(yaml_path, error);
    double load_s = now() - t0;
    if (!p) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    struct mallinfo2 m1 = mallinfo2();
    long rss1 = rss_kib();

    static struct policy_flow ip_flows[FLOWS], host_flows[FLOWS];
    srand(7);
    for (int i = 0; i < FLOWS; i++) {
        struct policy_flow *fl = &ip_flows[i];
        fl->network = i % 5 == 0 ? POLICY_UDP : POLICY_TCP;
        char a[64];
        if (i % 4 == 3)
            snprintf(a, sizeof(a), "[240%x:%x::%x]:%d", rand() % 16, rand() % 65536, rand() % 65536,
                     i % 2 ? 443 : 80);
        else
            snprintf(a, sizeof(a), "%d.%d.%d.%d:%d", 1 + rand() % 223, rand() % 256, rand() % 256,
                     rand() % 256, (int[]){80, 443, 22, 8080, 53, 5000}[i % 6]);
        flow_addr_parse(&fl->dst, a);
        flow_addr_parse(&fl->src, "192.0.2.77:40000");
        host_flows[i] = *fl;
        host_flows[i].network = POLICY_TCP;
        host_flows[i].dst.port = 443;
        host_flows[i].host = names[rand() % n_names];
        host_flows[i].protocol = SNIFF_PROTO_TLS;
    }

    long rounds = 4000000;
    run(p, ip_flows, rounds / 10); /* warm up */
    double ip_rate = run(p, ip_flows, rounds);
    double host_rate = run(p, host_flows, rounds);

    printf("policy: %zu domain entries (", entries);
    for (size_t i = 0; i < n_lists; i++)
        printf("%s%s", i ? ", " : "", lists[i]);
    printf(" + generated; %zu regexes), 12,412 (chnroute) + 7 CIDR prefixes, 30 rules\n", regexes);
    printf("geoip: %s\n", geo_kind);
    printf("load time: %.3f s\n", load_s);
    printf("memory: %.1f MiB allocated, %.1f MiB RSS growth\n",
           (double)((m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd)) / 1048576.0,
           (double)(rss1 - rss0) / 1024.0);
    printf("ip-only decisions: %.2f M/s (one core)\n", ip_rate / 1e6);
    printf("host-name decisions: %.2f M/s (one core)\n", host_rate / 1e6);
    policy_unref(p);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
