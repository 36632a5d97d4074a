/*
 * test_geoip.c — country lookups in the three database layouts found in
 * the wild (GeoLite2: country.iso_code; DB-IP style: registered_country
 * only; ip-location-db: a top-level country_code), over IPv4 and IPv6, built
 * at test time with the real MMDB writer; and the errors for files that are
 * missing or not databases. Lookups go through tables of the tree cut
 * at depth 16: nested networks above and below that depth are checked, and
 * every answer is compared with libmaxminddb's own lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <maxminddb.h>

#include "geodata/geoip.h"
#include "rules/cidr_set.h"
#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

static const char *spec = "198.51.100.0/24 CN\n203.0.113.0/25 hk\n2001:db8:cc::/48 DE\n";

static struct geoip *build_spec(const char *layout, int ip_version, const char *text)
{
    fixture_write("spec.txt", text);
    char cmd[512], path[256], error[512];
    snprintf(path, sizeof(path), "%s/%s-%d.mmdb", fixture_dir, layout, ip_version);
    snprintf(cmd, sizeof(cmd),
             "perl geodata/mkmmdb.pl --layout %s --ip-version %d %s < %s/spec.txt", layout,
             ip_version, path, fixture_dir);
    assert_int_equal(system(cmd), 0);
    struct geoip *g = geoip_open(path, error, sizeof(error));
    if (!g)
        fail_msg("%s", error);
    return g;
}

static struct geoip *build(const char *layout, int ip_version)
{
    return build_spec(layout, ip_version, spec);
}

static void expect(struct geoip *g, const char *ip, const char *want)
{
    struct flow_addr a;
    char code[3] = "";
    assert_true(flow_addr_parse_ip(&a, ip));
    bool found = geoip_country(g, &a, code);
    if (found != (want != NULL) || (want && strcmp(code, want) != 0))
        fail_msg("%s: %s, expected %s", ip, found ? code : "no country", want ? want : "none");
}

static void each_layout(const char *layout)
{
    struct geoip *g = build(layout, 6);
    expect(g, "198.51.100.1", "CN");
    expect(g, "::ffff:198.51.100.200", "CN"); /* IPv4-mapped, as dual-stack sockets report */
    expect(g, "203.0.113.100", "HK");         /* lower case in the file, upper case out */
    expect(g, "203.0.113.200", NULL);
    expect(g, "2001:db8:cc:1::1", "DE");
    expect(g, "2001:db8:dd::1", NULL);
    geoip_close(g);

    g = build(layout, 4);
    expect(g, "198.51.100.1", "CN");
    expect(g, "192.0.2.1", NULL);
    geoip_close(g);
}

static void geolite2_layout(void **state)
{
    (void)state;
    each_layout("geolite2");
}

static void dbip_layout_registered_country(void **state)
{
    (void)state;
    each_layout("dbip");
}

static void ip_location_db_layout(void **state)
{
    (void)state;
    each_layout("iplocation");
}

static void bad_files_are_named(void **state)
{
    (void)state;
    char error[512], path[256];
    snprintf(path, sizeof(path), "%s/absent.mmdb", fixture_dir);
    assert_null(geoip_open(path, error, sizeof(error)));
    assert_non_null(strstr(error, "absent.mmdb: cannot open GeoIP database: No such file"));
    snprintf(path, sizeof(path), "%s", fixture_write("junk.mmdb", "not a database at all\n"));
    assert_null(geoip_open(path, error, sizeof(error)));
    assert_non_null(strstr(error, "junk.mmdb: not a MaxMind DB file"));
}

/* Later lines override the part of an earlier network they cover. */
static const char *nested =
    "10.0.0.0/8 AA\n10.1.0.0/16 BB\n10.1.2.0/24 CC\n10.1.2.128/25 DD\n10.1.2.200/32 EE\n"
    "10.192.0.0/12 FF\n10.255.255.255/32 GG\n0.0.0.0/7 HH\n255.255.255.254/31 II\n"
    "2001:db8::/32 JJ\n2001:db8:1::/48 KK\n2001:db8:1:2::/64 LL\n2001:db8:1:2::5/128 MM\n"
    "2400::/12 NN\n";

