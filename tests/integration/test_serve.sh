#!/usr/bin/env bash
# lore serve: every endpoint and every error, SSE framing, the answer cache, conversations,
# the access log and the metrics, over the sample help center.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

# ---- 1. command line ----
lore_ok help serve --help
assert_grep "$OUT" '^usage: lore serve' "serve --help: usage"
assert_grep "$OUT" '--listen HOST:PORT' "serve --help: lists --listen"
run badlisten "$LORE" serve --listen nonsense
expect_rc 2 "serve --listen nonsense"
assert_grep "$ERR" "listen wants HOST:PORT" "serve --listen nonsense: message"
run badworkers "$LORE" serve --workers 0
expect_rc 2 "serve --workers 0"
assert_grep "$ERR" -- "--workers wants a whole number" "serve --workers 0: message"
printf 'default short\n' >"$TMP/badkeys"
run badkeys "$LORE" serve --keys "$TMP/badkeys" --listen 127.0.0.1:0
expect_rc 1 "serve with a bad keys file"
assert_grep "$ERR" "badkeys:1: a key must be 16 to 256" "bad keys file: message names file and line"
ok "command line: help, usage errors exit 2, a bad keys file exits 1 naming its line"

# ---- 2. collections: the corpus (answers at any confidence) and a strict one (refuses) ----
lore_ok idx index "$CORPUS/articles" --embedder hash:256 --json -q
NART=$(json_num articles)
mkdir -p "$TMP/one"
cp "$CORPUS/articles/"*password* "$TMP/one/" 2>/dev/null || cp "$(ls "$CORPUS"/articles/*.md | head -n1)" "$TMP/one/"
lore_ok idx_strict index "$TMP/one" --collection strict --embedder hash:256 -q
# Threshold 0: every retrieved question is answered (extractively), so the answer path runs
# whatever the calibration says; threshold 1: everything is refused.
printf '{"answer": {"threshold": 0}}\n' >"$LORE_DATA/default/config.json"
printf '{"answer": {"threshold": 1}}\n' >"$LORE_DATA/strict/config.json"
# A collection whose database is garbage: its errors must not leak paths.
mkdir -p "$LORE_DATA/broken"
printf 'this is not a database' >"$LORE_DATA/broken/lore.db"

serve_start s1 --max-question 200 --max-body 4096 --cors-origin http://app.example
DB_SHA=$(sha "$LORE_DATA/default/lore.db")

# ---- 3. health, readiness, collections ----
http health GET /healthz
expect_code 200 "GET /healthz"
assert_eq "$(json_str status)" ok "healthz status"
http ready GET /readyz
expect_code 200 "GET /readyz"
assert_eq "$(json_str status)" ready "readyz status"
http colls GET /v1/collections
expect_code 200 "GET /v1/collections"
assert_grep "$OUT" "\"name\":\"default\",\"articles\":$NART," "collections: default with its article count"
assert_grep "$OUT" '"name":"strict","articles":1,' "collections: strict"
assert_grep "$OUT" '"name":"broken","error":"unreadable' "collections: a broken one is reported"
assert_no_grep "$OUT" "$TMP" "collections: no paths"
ok "healthz, readyz, collections"

# ---- 4. search ----
Q='How do I reset my password?'
http search POST /v1/search -H 'Content-Type: application/json' \
    -d "{\"question\":\"$Q\",\"k\":3}"
expect_code 200 "POST /v1/search"
assert_grep "$HDR" '^Content-Type: application/json' "search: content type"
assert_eq "$(json_str collection)" default "search: collection"
assert_eq "$(json_str mode)" hybrid "search: mode"
conf=$(json_num confidence)
assert_float "$conf" '>=' 0 "search: confidence"
assert_float "$conf" '<=' 1 "search: confidence"
assert_grep "$OUT" '"decision":"(answer|refuse)"' "search: decision"
search_hits >"$TMP/hits"
assert_eq "$(wc -l <"$TMP/hits" | tr -d ' ')" 3 "search k=3: results"
assert_eq "$(search_ids | head -n1)" kb-0001 "search: the password article first"
while IFS= read -r h; do
    printf '%s\n' "$h" >"$TMP/hit"
    for k in bm25 bm25_rank dense dense_rank fused rerank chunk_id; do
        [ -n "$(json_num $k "$TMP/hit")" ] || fail "search hit without $k: $h"
    done
    [ -n "$(json_str snippet "$TMP/hit")" ] || fail "search hit without a snippet"
