#!/usr/bin/env bash
# docs_man.sh — the man pages: man/switchyard.1 and man/switchyard.yaml.5
# pass `mandoc -T lint` (warnings and worse), every key the policy loader
# accepts (its key tables in rules/policy_load.c and rules/policy_rules.c)
# is described in switchyard.yaml(5) and every key described there is one
# the loader accepts, every inbound and outbound type is there, every
# command of main.c is in switchyard(1), and `make install` puts both pages
# under share/man. Needs no network.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
page=man/switchyard.yaml.5

for f in man/switchyard.1 "$page"; do
    if out=$(mandoc -T lint -W warning "$f" 2>&1); then ok "mandoc -T lint $f"; else not_ok "mandoc -T lint $f: $out"; fi
done

# The loader's keys: each table line is {"KEY", &field} or {"KEY", COND_...};
# a rule's own key, action, is read beside the condition table.
keys=$(grep -ohE '\{"[a-z_]+", [&A-Za-z]' rules/policy_load.c rules/policy_rules.c |
    sed -E 's/^\{"([a-z_]+)".*/\1/' | sort -u)
grep -q '"action"' rules/policy_rules.c && keys=$(printf '%s\naction\n' "$keys" | sort -u)
check "the loader's key tables were found" test "$(wc -l <<<"$keys")" -ge 40

# The keys the page describes: words of its .It Ic / .Ic lines.
described=$(grep -E '^\.(It )?Ic ' "$page" | sed -E 's/^\.(It )?Ic //' | tr ' ' '\n' |
    grep -E '^[a-z_]+$' | sort -u)
missing=$(comm -23 <(echo "$keys") <(echo "$described") | tr '\n' ' ')
check "every key the loader accepts is in switchyard.yaml(5)${missing:+ (missing: $missing)}" test -z "$missing"
listed=$(grep -E '^\.It Ic ' "$page" | sed -E 's/^\.It Ic //' | tr ' ' '\n' | grep -E '^[a-z_]+$' | sort -u)
unknown=$(comm -13 <(echo "$keys") <(echo "$listed") | tr '\n' ' ')
check "every key switchyard.yaml(5) describes is one the loader accepts${unknown:+ (unknown: $unknown)}" test -z "$unknown"

types=$(grep -ohE '\[(INBOUND|OUTBOUND)_[A-Z0-9_]+\] = "[a-z0-9-]+"' rules/policy_words.c | sed -E 's/.*"(.*)"/\1/' | sort -u)
missing=$(for t in $types; do grep -qE "^\.(It )?Cm .*\b$t\b" "$page" || echo "$t"; done | tr '\n' ' ')
check "every inbound and outbound type is in switchyard.yaml(5)${missing:+ (missing: $missing)}" test -z "$missing"

cmds=$(sed -n 's/^    {"\([a-z]*\)", cmd_.*/\1/p' engine/cli/main.c)
missing=$(for c in $cmds; do grep -qx "\.Ss $c" man/switchyard.1 || echo "$c"; done | tr '\n' ' ')
check "every command has a section in switchyard(1)${missing:+ (missing: $missing)}" test -z "$missing"

make -s install-man DESTDIR="$E2E_TMP/root" PREFIX=/usr >/dev/null
check "make install puts switchyard(1) in share/man/man1" test -f "$E2E_TMP/root/usr/share/man/man1/switchyard.1"
check "... and switchyard.yaml(5) in share/man/man5" test -f "$E2E_TMP/root/usr/share/man/man5/switchyard.yaml.5"
check "man finds them there" sh -c "MANPATH=$E2E_TMP/root/usr/share/man man -w switchyard.yaml | grep -q man5/switchyard.yaml.5"
e2e_finish