/* What libmaxminddb's own lookup finds for `fa`, as a code or "". */
static void reference(MMDB_s *db, const struct flow_addr *fa, char ref[3])
{
    struct sockaddr_storage ss;
    flow_addr_to_sockaddr(fa, &ss);
    int err;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(db, (struct sockaddr *)&ss, &err);
    ref[0] = '\0';
    if (err != MMDB_SUCCESS || !r.found_entry)
        return;
    static const char *const paths[][3] = {{"country", "iso_code", NULL},
                                           {"registered_country", "iso_code", NULL},
                                           {"country_code", NULL}};
    MMDB_entry_data_s d;
    for (size_t i = 0; i < 3; i++)
        if (MMDB_aget_value(&r.entry, &d, paths[i]) == MMDB_SUCCESS && d.has_data) {
            ref[0] = (char)(d.utf8_string[0] & ~0x20);
            ref[1] = (char)(d.utf8_string[1] & ~0x20);
            ref[2] = '\0';
            return;
        }
}

/* What a lookup in the `nested` networks answers (NULL: no country); the IPv6 addresses are
 * asked of IPv6 databases only. */
static const struct {
    const char *ip, *country;
} nested_answers[] = {
    {"10.0.0.1", "AA"},        {"10.1.0.1", "BB"},
    {"10.1.2.3", "CC"},        {"10.1.2.127", "CC"},
    {"10.1.2.128", "DD"},      {"10.1.2.199", "DD"},
    {"10.1.2.200", "EE"},      {"10.1.2.201", "DD"},
    {"10.1.3.0", "BB"},        {"10.191.255.255", "AA"},
    {"10.192.0.0", "FF"},      {"10.207.255.255", "FF"},
    {"10.208.0.0", "AA"},      {"10.255.255.254", "AA"},
    {"10.255.255.255", "GG"},  {"11.0.0.0", NULL},
    {"0.0.0.1", "HH"},         {"1.255.255.255", "HH"},
    {"255.255.255.253", NULL}, {"255.255.255.254", "II"},
    {"255.255.255.255", "II"}, {"2001:db8::1", "JJ"},
    {"2001:db8:1::1", "KK"},   {"2001:db8:1:2::4", "LL"},
    {"2001:db8:1:2::5", "MM"}, {"2001:db8:1:2::6", "LL"},
    {"2001:db8:1:3::", "KK"},  {"2001:db8:2::", "JJ"},
    {"2001:db9::", NULL},      {"240f:ffff::1", "NN"},
    {"2410::1", NULL},         {"::1", "HH"}, /* ::/96 holds the IPv4 tree: ::0.0.0.1 */
};

static void nested_in(const char *layout, int ip_version)
{
    struct geoip *g = build_spec(layout, ip_version, nested);
    for (size_t i = 0; i < sizeof(nested_answers) / sizeof(nested_answers[0]); i++)
        if (ip_version == 6 || !strchr(nested_answers[i].ip, ':'))
            expect(g, nested_answers[i].ip, nested_answers[i].country);

    /* Every /16 at some offset, every address around the deep IPv4 networks and
     * the IPv6 ones, against libmaxminddb. */
    char path[256];
    snprintf(path, sizeof(path), "%s/%s-%d.mmdb", fixture_dir, layout, ip_version);
    MMDB_s db;
    assert_int_equal(MMDB_open(path, MMDB_MODE_MMAP, &db), MMDB_SUCCESS);
    for (uint32_t i = 0; i < 3 * (1u << 16); i++) {
        struct flow_addr fa = {.family = AF_INET};
        uint32_t a = i < (1u << 16) ? i << 16 | (i * 2654435761u >> 16)
                                    : 0x0a010100u + (i & 1023); /* 10.1.1.0 - 10.1.4.255 */
        if (i >= 2 * (1u << 16)) { /* IPv6: the top 16 bits, then 2001:db8:1:2::/64 and around */
            fa.family = AF_INET6;
            uint32_t k = i & 0xffff;
            memcpy(fa.ip, (uint8_t[]){0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2}, 8);
            if (k & 1) {
                fa.ip[0] = (uint8_t)(k >> 8), fa.ip[1] = (uint8_t)k, fa.ip[2] = (uint8_t)(k * 7);
            } else {
                fa.ip[5] = (uint8_t)(k >> 12 & 3), fa.ip[7] = (uint8_t)(k >> 9 & 7),
                fa.ip[15] = (uint8_t)(k >> 1 & 15);
            }
        } else {
            uint32_t n = htonl(a);
            memcpy(fa.ip, &n, 4);
        }
        char ref[3], code[3] = "", text[FLOW_ADDR_TEXT_MAX];
        reference(&db, &fa, ref);
        bool found = geoip_country(g, &fa, code);
        if (found != (ref[0] != '\0') || (found && strcmp(code, ref) != 0))
            fail_msg("%s/%d: %s gives '%s', libmaxminddb '%s'", layout, ip_version,
                     flow_addr_format_ip(&fa, text), found ? code : "", ref);
    }
    MMDB_close(&db);
    geoip_close(g);
}

