#!/usr/bin/perl
# mkmmdb.pl — builds a small MaxMind DB country database for tests, with the
# real MMDB writer (Debian's libmaxmind-db-writer-perl).
#
#   perl geodata/mkmmdb.pl --layout geolite2|dbip|iplocation [--ip-version 4|6] OUT < SPEC
#
# SPEC has one "CIDR CC" a line ('#' comments; IPv6 lines are skipped for
# --ip-version 4). Layouts, as the country is
# found in real databases:
#   geolite2    country.iso_code (and registered_country.iso_code)
#   dbip        registered_country.iso_code only (a country-less record)
#   iplocation  a top-level country_code (ip-location-db)
use strict;
use warnings;
use Getopt::Long;
use MaxMind::DB::Writer::Tree;

my ($layout, $ip_version) = ('geolite2', 6);
GetOptions('layout=s' => \$layout, 'ip-version=i' => \$ip_version)
    or die "usage: mkmmdb.pl --layout L [--ip-version 4|6] OUT < SPEC\n";
my $out = shift or die "mkmmdb.pl: no output file\n";

my %types = (
    geolite2 => {country => 'map', registered_country => 'map', iso_code => 'utf8_string'},
    dbip => {registered_country => 'map', iso_code => 'utf8_string'},
    iplocation => {country_code => 'utf8_string'},
);
die "mkmmdb.pl: unknown layout '$layout'\n" unless $types{$layout};

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version => $ip_version,
    record_size => 24,
    database_type => "switchyard-test-$layout",
    languages => ['en'],
    description => {en => "switchyard test database ($layout)"},
    map_key_type_callback => sub { $types{$layout}{ $_[0] } },
    alias_ipv6_to_ipv4 => ($ip_version == 6 ? 1 : 0),
    remove_reserved_networks => 0,
);

while (my $line = <STDIN>) {
    $line =~ s/#.*//;
    next unless $line =~ /\S/;
    my ($cidr, $cc) = split ' ', $line;
    next if $ip_version == 4 && $cidr =~ /:/;    # an IPv4 tree holds IPv4 only
    my $record =
          $layout eq 'geolite2' ? {country => {iso_code => $cc}, registered_country => {iso_code => $cc}}
        : $layout eq 'dbip'     ? {registered_country => {iso_code => $cc}}
        :                         {country_code => $cc};
    $tree->insert_network($cidr, $record);
}
open my $fh, '>:raw', $out or die "mkmmdb.pl: $out: $!\n";
$tree->write_tree($fh);
close $fh or die "mkmmdb.pl: $out: $!\n";
