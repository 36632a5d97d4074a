#!/usr/bin/env bash
# control_ui.sh — the built-in dashboard at /ui/ in a real browser: switchyard
# as a gateway with `control` (and a secret) on the router's loopback, two
# HTTP transfers held open through it (one to the origin's IPv4 address, one
# to its IPv6 address, each with its own Host). Debian's headless chromium
# loads /ui/#token=SECRET on the router, runs the page's script for five
# seconds of virtual time and dumps the DOM: both flows are listed with
# their destination, host, outbound and a close button, the rules with their
# hits, the policy's path. A screenshot is written under the test's output
# (KEEP_TMP=1 keeps it). curl: the page's files are served without the
# secret, the API still asks for it. Then the page is clicked, in a chromium
# driven over the DevTools protocol (control_ui_cdp.py), in real time: the
# traffic chart's legend shows a paced transfer's rate, the close button of
# a third held flow resets it (its client sees the reset, the API and the
# page list it no more, the others live on, the status line says so for a
# few seconds), and "reload policy" reloads (the reload counter moves, the
# status line says so); a screenshot after the clicks.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
command -v chromium >/dev/null || { skip "control_ui.sh" "chromium is not installed (make deps)"; e2e_finish; }
gateway_up
API=http://127.0.0.1:9090

# A domain rule, so that every flow is sniffed and the table shows its host.
write_control_policy 127.0.0.1:9090 "{domain_suffix: blocked.example, action: drop}"
start_gateway || e2e_abort "switchyard starts"

# control_peer.py's origin: its HTTP port (80) answers each request with 50000
# bytes and holds the connection; its paced port (81) gives the traffic chart
# something to draw. Each http-hold client asks ADDR for HOST, prints "got N"
# once it has the 50000 bytes, then holds (60 s) and prints how the
# connection ended: "reset", "eof" or "timeout".
bg "$NS_O" "$E2E_TMP/origin.log" python3 tests/e2e/control_peer.py origin 82 81 80
wait_tcp "$NS_O" "$ORIGIN4" 80 && wait_tcp "$NS_O" "$ORIGIN4" 81 || not_ok "origin starts"
bg "$NS_C" "$E2E_TMP/hold4.out" python3 tests/e2e/control_peer.py http-hold "$ORIGIN4" ui-four.example
bg "$NS_C" "$E2E_TMP/hold6.out" python3 tests/e2e/control_peer.py http-hold "$ORIGIN6" ui-six.example
wait_file_grep "$E2E_TMP/hold4.out" "^got" 10
wait_file_grep "$E2E_TMP/hold6.out" "^got" 10
check "the IPv4 transfer is held open through switchyard" grep -q "^got 500" "$E2E_TMP/hold4.out"
check "the IPv6 transfer is held open through switchyard" grep -q "^got 500" "$E2E_TMP/hold6.out"

code() { in_router curl -s -o /dev/null --max-time 10 -w '%{http_code} %{content_type}' "$@"; }
check "GET /ui/ without the secret: 200 text/html" test "$(code "$API/ui/")" = "200 text/html; charset=utf-8"
check "GET /ui/app.js: 200 text/javascript" test "$(code "$API/ui/app.js")" = "200 text/javascript; charset=utf-8"
check "GET /ui/style.css: 200 text/css" test "$(code "$API/ui/style.css")" = "200 text/css; charset=utf-8"
check "GET /ui: 301 to /ui/" test "$(in_router curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$API/ui")" = "301 $API/ui/"
check "GET /ui/nothing: 404" test "$(code "$API/ui/nothing" | cut -d' ' -f1)" = 404
check "... the API still asks for the secret" test "$(code "$API/connections" | cut -d' ' -f1)" = 401

# chromium PROFILE URL OUT [ARGS...]: the page in headless chromium on the router (a
# profile of its own under the test's directory), 5 s of virtual time.
chromium_page() {
    local profile=$1 url=$2 out=$3
    shift 3
    in_router chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$E2E_TMP/$profile" --virtual-time-budget=5000 "$@" "$url" \
        >"$out" 2>"$E2E_TMP/chromium.err"
}

chromium_page chromium "$API/ui/#token=t0ken" "$E2E_TMP/ui.html" --dump-dom
dom=$E2E_TMP/ui.html
check "the dashboard rendered (chromium dumped its DOM)" grep -q 'id="connections"' "$dom" ||
    sed 's/^/# /' "$E2E_TMP/chromium.err" | tail -5
python3 - "$dom" "$ORIGIN4" "$ORIGIN6" >"$E2E_TMP/rows.txt" <<'PY'
import sys
from html.parser import HTMLParser

class Rows(HTMLParser):
    """Each table row of tbody#ID as "ID|cell|cell|...", and the status line."""
    def __init__(self):
        super().__init__()
        self.body = self.cell = None
        self.rows, self.status, self.in_status = [], "", False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tbody":
            self.body = a.get("id")
        elif tag == "tr" and self.body:
            self.rows.append([self.body])
        elif tag == "td" and self.body and self.rows:
            self.cell = ""
        if a.get("id") == "status":
            self.in_status = True
    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None
        elif tag == "tbody":
            self.body = None
        elif tag == "span":
            self.in_status = False
    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        if self.in_status:
            self.status += data

p = Rows()
p.feed(open(sys.argv[1]).read())
print("status|" + p.status)
for r in p.rows:
    print("|".join(r))
