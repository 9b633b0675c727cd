#!/usr/bin/env bash
# lore serve with an LLM (the fake OpenAI-compatible server): answer tokens streamed as SSE
# one by one, reasoning never shown, an unreachable LLM refused as llm_error and counted,
# slow streams holding up neither searches nor health checks, a stream drained on SIGTERM,
# and conversations expiring after their TTL.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

lore_ok idx index "$CORPUS/articles" --collection llm --embedder hash:256 -q
lore_ok idx2 index "$CORPUS/articles" --collection down --embedder hash:256 -q
fake_start chat --token-delay-ms 20
# A port nothing listens on: bind a fake, note its port, stop it.
fake_start gone
DEAD_PORT=$FAKE_PORT
bg_stop "$FAKE_PID"
FAKE_PORT=$(sed -n 's/^PORT=//p' "$TMP/chat.fake.out")
printf '{"llm": {"base_url": "http://127.0.0.1:%s/v1", "model": "fake"}, "answer": {"threshold": 0}}\n' \
    "$FAKE_PORT" >"$LORE_DATA/llm/config.json"
printf '{"llm": {"base_url": "http://127.0.0.1:%s/v1", "model": "fake", "retries": 0, "connect_timeout_ms": 2000, "breaker_failures": 2, "breaker_cooldown_ms": 600000}, "answer": {"threshold": 0}}\n' \
    "$DEAD_PORT" >"$LORE_DATA/down/config.json"

serve_start s1 --conversation-ttl 2

Q='How do I reset my password?'
http sse POST /v1/answer -H 'Accept: text/event-stream' -d "{\"question\":\"$Q\",\"collection\":\"llm\"}"
expect_code 200 "SSE answer from the LLM"
sse_events "$OUT" >"$TMP/ev"
ntok=$(grep -c '^token$' "$TMP/ev")
assert_num "$ntok" -ge 3 "LLM tokens arrive as separate events"
assert_eq "$(head -n1 "$TMP/ev")" retrieval "LLM SSE: retrieval first"
assert_eq "$(tail -n1 "$TMP/ev")" done "LLM SSE: done last"
assert_grep "$OUT" '"mode":"llm"' "LLM SSE: llm mode"
assert_grep "$OUT" '^data: \{"citations":\[\{"n":1,"cited":true' "LLM SSE: citations event"
assert_no_grep "$OUT" 'SECRET-REASONING' "LLM SSE: reasoning never shown"
ok "LLM answers stream token by token, then citations and done"

http j POST /v1/answer -d "{\"question\":\"How do I turn on two-factor authentication?\",\"collection\":\"llm\"}"
expect_code 200 "JSON answer from the LLM"
assert_eq "$(json_str mode)" llm "JSON: llm mode"
assert_eq "$(json_num answered)" true "JSON: answered"

http dead POST /v1/answer -d "{\"question\":\"$Q\",\"collection\":\"down\"}"
expect_code 200 "answer with the LLM down"
assert_eq "$(json_num answered)" false "LLM down: refused"
assert_eq "$(json_str reason)" llm_error "LLM down: reason llm_error"
assert_no_grep "$OUT" "127\\.0\\.0\\.1|$DEAD_PORT" "LLM down: the upstream address is not leaked"
# Not cached: the next request tries the LLM again.
http dead2 POST /v1/answer -d "{\"question\":\"$Q\",\"collection\":\"down\"}"
assert_eq "$(json_num cached)" false "LLM errors are not cached"
http m GET /metrics
assert_grep "$OUT" '^lore_llm_errors_total 2$' "metrics: LLM errors counted"
assert_grep "$OUT" '^lore_refusals_total\{reason="llm_error"\} 2$' "metrics: llm_error refusals"
assert_grep "$OUT" '^lore_stage_duration_seconds_count\{stage="llm"\} [1-9]' "metrics: llm stage"
# Two failures in a row open the dead endpoint's breaker (breaker_failures 2); the working
# collection's stays closed.
assert_grep "$OUT" '^lore_llm_breaker_open\{collection="down"\} 1$' "metrics: the dead LLM's breaker is open"
assert_grep "$OUT" '^lore_llm_breaker_open\{collection="llm"\} 0$' "metrics: the live LLM's breaker is closed"
ok "an unreachable LLM is a refusal (llm_error), counted, never cached, never leaked"