done <"$TMP/hits"
for st in analyze bm25 embed vector fuse rerank fetch; do
    grep -q "\"timings_ms\":{.*\"$st\":" "$OUT" || fail "search: no $st timing"
done
GEN=$(json_num generation)
assert_eq "$(json_num cached)" false "search: first time computed"
cp "$OUT" "$TMP/search1.json"
http search_bm25 POST /v1/search -d "{\"question\":\"$Q\",\"mode\":\"bm25\",\"k\":2}"
expect_code 200 "search mode bm25"
assert_eq "$(json_str mode)" bm25 "search mode bm25: mode"
assert_no_grep "$OUT" '"dense_rank":[1-9]' "search mode bm25: no dense ranks"
http search_again POST /v1/search -d "{\"question\":\"how do i reset my password\",\"k\":3}"
expect_code 200 "search again"
assert_eq "$(json_num cached)" true "search: a normalised repeat comes from the cache"
assert_eq "$(json_str question)" "how do i reset my password" "search from the cache: the question as asked"
assert_eq "$(search_ids | tr '\n' ' ')" "$(search_ids "$TMP/search1.json" | tr '\n' ' ')" "search from the cache: same results"
assert_grep "$OUT" '"timings_ms":\{\}' "search from the cache: no stage ran"
ok "search: ranked chunks with every stage's scores, confidence, decision, timings; cached repeats"