PY
sed 's/^/# /' "$E2E_TMP/rows.txt"
rows=$E2E_TMP/rows.txt
check "the connections table lists the IPv4 flow: $ORIGIN4:80, host ui-four.example, DIRECT, a close button" \
    grep -qE "^connections\|[0-9]+\|gw\|192\.0\.2\.2:[0-9]+\|$ORIGIN4:80\|ui-four\.example\|default\|DIRECT\|[0-9.]+ B\|4[89]\.[0-9] KiB\|[0-9]+s\|close$" "$rows"
check "... and the IPv6 flow: [$ORIGIN6]:80, host ui-six.example" \
    grep -qE "^connections\|[0-9]+\|gw\|\[2001:db8:1::2\]:[0-9]+\|\[$ORIGIN6\]:80\|ui-six\.example\|default\|DIRECT\|" "$rows"
check "the rules table: rule 1 to REJECT, the default to DIRECT with its hits" \
    sh -c "grep -qE '^rules\|rule 1 \(line 7\)\|REJECT\|0$' '$rows' && grep -qE '^rules\|default\|DIRECT\|[2-9]$' '$rows'"
check "the policy table names the file" grep -qx "policy|path|$POLICY" "$rows"
check "the status line is no error" grep -qE '^status\|updated ' "$rows"

chromium_page chromium-notoken "$API/ui/" "$E2E_TMP/ui-notoken.html" --dump-dom
check "without the token the page says Unauthorized and lists nothing" \
    sh -c "grep -q 'Unauthorized' '$E2E_TMP/ui-notoken.html' && ! grep -q 'ui-four.example' '$E2E_TMP/ui-notoken.html'"

shot=$E2E_TMP/ui.png
chromium_page chromium "$API/ui/" /dev/null --screenshot="$shot" --window-size=1200,800 --hide-scrollbars
check "a screenshot of the dashboard was written ($shot)" test -s "$shot"
diag "screenshot: $shot${KEEP_TMP:+ (kept)}"

# Clicking: a third flow held open, the page in a chromium with its DevTools port on
# the router's loopback, driven by control_ui_cdp.py.
bg "$NS_C" "$E2E_TMP/hold-close.out" python3 tests/e2e/control_peer.py http-hold "$ORIGIN4" ui-close.example
wait_file_grep "$E2E_TMP/hold-close.out" "^got" 10
reloads() { in_router curl -sS --max-time 10 -H "Authorization: Bearer t0ken" "$API/metrics" |
    sed -n 's/^switchyard_reloads_total{result="ok"} //p'; }
reloads_before=$(reloads)
bg "$NS_R" "$E2E_TMP/chromium-cdp.err" chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$E2E_TMP/chromium-cdp" --remote-debugging-address=127.0.0.1 \
    --remote-debugging-port=9222 --remote-allow-origins=* --window-size=1200,900 --hide-scrollbars \
    "$API/ui/#token=t0ken"
CHROMIUM_PID=$REPLY
cdp() { in_router /usr/bin/python3 tests/e2e/control_ui_cdp.py 9222 "$@"; }
ROW='[...document.querySelectorAll("#connections tr")].find((r) => r.textContent.includes("ui-close.example"))'
id=$(cdp wait "(() => { const r = $ROW; return r && r.cells[0].textContent; })()" 20)
listed() { in_router curl -sS --max-time 10 -H "Authorization: Bearer t0ken" "$API/connections" |
    grep -q "\"id\":\"$1\""; }
unlisted() { ! listed "$1"; }
check "the page lists the third flow (id ${id:-none}), and so does the API" listed "${id:-none}"
# The chart draws the bytes moved between two polls, so it is read from this page,
# whose seconds are real (headless chromium's virtual ones can pass in a few real
# milliseconds), while a paced transfer runs through switchyard.
bg "$NS_C" /dev/null python3 tests/e2e/control_peer.py paced "$ORIGIN4" 81 20
check "the traffic chart's legend: direct, peaking at KiB or MiB per second" \
    cdp wait '/direct [0-9.]+ [KMG]?i?B\/s, peak [0-9.]+ (KiB|MiB)\/s/.test(document.getElementById("legend").textContent)' 15 ||
    diag "legend: $(cdp eval 'document.getElementById("legend").textContent')"
other=$(cdp eval '[...document.querySelectorAll("#connections tr")].find((r) => r.textContent.includes("ui-four.example")).cells[0].textContent')
check "clicking its close button" cdp click "($ROW).querySelector(\"button\")"
wait_file_grep "$E2E_TMP/hold-close.out" "^(reset|eof|timeout)" 10
check "... reset the flow: its client saw the reset" grep -qx reset "$E2E_TMP/hold-close.out"
check "... the API lists it no more" unlisted "${id:-none}"
check "... the page lists it no more" cdp wait "!($ROW)" 10
check "... and says so on its status line" \
    cdp wait "document.getElementById(\"status\").textContent === \"connection ${id:-none} closed\"" 5
check "... and the other flows live on (id ${other:-none})" listed "${other:-none}"
check "clicking reload policy" cdp click 'document.getElementById("reload")'
check "... the status line says the policy reloaded" \
    cdp wait 'document.getElementById("status").textContent === "policy reloaded"' 10
check "... the reload counter moved ($reloads_before -> $((reloads_before + 1)))" \
    test "$(reloads)" = $((reloads_before + 1))
shot=$E2E_TMP/ui-clicked.png
cdp screenshot "$shot"
check "a screenshot after the clicks was written ($shot)" test -s "$shot"
diag "screenshot: $shot${KEEP_TMP:+ (kept)}"
stop_pid "$CHROMIUM_PID"

stop_pid "$SWITCHYARD_PID"
e2e_finish