# Conversations expire: a conversation bound to one collection is free again after its TTL.
http t1 POST /v1/answer -d '{"question":"How do I export timesheets?","collection":"llm","conversation_id":"ttl-1"}'
expect_code 200 "conversation start"
http t2 POST /v1/answer -d '{"question":"x","collection":"down","conversation_id":"ttl-1"}'
expect_code 409 "conversation in use by another collection"
sleep 3
http t3 POST /v1/answer -d '{"question":"How do I export timesheets?","collection":"down","conversation_id":"ttl-1"}'
expect_code 200 "an expired conversation starts afresh"
ok "conversations expire after --conversation-ttl"

# SIGTERM while a slow stream is running: the stream finishes, then the server exits 0.
bg_stop "$FAKE_PID"
fake_start slow --token-delay-ms 150
printf '{"llm": {"base_url": "http://127.0.0.1:%s/v1", "model": "fake"}, "answer": {"threshold": 0}}\n' \
    "$FAKE_PORT" >"$LORE_DATA/llm/config.json"
serve_stop
serve_start s2

# Slow answers do not hold up searches or health checks: with three streams running (each
# several seconds long), a search and /healthz come back at once, the streams still going.
for n in 1 2 3; do
    curl -s -N -m 60 -X POST -H 'Accept: text/event-stream' "$URL/v1/answer" \
        -d "{\"question\":\"$Q\",\"collection\":\"llm\"}" >"$TMP/busy$n.sse" &
    eval "busy_pid$n=\$!"
done
for i in $(seq 1 200); do
    started=0
    for n in 1 2 3; do
        grep -q '^event: token' "$TMP/busy$n.sse" 2>/dev/null && started=$((started + 1))
    done
    [ "$started" = 3 ] && break
    sleep 0.05
done
assert_eq "$started" 3 "three slow streams started"
t0=$(date +%s%N)
http busy_s POST /v1/search -d '{"question":"export timesheets","collection":"llm"}'
expect_code 200 "a search while answers stream"
http busy_h GET /healthz
expect_code 200 "/healthz while answers stream"
t1=$(date +%s%N)
assert_num $(((t1 - t0) / 1000000)) -lt 1500 "search and healthz not held up by the streams (ms)"
running=0
for n in 1 2 3; do
    grep -q '^event: done' "$TMP/busy$n.sse" || running=$((running + 1))
done
assert_num "$running" -ge 1 "the streams were still running meanwhile"
for n in 1 2 3; do
    eval "wait \$busy_pid$n"
    assert_eq "$(sse_events "$TMP/busy$n.sse" | tail -n1)" done "slow stream $n ends with done"
done
ok "slow answers streaming meanwhile hold up neither searches nor health checks"

curl -s -N -m 60 -X POST -H 'Accept: text/event-stream' "$URL/v1/answer" \
    -d "{\"question\":\"$Q\",\"collection\":\"llm\"}" >"$TMP/drain.sse" &
curl_pid=$!
for i in $(seq 1 200); do
    grep -q '^event: token' "$TMP/drain.sse" 2>/dev/null && break
    sleep 0.05
done
assert_grep "$TMP/drain.sse" '^event: token' "the stream started before SIGTERM"
kill -TERM "$SERVE_PID"
wait "$curl_pid"
assert_eq "$(sse_events "$TMP/drain.sse" | tail -n1)" done "the stream in flight ends with done"
bg_wait "$SERVE_PID"
assert_eq "$BG_STATUS" 0 "drained after the stream: exit 0"
serve_clean
ok "SIGTERM lets a running stream finish, then exits 0"

finish