# ---- 5. errors ----
check_error() { # NAME STATUS CODE MESSAGE-ERE WHAT  (request already made)
    expect_code "$2" "$5"
    assert_eq "$(json_str code)" "$3" "$5: error code"
    assert_grep "$OUT" "\"message\":\"$4" "$5: message"
    # Neither the data directory, the source tree, a C file nor the database engine shows.
    assert_no_grep "$OUT" "$TMP|$LORE_SOURCE_DIR|$LORE_BUILD_DIR|\\.c:|sqlite" "$5: no paths or internals"
}
http e1 POST /v1/search -d '{"question": "x",'
check_error e1 400 bad_json 'the request body is not valid JSON' "malformed JSON"
http e2 POST /v1/search -d '["x"]'
check_error e2 400 bad_json 'the request body must be a JSON object' "JSON array body"
http e3 POST /v1/search -d '{"question": 5}'
check_error e3 400 bad_field "field 'question' must be a string" "question of the wrong type"
http e4 POST /v1/search -d '{"question": "x", "k": 0}'
check_error e4 400 bad_field "field 'k' must be from 1 to 50" "k out of range"
http e5 POST /v1/search -d '{"question": "x", "k": 2.5}'
check_error e5 400 bad_field "field 'k' must be a whole number" "k not whole"
http e6 POST /v1/search -d '{"question": "x", "colection": "default"}'
check_error e6 400 unknown_field "unknown field 'colection'" "misspelt field"
http e7 POST /v1/search -d '{"k": 3}'
check_error e7 400 missing_field "field 'question' is required" "no question"
http e8 POST /v1/search -d '{"question": "   "}'
check_error e8 400 bad_field "field 'question' is empty" "blank question"
long=$(head -c 300 /dev/zero | tr '\0' a)
http e9 POST /v1/search -d "{\"question\": \"$long\"}"
check_error e9 413 question_too_long "field 'question' is 300 bytes; the limit is 200" "question too long"
head -c 5000 /dev/zero | tr '\0' ' ' >"$TMP/bigbody"
http e10 POST /v1/search --data-binary @"$TMP/bigbody"
check_error e10 413 body_too_large 'the request body is over the limit of 4096 bytes' "body too large"
http e11 POST /v1/search -d '{"question": "x", "collection": "nosuch"}'
check_error e11 404 unknown_collection "no collection 'nosuch'" "unknown collection"
http e12 POST /v1/search -d '{"question": "x", "collection": "../etc"}'
check_error e12 400 bad_field "field 'collection' must be 1 to 64" "bad collection name"
http e13 GET /v1/search
check_error e13 405 method_not_allowed '/v1/search wants POST' "GET on a POST route"
assert_grep "$HDR" '^Allow: POST' "405: Allow header"
http e14 POST /healthz -d '{}'
check_error e14 405 method_not_allowed '/healthz wants GET' "POST on a GET route"
http e15 GET /v2/nothing
check_error e15 404 not_found 'no route GET /v2/nothing' "unknown route"
http e16 POST /v1/search -H 'Content-Type: text/plain' -d '{"question": "x"}'
check_error e16 415 unsupported_media_type 'send the request body as application/json' "text/plain body"
printf '{"question": "caf\xe9"}' >"$TMP/latin1"
http e17 POST /v1/search --data-binary @"$TMP/latin1"
check_error e17 400 bad_field "field 'question' is not valid UTF-8" "invalid UTF-8"
http e18 POST /v1/search -d '{"question": "x", "mode": "fuzzy"}'
check_error e18 400 bad_field "field 'mode' must be" "unknown mode"
http e19 POST /v1/search -d '{"question": "x", "collection": "broken"}'
check_error e19 500 internal 'internal error; the server log has the details' "broken collection"
assert_grep "$SERVE_ERR" 'broken' "broken collection: the details are in the server log"
http e20 POST /v1/search
check_error e20 400 bad_request 'the request body is empty' "empty body"
http e21 POST /v1/answer -d '{"question": "x", "extractive": "yes"}'
check_error e21 400 bad_field "field 'extractive' must be true or false" "answer: wrong type"
http e22 POST /v1/answer -d '{"question": "x", "conversation_id": "a b"}'
check_error e22 400 bad_field 'bad conversation_id' "answer: bad conversation id"
# Huge headers: libmicrohttpd refuses them before any handler runs.
big=$(head -c 70000 /dev/zero | tr '\0' a)
http e23 POST /v1/search -H "X-Filler: $big" -d '{"question": "x"}'
_checks=$((_checks + 1))
[ "$CODE" = 431 ] || [ "$CODE" = 413 ] || [ "$CODE" = 400 ] || fail "huge header: HTTP $CODE, want a 4xx"
kill -0 "$SERVE_PID" 2>/dev/null || fail "the server died on bad input"
ok "errors: malformed JSON, types, ranges, unknown fields and collections, limits, methods, routes, media types, huge headers: clear 4xx JSON without paths"

# ---- 6. CORS ----
http cors1 GET /healthz -H 'Origin: http://app.example'
assert_grep "$HDR" '^Access-Control-Allow-Origin: http://app.example' "CORS: allowed origin echoed"
http cors2 GET /healthz -H 'Origin: http://evil.example'
assert_no_grep "$HDR" '^Access-Control-Allow-Origin' "CORS: other origins get no grant"
http cors3 OPTIONS /v1/search -H 'Origin: http://app.example' \
    -H 'Access-Control-Request-Method: POST'
expect_code 204 "CORS preflight"
assert_grep "$HDR" '^Access-Control-Allow-Methods: .*POST' "CORS preflight: methods"
assert_grep "$HDR" '^Access-Control-Allow-Headers: .*Authorization' "CORS preflight: headers"
ok "CORS: configured origin allowed, others not, preflight answered"

