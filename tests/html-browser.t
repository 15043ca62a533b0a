#!/bin/sh
# html-browser.t -- the HTML report as a reader sees it: made from a real run
# against the bundled broker (scenarios/queueing, which pass, and
# tests/data/fails-once.yaml with --no-retry, which fails), opened in headless
# Chromium (Debian chromium). Checks: Chromium renders it and logs no console
# message (the report has no scripts: any CONSOLE line, "Uncaught" error or
# blocked load is a defect), the rendered DOM holds no script and loads
# nothing, the summary counts and the per-scenario verdicts shown equal the
# JSON's, the failure has its section with a packet trace. Keeps a screenshot
# (build/artefacts/report.png, 1280x2000) with the HTML and JSON beside it.
# Without chromium: `1..0 # SKIP`. Nothing here reaches a network.
cd "$(dirname "$0")/.." || exit 1
build=${BUILD:-build}
chrome=""
for c in chromium chromium-browser; do
    command -v "$c" >/dev/null 2>&1 && { chrome=$(command -v "$c"); break; }
done
if [ -z "$chrome" ]; then
    echo "1..0 # SKIP chromium not available"
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "1..0 # SKIP python3 not available"
    exit 0
fi
art="$build/artefacts"
mkdir -p "$art"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rm -f "$art/report.png" "$art/report.html" "$art/results.json"

"$build/mqspec" run --no-retry --json "$art/results.json" --html "$art/report.html" \
    scenarios/queueing tests/data/fails-once.yaml > "$tmp/tap" 2> "$tmp/run.err"
rc=$?

# Chromium alone: no network, no first-run, a private profile, logs on stderr.
chrome_run() {
    timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-default-apps --disable-extensions --no-default-browser-check \
        --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 "$@"
}
url="file://$(pwd)/$art/report.html"
chrome_run --dump-dom "$url" > "$tmp/dom.html" 2> "$tmp/dom.log"
drc=$?
# The console check must be able to fail: a page with a console.error and an
# uncaught exception is rendered the same way.
printf '<!DOCTYPE html><title>x</title><script>console.error("mqspec-probe"); nosuch();</script>\n' \
    > "$tmp/probe.html"
chrome_run --dump-dom "file://$tmp/probe.html" > /dev/null 2> "$tmp/probe.log"
chrome_run --hide-scrollbars --window-size=1280,2000 --screenshot="$(pwd)/$art/report.png" \
    "$url" > /dev/null 2> "$tmp/shot.log"
src=$?

exec python3 - "$rc" "$drc" "$src" "$art/results.json" "$tmp/dom.html" "$tmp/dom.log" \
    "$tmp/shot.log" "$art/report.png" "$tmp/run.err" "$tmp/probe.log" <<'PY'
import json, re, struct, sys
from html.parser import HTMLParser

rc, drc, src = (int(a) for a in sys.argv[1:4])
jpath, dompath, domlog, shotlog, png, runerr, probelog = sys.argv[4:11]
n = 0
failed = 0
def ok(cond, name, diag=None):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
    if not cond:
        failed = 1
        if diag:
            for line in str(diag).splitlines()[:30]:
                print("#   " + line)

ok(rc == 1, "the run exits 1: one scenario failed (got %d)" % rc, open(runerr).read())
try:
    res = json.load(open(jpath))
except Exception as e:
    res = {"counts": {}, "scenarios": []}
    ok(False, "the results JSON reads", e)
counts = res.get("counts", {})
scen = res.get("scenarios", [])
ok(counts.get("fail") == 1 and counts.get("pass", 0) >= 3,
   "the JSON has passes and the one failure (%s)" % counts)

ok(drc == 0, "chromium --dump-dom exits 0 (got %d)" % drc, open(domlog).read())
ok(src == 0, "chromium --screenshot exits 0 (got %d)" % src, open(shotlog).read())
CONSOLE = re.compile(r":CONSOLE\b|Uncaught|Not allowed to load|Refused to")
def console_lines(log):
    return [l.rstrip() for l in open(log, errors="replace") if CONSOLE.search(l)]
probe = console_lines(probelog)
ok(any("mqspec-probe" in l for l in probe) and any("Uncaught" in l for l in probe),
   "the console check sees a console.error and an uncaught exception in a probe page",
   open(probelog, errors="replace").read())
console = console_lines(domlog) + console_lines(shotlog)
ok(not console, "no console message while rendering (%d)" % len(console), "\n".join(console))

