#!/bin/sh
# bad-input.t -- every broken scenario in tests/bad-input is refused with the
# error its first line announces.
#
# Each tests/bad-input/NAME.yaml starts with "# expect: LINE:COL: TEXT": `mqspec
# check FILE` must exit 2 and print "FILE:LINE:COL:" followed (on the same line)
# by TEXT. Each directory tests/bad-input/DIR/ is checked as a whole (for errors
# across files, such as duplicate ids); its files with an expect line are judged
# the same way. Prints TAP for prove.
cd "$(dirname "$0")/.." || exit 1
MQSPEC=${MQSPEC:-${BUILD:-build}/mqspec}
if [ ! -x "$MQSPEC" ]; then
    echo "1..0 # SKIP $MQSPEC is not built"
    exit 0
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
n=0
failed=0

judge() {   # judge TARGET FILE: run check on TARGET, look for FILE's expected error
    target=$1
    file=$2
    n=$((n + 1))
    expect=$(sed -n '1s/^# expect: //p' "$file")
    if [ -z "$expect" ]; then
        echo "not ok $n - $file has no '# expect: LINE:COL: text' first line"
        failed=$((failed + 1))
        return
    fi
    pos=${expect%%: *}
    text=${expect#*: }
    "$MQSPEC" check "$target" >/dev/null 2>"$out"
    status=$?
    if [ "$status" -ne 2 ]; then
        echo "not ok $n - $file: exit status $status, expected 2"
        sed 's/^/#   /' "$out"
        failed=$((failed + 1))
    elif ! grep -F -- "$file:$pos: " "$out" | grep -qF -- "$text"; then
        echo "not ok $n - $file: no error '$file:$pos: ...$text...'"
        sed 's/^/#   got: /' "$out"
        failed=$((failed + 1))
    else
        echo "ok $n - $file: $pos: $text"
    fi
}

for f in tests/bad-input/*.yaml; do
    judge "$f" "$f"
done
for d in tests/bad-input/*/; do
    [ -d "$d" ] || continue
    d=${d%/}
    for f in "$d"/*.yaml "$d"/*.yml; do
        [ -f "$f" ] && head -1 "$f" | grep -q '^# expect: ' && judge "$d" "$f"
    done
done
echo "1..$n"
[ "$failed" -eq 0 ]
