#!/bin/sh
# fetch.sh OUT — installs a real, freely licensed country database at OUT:
# geo-whois-asn-country (CC0, IPv4 and IPv6 in one file) from the npm
# package @ip-location-db/geo-whois-asn-country-mmdb. Needs npm.
set -eu
out=${1:-geodata/country.mmdb}
package=@ip-location-db/geo-whois-asn-country-mmdb
command -v npm >/dev/null 2>&1 || { echo "geodata: npm is needed (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "geodata: fetching $package"
(cd "$work" && npm pack --silent "$package" >/dev/null) || { echo "geodata: npm pack $package failed" >&2; exit 1; }
tar -xzf "$work"/*.tgz -C "$work" package/geo-whois-asn-country.mmdb
mkdir -p "$(dirname "$out")"
install -m 0644 "$work/package/geo-whois-asn-country.mmdb" "$out"
echo "geodata: installed $out ($(wc -c < "$out") bytes, CC0, ip-location-db geo-whois-asn-country)"