static void tables_match_libmaxminddb(void **state)
{
    (void)state;
    nested_in("geolite2", 6);
    nested_in("iplocation", 4);
    nested_in("dbip", 6);
}

static int collect(void *ctx, int family, const uint8_t *ip, unsigned bits)
{
    char *out = ctx, text[INET6_ADDRSTRLEN];
    inet_ntop(family, ip, text, sizeof(text));
    sprintf(out + strlen(out), "%s/%u ", text, bits);
    return 0;
}

static void networks_are(struct geoip *g, const char *code, int family, const char *want)
{
    char got[2048] = "";
    assert_int_equal(geoip_country_networks(g, code, family, collect, got), 0);
    assert_string_equal(got, want);
}

static int add_to_set(void *ctx, int family, const uint8_t *ip, unsigned bits)
{
    return cidr_set_add_prefix(ctx, family, ip, bits);
}

/* Whether `fa` is in the networks the walk gives for `code`, for both families. */
static bool in_networks(struct geoip *g, const char *code, const struct flow_addr *fa)
{
    struct cidr_set *s = cidr_set_new();
    assert_int_equal(geoip_country_networks(g, code, AF_INET, add_to_set, s), 0);
    assert_int_equal(geoip_country_networks(g, code, AF_INET6, add_to_set, s), 0);
    assert_int_equal(cidr_set_freeze(s), 0);
    bool in = cidr_set_contains(s, fa);
    cidr_set_free(s);
    return in;
}

/* The walk lists exactly the networks lookups answer a country for, nested or not
 * (IPv6 with the writer's aliases of the IPv4 tree: ::/96, ::ffff:0:0/96, Teredo, 6to4). */
static void networks_of_a_country(void **state)
{
    (void)state;
    struct geoip *g = build_spec("geolite2", 6, nested);
    networks_are(g, "cc", AF_INET, "10.1.2.0/25 ");
    networks_are(g, "DD", AF_INET,
                 "10.1.2.128/26 10.1.2.192/29 10.1.2.201/32 10.1.2.202/31 "
                 "10.1.2.204/30 10.1.2.208/28 10.1.2.224/27 ");
    networks_are(g, "MM", AF_INET6, "2001:db8:1:2::5/128 ");
    networks_are(g, "ZZ", AF_INET, "");
    /* IPv6 holds what the tree aliases to IPv4, as lookups of those addresses answer. */
    networks_are(g, "EE", AF_INET6,
                 "::10.1.2.200/128 ::ffff:10.1.2.200/128 2001:0:a01:2c8::/64 2002:a01:2c8::/48 ");
    const char *codes[] = {"AA", "BB", "CC", "DD", "EE", "FF", "GG", "HH", "II", "JJ", "KK", "LL"};
    const char *addrs[] = {"10.0.0.1",       "10.1.2.200",      "10.1.2.201",  "10.255.255.255",
                           "1.2.3.4",        "255.255.255.255", "11.0.0.0",    "2001:db8:1:2::5",
                           "2001:db8:1:2::", "2001:db8:2::",    "2400::1",     "::10.0.0.1",
                           "2002:a00::1",    "192.0.2.1",       "2001:db9::1", "10.207.1.1"};
    for (size_t a = 0; a < sizeof(addrs) / sizeof(addrs[0]); a++) {
        struct flow_addr fa;
        char code[3] = "";
        assert_true(flow_addr_parse_ip(&fa, addrs[a]));
        bool found = geoip_country(g, &fa, code);
        for (size_t c = 0; c < sizeof(codes) / sizeof(codes[0]); c++)
            if (in_networks(g, codes[c], &fa) != (found && strcmp(code, codes[c]) == 0))
                fail_msg("%s in %s: walk and lookup disagree", addrs[a], codes[c]);
    }
    geoip_close(g);

    g = build_spec("iplocation", 4, nested); /* an IPv4 tree: no IPv6 networks */
    networks_are(g, "CC", AF_INET, "10.1.2.0/25 ");
    networks_are(g, "HH", AF_INET6, "");
    geoip_close(g);
}

UNIT_TEST_MAIN(NULL, fixture_teardown, cmocka_unit_test(networks_of_a_country),
               cmocka_unit_test(geolite2_layout), cmocka_unit_test(dbip_layout_registered_country),
               cmocka_unit_test(ip_location_db_layout), cmocka_unit_test(bad_files_are_named),
               cmocka_unit_test(tables_match_libmaxminddb))
