#!/usr/bin/env bash
# The playground page, in headless Chromium (Debian's chromium, driven over the DevTools
# protocol by tests/browser/playground.mjs): a question from corpus/ shows the answer, its
# citations, the confidence and the ranked chunks with each stage's scores; a collection that
# refuses shows the refusal reason.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
[ -n "$CHROMIUM" ] || fail "chromium is not installed (tools/setup.sh installs it)"
command -v node >/dev/null || fail "node is not installed (tools/setup.sh installs it)"
export CHROMIUM

lore_ok idx index "$CORPUS/articles" --embedder hash:256 -q
mkdir -p "$TMP/one"
cp "$CORPUS/articles/resetting-your-password.md" "$TMP/one/"
lore_ok idx_strict index "$TMP/one" --collection strict --embedder hash:256 -q
printf '{"answer": {"threshold": 0}}\n' >"$LORE_DATA/default/config.json"
printf '{"answer": {"threshold": 1}}\n' >"$LORE_DATA/strict/config.json"
serve_start s1 --web "$LORE_SOURCE_DIR/web"

http page GET /
expect_code 200 "GET /"
assert_grep "$HDR" '^Content-Type: text/html' "playground: HTML"
assert_grep "$HDR" "^Content-Security-Policy: default-src 'self'" "playground: CSP"
http js GET /app.js
expect_code 200 "GET /app.js"
http traversal GET /../CMakeLists.txt --path-as-is
assert_no_grep "$OUT" 'cmake_minimum_required' "playground: no files outside web/"

# A labelled query of the corpus (q003: how long the password reset link is valid),
# answered by the password article kb-0001.
Q=$(grep -m1 '"_id": *"q003"' "$CORPUS/queries.jsonl" | sed 's/.*"text": *"\([^"]*\)".*/\1/')
[ -n "$Q" ] || fail "corpus/queries.jsonl has no query q003"
note "asking: $Q"
TMPDIR=$TMP run page1 node "$LORE_SOURCE_DIR/tests/browser/playground.mjs" "$URL/" "$Q" default
expect_rc 0 "playground run"
assert_eq "$(json_str status)" done "page: finished"
assert_eq "$(json_num error)" null "page: no error shown"
assert_eq "$(json_str decision)" answered "page: answered"
assert_grep "$OUT" '"confidence":"[01]\.[0-9]{3}"' "page: confidence shown"
assert_grep "$OUT" '"answer":"([^"\\]|\\.){20,}' "page: answer text shown"
assert_grep "$OUT" '"citations":\["\[1\] [^"]*\(kb-0001\)"' "page: citation of kb-0001 shown"
assert_grep "$OUT" '"chunks":\[\["1","[^"]*\[kb-0001\]' "page: ranked chunk 1 is kb-0001"
# Each chunk row: rank, article, then bm25, dense, fused, rerank scores.
assert_grep "$OUT" '"chunks":\[\["1","[^"]*","[0-9]+\.[0-9]{3} \(#[0-9]+\)","-?[0-9]+\.[0-9]{3} \((#[0-9]+|-)\)","[0-9.]+","[0-9.]+"\]' "page: per-stage scores"
assert_eq "$(json_num refusal_shown)" false "page: no refusal shown"
ok "playground: answer, citations, confidence and ranked chunks with stage scores"

TMPDIR=$TMP run page2 node "$LORE_SOURCE_DIR/tests/browser/playground.mjs" "$URL/" "$Q" strict
expect_rc 0 "playground run on strict"
assert_eq "$(json_str decision)" refused "page: refused"
assert_eq "$(json_num refusal_shown)" true "page: refusal shown"
assert_eq "$(json_str refusal_reason)" low_confidence "page: refusal reason"
assert_grep "$OUT" '"citations":\[\]' "page: no citations for a refusal"
ok "playground: a refusal shows its reason"

serve_stop
assert_eq "$BG_STATUS" 0 "server exit status"
finish
