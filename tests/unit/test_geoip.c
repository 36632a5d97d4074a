/*
 * test_geoip.c — country lookups in the three database layouts found in
 * the wild (GeoLite2: country.iso_code; DB-IP style: registered_country
 * only; ip-location-db: a top-level country_code), over IPv4 and IPv6, built
 * at test time with the real MMDB writer; and the errors for files that are
 * missing or not databases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "geodata/geoip.h"
#include "tests/unit/policy_fixture.h"

static const char *spec = "198.51.100.0/24 CN\n203.0.113.0/25 hk\n2001:db8:cc::/48 DE\n";

static struct geoip *build(const char *layout, int ip_version)
{
    fixture_write("spec.txt", spec);
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

static void expect(struct geoip *g, const char *ip, const char *want)
{
    struct flow_addr a;
    char code[3] = "";
    assert_true(flow_addr_parse_ip(&a, ip));
    bool found = geoip_country(g, &a, code);
    if (!want) {
        assert_false(found);
        return;
    }
    assert_true(found);
    assert_string_equal(code, want);
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

static int teardown(void **state)
{
    (void)state;
    fixture_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(geolite2_layout),
        cmocka_unit_test(dbip_layout_registered_country),
        cmocka_unit_test(ip_location_db_layout),
        cmocka_unit_test(bad_files_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
