#!/bin/sh
# fetch.sh OUT — installs a real, freely licensed country database at OUT:
# geo-whois-asn-country (CC0, IPv4 and IPv6 in one file) from the npm
# package @ip-location-db/geo-whois-asn-country-mmdb, which also ships
# IPv4-only and IPv6-only files; the combined one is taken. Needs npm.
set -eu
out=${1:-geodata/country.mmdb}
package=@ip-location-db/geo-whois-asn-country-mmdb
file=package/geo-whois-asn-country.mmdb
fail() { echo "geodata: $*" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || fail "npm is needed (apt-get install npm)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "geodata: fetching $package"
(cd "$work" && npm pack --silent "$package" >/dev/null) ||
    fail "npm pack $package failed (no network, or no access to the npm registry?)"
tgz=$(ls "$work"/*.tgz 2>/dev/null | head -1)
[ -n "$tgz" ] || fail "npm pack produced no archive"
tar -xzf "$tgz" -C "$work" "$file" 2>/dev/null ||
    fail "$(basename "$tgz") has no $file; it holds: $(tar -tzf "$tgz" | tr '\n' ' ')"
# A MaxMind DB ends with its metadata, introduced by this marker.
grep -q 'MaxMind.com' "$work/$file" || fail "$file is not a MaxMind DB file"
mkdir -p "$(dirname "$out")"
install -m 0644 "$work/$file" "$out"
echo "geodata: installed $out ($(wc -c < "$out") bytes, CC0, ip-location-db geo-whois-asn-country)"