# ---- 7. answers: JSON, the cache, refusals ----
http a1 POST /v1/answer -d "{\"question\":\"$Q\"}"
expect_code 200 "POST /v1/answer"
assert_eq "$(json_num answered)" true "answer: answered at threshold 0"
assert_eq "$(json_str mode)" extractive "answer: extractive without an LLM"
assert_eq "$(json_num cached)" false "answer: first time not cached"
assert_grep "$OUT" '"answer":"[^"]' "answer: text"
assert_grep "$OUT" '"citations":\[\{"n":[0-9]+,"cited":true,[^]]*"article_id":"kb-0001"' "answer: cites kb-0001"
assert_eq "$(json_num refusal)" null "answer: no refusal"
cp "$OUT" "$TMP/a1.json"
# The same question, written differently: one cache entry.
http a2 POST /v1/answer -d '{"question":"  how do i RESET my password  "}'
expect_code 200 "POST /v1/answer again"
assert_eq "$(json_num cached)" true "answer: normalised repeat comes from the cache"
assert_eq "$(json_str answer)" "$(json_str answer "$TMP/a1.json")" "answer: cached text"
http a3 POST /v1/answer -d "{\"question\":\"$Q\",\"extractive\":true}"
assert_eq "$(json_num cached)" false "answer: a different variant is not the same entry"
http a4 POST /v1/answer -d "{\"question\":\"$Q\",\"collection\":\"strict\"}"
expect_code 200 "answer on strict"
assert_eq "$(json_num answered)" false "strict: refused"
assert_eq "$(json_num answer)" null "strict: the refused text is withheld"
assert_eq "$(json_str reason)" low_confidence "strict: refusal reason"
assert_eq "$(json_num handoff)" true "strict: hand-off flag"
ok "answers: JSON with citations; cache hits on normalised repeats; refusals carry a reason"

# ---- 8. SSE ----
http sse1 POST /v1/answer -H 'Accept: text/event-stream' \
    -d '{"question":"How do I turn on two-factor authentication?"}'
expect_code 200 "SSE answer"
assert_grep "$HDR" '^Content-Type: text/event-stream' "SSE: content type"
sse_events "$OUT" >"$TMP/ev1"
assert_eq "$(head -n1 "$TMP/ev1")" retrieval "SSE: retrieval first"
# The retrieval event carries the ranked sources and the confidence, ahead of the tokens.
sed -n 2p "$OUT" >"$TMP/retrieval.json"
assert_grep "$TMP/retrieval.json" '"confidence":[0-9]' "SSE retrieval: confidence"
assert_grep "$TMP/retrieval.json" '"results":\[\{"rank":1,' "SSE retrieval: ranked results"
assert_grep "$TMP/retrieval.json" '"article_id":"kb-' "SSE retrieval: results name their articles"
assert_eq "$(tail -n1 "$TMP/ev1")" done "SSE: done last"
assert_grep "$TMP/ev1" '^token$' "SSE: tokens"
assert_eq "$(tail -n2 "$TMP/ev1" | head -n1)" citations "SSE: citations before done"
# Framing: every frame is "event: NAME", "data: ONE-LINE-JSON", blank line.
awk 'NR % 3 == 1 && !/^event: [a-z]+$/ { bad = 1 }
     NR % 3 == 2 && !/^data: \{.*\}$/ { bad = 1 }
     NR % 3 == 0 && $0 != "" { bad = 1 }
     END { exit bad }' "$OUT" || { show "$OUT"; fail "SSE: frame layout"; }
_checks=$((_checks + 1))
tokens=$(grep '^data: {"text":' "$OUT" | sed 's/^data: {"text":"//; s/"}$//' | tr -d '\n')
done_answer=$(grep -A1 '^event: done' "$OUT" | sed -n 's/^data: //p' >"$TMP/done.json"; json_str answer "$TMP/done.json")
assert_eq "$tokens" "$done_answer" "SSE: the tokens make up the answer"
http sse2 POST /v1/answer -H 'Accept: text/event-stream' \
    -d "{\"question\":\"$Q\",\"collection\":\"strict\"}"
