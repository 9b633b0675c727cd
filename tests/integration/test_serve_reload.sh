#!/usr/bin/env bash
# lore serve: hot reload while requests run (a `lore index` becomes visible without a restart
# and without a failed request; each request sees one generation), and the SIGTERM drain.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

mkdir -p "$TMP/src"
cp -r "$CORPUS/articles/." "$TMP/src/"
lore_ok idx index "$TMP/src" --collection live --embedder hash:256 -q
serve_start s1 --workers 3

search_zorblax() { # NAME [QUESTION]: searches the live collection
    http "$1" POST /v1/search -d "{\"question\":\"${2:-zorblax flux settings}\",\"collection\":\"live\",\"k\":3}"
}

# wait_generation NAME ABOVE [QUESTION]: searches until the reply's generation is above ABOVE
# (the new index is loaded in the background, within moments of the index run).
wait_generation() {
    local i g
    for i in $(seq 1 300); do
        search_zorblax "$1" "${3:-}"
        [ "$CODE" = 200 ] || fail "search while reloading: HTTP $CODE"
        g=$(json_num generation)
        [ "$g" -gt "$2" ] && return 0
        sleep 0.1
    done
    fail "generation $2 is still served 30 s after the index run"
}
search_zorblax before
expect_code 200 "search before the new article"
G0=$(json_num generation)
assert_no_grep "$OUT" '"article_id":"kb-9001"' "the new article is not there yet"

# Clients hammer the service during all the re-indexing below. Each saves every reply.
mkdir -p "$TMP/replies"
client() { # ID
    local id=$1 n=0
    while [ ! -e "$TMP/stop" ] || [ $n -lt 5 ]; do
        n=$((n + 1))
        curl -s -m 60 -o "$TMP/replies/$id.$n" -w '%{http_code}\n' -X POST "$URL/v1/search" \
            -d '{"question":"zorblax flux settings","collection":"live","k":3}' >>"$TMP/codes.$id"
        curl -s -m 60 -o /dev/null -w '%{http_code}\n' -X POST "$URL/v1/answer" \
            -d '{"question":"zorblax flux settings","collection":"live","extractive":true}' \
            >>"$TMP/codes.$id"
    done
}
pids=()
for c in 1 2 3; do
    client $c &
    pids+=($!)
done

article() { # WORD: writes the new article around WORD
    printf -- '---\nid: kb-9001\ntitle: Zorblax flux settings\nlocale: en\n---\n\n%s\n\n## Turn on %s\n\nOpen Settings > Zorblax and switch %s flux on. The %s flux settings apply to every workspace.\n' \
        "$1 flux keeps your schedules in sync." "$1" "$1" "$1" >"$TMP/src/zorblax.md"
}

# 1. add an article
article zorblax
lore_ok add index "$TMP/src" --collection live --embedder hash:256 -q
wait_generation added "$G0"
G1=$(json_num generation)
assert_num "$G1" -gt "$G0" "adding bumps the generation the server sees"
assert_eq "$(search_ids | head -n1)" kb-9001 "the added article is found without a restart"
# 2. change it
article quuxplorer
lore_ok change index "$TMP/src" --collection live --embedder hash:256 -q
wait_generation changed "$G1" "quuxplorer flux"
G2=$(json_num generation)
assert_num "$G2" -gt "$G1" "changing bumps the generation"
assert_eq "$(search_ids | head -n1)" kb-9001 "the changed text is found"
# 3. delete it
rm "$TMP/src/zorblax.md"
lore_ok delete index "$TMP/src" --collection live --embedder hash:256 -q
wait_generation deleted "$G2"
G3=$(json_num generation)
assert_num "$G3" -gt "$G2" "deleting bumps the generation"
assert_no_grep "$OUT" '"article_id":"kb-9001"' "the deleted article is gone"