dom = open(dompath, errors="replace").read()

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = {}          # id -> text
        self.cur = []          # stack of (id, parts)
        self.tags = []
        self.loads = []
        self.section = None
        self.rows = []         # rows of the Scenarios table: [cell texts]
        self.row = None
        self.cell = None
        self.badges = []       # badge classes in the current row
        self.h2 = None
        self.pre = 0
        self.text = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        for k in ("src", "srcset", "data", "poster"):
            if a.get(k):
                self.loads.append("%s %s=%s" % (tag, k, a[k]))
        if tag == "link" and a.get("href"):
            self.loads.append("link href=%s" % a["href"])
        if tag == "h2":
            self.h2 = []
        if a.get("id"):
            self.cur.append([a["id"], tag, []])
        if tag == "pre":
            self.pre += 1
        if self.section == "scenarios":
            if tag == "tr":
                self.row = {"cells": [], "badges": []}
            elif tag in ("td", "th") and self.row is not None:
                self.cell = []
            elif tag == "span" and self.row is not None and "v" in (a.get("class") or "").split():
                self.row["badges"].append([c for c in a["class"].split() if c != "v"][0])
    def handle_endtag(self, tag):
        if tag == "h2" and self.h2 is not None:
            t = "".join(self.h2).strip().lower()
            self.section = "scenarios" if t == "scenarios" else t
            self.h2 = None
        if self.cur and self.cur[-1][1] == tag:
            i, _, parts = self.cur.pop()
            self.ids[i] = "".join(parts).strip()
        if self.section == "scenarios":
            if tag in ("td", "th") and self.cell is not None and self.row is not None:
                self.row["cells"].append("".join(self.cell).strip())
                self.cell = None
            elif tag == "tr" and self.row is not None:
                self.rows.append(self.row)
                self.row = None
    def handle_data(self, d):
        self.text.append(d)
        if self.h2 is not None:
            self.h2.append(d)
        for c in self.cur:
            c[2].append(d)
        if self.cell is not None:
            self.cell.append(d)

p = P()
p.feed(dom)
ok("h1" in p.tags and "mqspec conformance report" in dom, "the DOM has the report's title")
ok("script" not in p.tags and not p.loads, "the DOM has no script and loads nothing", p.loads)

verdicts = ("pass", "fail", "warn", "info", "skip", "error", "known", "flaky")
shown = {}
for v in verdicts:
    t = p.ids.get("count-" + v)
    shown[v] = int(t) if t is not None and t.isdigit() else t
missing = [v for v in verdicts if v in counts and shown.get(v) is None]
ok(not missing, "the summary shows a count per verdict", "missing: %s" % missing)
diff = {v: (shown.get(v), counts[v]) for v in counts if v in verdicts and shown.get(v) != counts[v]}
ok(not diff, "the summary counts shown equal the JSON's (%s)" %
   ", ".join("%s %s" % (counts[v], v) for v in verdicts if v in counts), "shown vs JSON: %s" % diff)
m = re.search(r"(\d+) scenarios?\.", "".join(p.text))
ok(m and int(m.group(1)) == len(scen), "the total shown (%s) is the JSON's %d scenarios" %
   (m.group(1) if m else "none", len(scen)))

body = [r for r in p.rows if r["badges"]]
want = {s["id"]: s["verdict"] for s in scen}
rows = {}
for r in body:
    # The first cell is the id (code) and the title; the longest id it starts with.
    ids = sorted((i for i in want if r["cells"] and r["cells"][0].startswith(i)), key=len)
    rows[ids[-1] if ids else r["cells"][0][:60]] = r["badges"][0]
ok(rows == want, "every scenario's row shows its JSON verdict (%d rows)" % len(rows),
   "shown: %s\nJSON:  %s" % (rows, want))

fails = [s["id"] for s in scen if s["verdict"] == "fail"]
ok(fails and all(f in dom for f in fails) and "Packet trace" in dom and "pre" in p.tags,
   "the failure has its section with a packet trace (%s)" % ", ".join(fails))

try:
    head = open(png, "rb").read(32)
    w, h = struct.unpack(">II", head[16:24])
    size = len(open(png, "rb").read())
    ok(head[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (1280, 2000) and size > 20000,
       "screenshot kept: %s (%dx%d, %d bytes)" % (png, w, h, size))
except Exception as e:
    ok(False, "screenshot kept: %s" % png, e)

print("1..%d" % n)
sys.exit(failed)
PY