sse_events "$OUT" >"$TMP/ev2"
assert_eq "$(head -n1 "$TMP/ev2")" retrieval "SSE refusal: retrieval first"
assert_eq "$(tail -n1 "$TMP/ev2")" refusal "SSE refusal: refusal last"
assert_grep "$OUT" '^data: \{"reason":"low_confidence"' "SSE refusal: reason"
http sse3 POST /v1/answer -H 'Accept: text/event-stream' -d "{\"question\":\"$Q\"}"
sse_events "$OUT" >"$TMP/ev3"
assert_eq "$(tr '\n' ' ' <"$TMP/ev3")" "retrieval token citations done " "SSE from the cache: same events"
assert_grep "$OUT" '"cached":true' "SSE from the cache: marked cached"
# A cached answer streams the ranked chunks of its search too (the playground shows them).
sed -n 2p "$OUT" >"$TMP/retrieval3.json"
assert_grep "$TMP/retrieval3.json" '"results":\[\{"rank":1,' "SSE from the cache: ranked results"
assert_grep "$TMP/retrieval3.json" '"confidence":[0-9]' "SSE from the cache: confidence"
# The same for an answer first computed as JSON, then asked for as a stream.
http sse4a POST /v1/answer -d '{"question":"Can I export my timesheets to Excel?"}'
expect_code 200 "JSON answer before its streamed repeat"
if grep -q '_retrieval' "$OUT"; then show "$OUT"; fail "JSON answer shows the cache's retrieval"; fi
http sse4 POST /v1/answer -H 'Accept: text/event-stream' \
    -d '{"question":"can i export my timesheets to excel"}'
assert_grep "$OUT" '"cached":true' "SSE repeat of a JSON answer: marked cached"
sed -n 2p "$OUT" >"$TMP/retrieval4.json"
assert_grep "$TMP/retrieval4.json" '"results":\[\{"rank":1,' "SSE repeat of a JSON answer: ranked results"
http sse4b POST /v1/answer -d '{"question":"Can I export my timesheets to Excel?"}'
assert_grep "$OUT" '"cached":true' "JSON repeat: marked cached"
if grep -q '_retrieval' "$OUT"; then show "$OUT"; fail "cached JSON answer shows the cache's retrieval"; fi
ok "SSE: retrieval, tokens, citations, then done or refusal; framing; cached answers stream too"

# ---- 9. conversations ----
http c1 POST /v1/answer -d '{"question":"How do I export my timesheets?","conversation_id":"chat-1"}'
expect_code 200 "conversation turn 1"
assert_eq "$(json_str conversation_id)" chat-1 "conversation: id echoed"
http c2 POST /v1/answer -d '{"question":"How do I export my timesheets?","conversation_id":"chat-1"}'
expect_code 200 "conversation turn 2"
assert_eq "$(json_num cached)" false "conversation: a question with history is not served from the cache"
http c3 POST /v1/answer -d '{"question":"x","collection":"strict","conversation_id":"chat-1"}'
check_error c3 409 conversation_conflict 'conversation_id belongs to another collection' "conversation reused across collections"
[ -f "$LORE_DATA/conversations.db" ] || fail "conversations are not in DATA/conversations.db"
assert_eq "$(sha "$LORE_DATA/default/lore.db")" "$DB_SHA" "serving never writes the collection's lore.db"
ok "conversations: kept in their own database, bound to one collection"

# ---- 10. metrics and access log ----
http m GET /metrics
expect_code 200 "GET /metrics"
assert_grep "$HDR" '^Content-Type: text/plain; version=0.0.4' "metrics: content type"
assert_grep "$OUT" '^lore_http_requests_total\{route="search",status="200"\} [1-9]' "metrics: search 200s"
assert_grep "$OUT" '^lore_http_requests_total\{route="search",status="400"\} [1-9]' "metrics: search 400s"
assert_grep "$OUT" '^lore_stage_duration_seconds_bucket\{stage="bm25",le="\+Inf"\} [1-9]' "metrics: bm25 histogram"
assert_grep "$OUT" '^lore_stage_duration_seconds_count\{stage="search"\} [1-9]' "metrics: answer search stage"
assert_grep "$OUT" '^lore_refusals_total\{reason="low_confidence"\} [1-9]' "metrics: refusals by reason"
assert_grep "$OUT" '^lore_answer_cache_hits_total [1-9]' "metrics: cache hits"
assert_grep "$OUT" '^lore_search_cache_hits_total [1-9]' "metrics: search cache hits"
assert_grep "$OUT" '^lore_llm_errors_total 0$' "metrics: LLM errors"
assert_grep "$OUT" '^# TYPE lore_stage_duration_seconds histogram' "metrics: histogram type"
# Access log: one JSON object per line, one line per request.
bad=$(grep -cvE '^\{"ts":"[0-9T:Z-]+","method":"[A-Z]+","path":"[^"]*","route":"[a-z_]+","status":[0-9]{3},"ms":[0-9.]+.*,"stages_ms":\{.*\}\}$' "$SERVE_ACCESS")
assert_eq "$bad" 0 "access log: every line is one JSON object"
assert_grep "$SERVE_ACCESS" '"route":"search","status":200,.*"generation":[0-9]+,.*"stages_ms":\{"analyze":[0-9.]+,"bm25":' "access log: search stages"
assert_grep "$SERVE_ACCESS" '"route":"answer","status":200,.*"cache":"hit"' "access log: cache hits"
assert_grep "$SERVE_ACCESS" '"status":404,.*"error":"unknown_collection"' "access log: error codes"
ok "metrics: requests, stage histograms, refusals, cache; access log: one JSON line per request"