touch "$TMP/stop"
for p in "${pids[@]}"; do wait "$p"; done
total=$(cat "$TMP"/codes.* | wc -l | tr -d ' ')
good=$(cat "$TMP"/codes.* | grep -c '^200$')
assert_num "$total" -ge 30 "requests made during the re-indexing"
assert_eq "$good" "$total" "every request during the re-indexing succeeded"
# Consistency: a reply shows the article only at a generation where it existed, and every
# reply's generation is one the index went through.
for f in "$TMP"/replies/*; do
    g=$(json_num generation "$f")
    [ -n "$g" ] || { show "$f"; fail "a reply without a generation"; }
    if grep -q '"article_id":"kb-9001"' "$f"; then
        [ "$g" -ge "$G1" ] && [ "$g" -lt "$G3" ] ||
            { show "$f"; fail "generation $g shows the article, which exists in [$G1, $G3)"; }
    elif [ "$g" -ge "$G1" ] && [ "$g" -lt "$G2" ]; then
        { show "$f"; fail "generation $g misses the article it holds"; }
    fi
done
_checks=$((_checks + 1))
http m GET /metrics
assert_grep "$OUT" '^lore_index_reloads_total [1-9]' "metrics: reloads counted"
assert_grep "$OUT" '^lore_http_requests_total\{route="search",status="200"\}' "metrics: searches"
assert_no_grep "$OUT" 'status="5[0-9][0-9]"' "metrics: no 5xx during the re-indexing"
ok "hot reload: $total requests during add/change/delete re-indexing, all 200, each on one consistent generation"

# ---- config.json reload ----
# A changed config.json applies without a restart, and no answer cached under the old one is
# served; a config.json that does not load keeps the previous configuration.
MONEY='{"question":"how do i get my money back after cancelling","collection":"live"}'
http cf0 POST /v1/answer -d "$MONEY"
assert_eq "$(json_num answered)" false "config: refused at the default threshold"
# wait_answered NAME WANT: asks until answered is WANT (the reloader polls every 200 ms).
wait_answered() {
    local i
    for i in $(seq 1 100); do
        http "$1" POST /v1/answer -d "$MONEY"
        [ "$(json_num answered)" = "$2" ] && return 0
        sleep 0.1
    done
    show "$OUT"
    fail "config: answered never became $2"
}
printf '{"answer": {"threshold": 0.5}}\n' >"$LORE_DATA/live/config.json"
wait_answered cf1 true
assert_eq "$(json_num threshold)" 0.5 "config: the new threshold applies"
assert_grep "$SERVE_ERR" "collection 'live': config.json reloaded" "config: reload logged"
printf '{"answer": {"threshold": ' >"$LORE_DATA/live/config.json"
for i in $(seq 1 100); do
    grep -q "previous configuration stays" "$SERVE_ERR" && break
    sleep 0.1
done
assert_grep "$SERVE_ERR" "collection 'live': .*config.json.*; the previous configuration stays" \
    "config: a broken file is reported"
http cf2 POST /v1/answer -d "$MONEY"
assert_eq "$(json_num answered)" true "config: a broken file keeps the previous configuration"
rm "$LORE_DATA/live/config.json"
wait_answered cf3 false
assert_eq "$(json_num threshold)" 0.85 "config: removed, the defaults are back"
ok "config.json: reloaded without a restart, no stale cached answer, a broken file keeps the last good one"

# ---- SIGTERM drain ----
# (The reloader is idle now: the held request below is the only thing in flight.)
hold_request held /v1/search '{"question":"refund","collection":"live"}'
wait_inflight 1
kill -TERM "$SERVE_PID"
# The listening socket closes: new connections are refused while the held one goes on.
refused=0
for i in $(seq 1 100); do
    if ! curl -s -m 2 -o /dev/null "$URL/healthz"; then
        refused=1
        break
    fi
    sleep 0.05
done
assert_eq "$refused" 1 "after SIGTERM new connections are refused"
kill -0 "$SERVE_PID" 2>/dev/null || fail "the server exited with a request in flight"
release_request
assert_grep "$HELD_RAW" '^HTTP/1.1 200' "the in-flight request completes after SIGTERM"
assert_grep "$HELD_RAW" '"collection":"live"' "the in-flight request gets its answer"
bg_wait "$SERVE_PID"
assert_eq "$BG_STATUS" 0 "drained server exits 0"
assert_grep "$SERVE_ERR" 'SIGTERM: draining 1 requests in flight' "drain: logged"
assert_grep "$SERVE_ERR" 'lore serve: stopped$' "drain: stopped"
serve_clean
ok "SIGTERM: stops accepting, finishes the request in flight, exits 0"

finish