serve_stop
assert_eq "$BG_STATUS" 0 "SIGTERM: exit status"
assert_grep "$SERVE_ERR" 'stopped' "SIGTERM: stopped cleanly"

# ---- 11. API keys ----
K1=key-for-default-0123456789
KA=admin-key-abcdefghijklmnop
printf '# keys\ndefault %s\n* %s\n' "$K1" "$KA" >"$TMP/keys"
serve_start s2 --keys "$TMP/keys"
http k0 POST /v1/search -d '{"question":"x"}'
check_error k0 401 unauthorized 'this service needs an API key' "no key"
assert_grep "$HDR" '^WWW-Authenticate: Bearer' "401: WWW-Authenticate"
http k1 POST /v1/search -H "Authorization: Bearer wrong-key-0000000000000" -d '{"question":"x"}'
check_error k1 401 unauthorized 'the API key is not valid' "wrong key"
http k2 POST /v1/search -H "Authorization: Bearer $K1" -d '{"question":"x","collection":"strict"}'
check_error k2 403 forbidden "the API key does not grant collection 'strict'" "key of another collection"
http k3 POST /v1/search -H "Authorization: Bearer $K1" -d '{"question":"refund"}'
expect_code 200 "key of the collection"
http k4 POST /v1/search -H "Authorization: Bearer $KA" -d '{"question":"refund","collection":"strict"}'
expect_code 200 "wildcard key"
http k5 GET /v1/collections -H "Authorization: Bearer $K1"
expect_code 200 "collections with a key"
assert_grep "$OUT" '"name":"default"' "collections: granted one listed"
assert_no_grep "$OUT" '"name":"strict"' "collections: others hidden"
http k6 GET /v1/collections
expect_code 401 "collections without a key"
http k7 GET /healthz
expect_code 200 "healthz needs no key"
http k8 POST /v1/search -H "Authorization: Bearer ${K1}x" -d '{"question":"x"}'
expect_code 401 "a key with an extra byte"
http k9 POST /v1/search -H "Authorization: Bearer ${K1%?}" -d '{"question":"x"}'
expect_code 401 "a key missing its last byte"
serve_stop
assert_eq "$BG_STATUS" 0 "keys server: exit status"
ok "API keys: 401 without or with a wrong key, 403 for another collection, per-collection listing"

# ---- 12. the 429 path ----
serve_start s3 --max-inflight 1
hold_request held /v1/search '{"question":"refund"}'
wait_inflight 1
http busy POST /v1/search -d '{"question":"refund"}'
check_error busy 429 too_many_requests 'too many requests in flight \(limit 1\)' "over the concurrency limit"
assert_grep "$HDR" '^Retry-After: 1' "429: Retry-After"
http busy_health GET /healthz
expect_code 200 "health checks are not limited"
release_request
assert_grep "$HELD_RAW" '^HTTP/1.1 200' "the held request completes"
http after POST /v1/search -d '{"question":"refund"}'
expect_code 200 "below the limit again"
serve_stop
assert_eq "$BG_STATUS" 0 "429 server: exit status"
ok "429 with Retry-After over the concurrency limit; the held request still completes"

finish
