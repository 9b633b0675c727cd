#!/usr/bin/env bash
# The default embedder "use" (Universal Sentence Encoder lite, in-process): a clear error
# when its model is missing, new collections get it, switching to and from it re-embeds, and
# over the sample help center hybrid search finds the paraphrased questions (which share no
# content words with their article) that BM25 alone misses.
#
# This is the integration test that embeds corpus/ with the real model; the others pass
# --embedder hash:256 or a fake server, as their checks do not depend on meaning.
source "$(dirname "$0")/lib.sh"

MODEL=$LORE_SOURCE_DIR/models/use-lite
[ -f "$MODEL/model.json" ] || fail "no model in $MODEL: run tools/fetch-model.sh"

# ---- 1. a missing or incomplete model ----
run nomodel env LORE_USE_MODEL_DIR="$TMP/nowhere" "$LORE" index "$CORPUS/articles" \
    --collection nomodel --json -q
expect_clean_stderr "index with no model"
expect_rc 1 "index with no model"
assert_grep "$ERR" "$TMP/nowhere" "no model: the message names the directory"
assert_grep "$ERR" 'tools/fetch-model\.sh' "no model: the message says how to fetch it"
assert_no_grep "$ERR" 'no collection' "no model: not mistaken for a missing collection"
mkdir -p "$TMP/partial"
cp "$MODEL/vocab.json" "$TMP/partial/"
run partial "$LORE" index "$CORPUS/articles" --collection partial --embedder "use:$TMP/partial" -q
expect_clean_stderr "index with model.json missing"
expect_rc 1 "index with model.json missing"
assert_grep "$ERR" "$TMP/partial/model\.json not found.*tools/fetch-model\.sh" \
    "model.json missing: the message names the file and the fetch command"
ok "a missing model is reported with its path and tools/fetch-model.sh"

# ---- 2. the default embedder, and switching to and from it ----
mkdir -p "$TMP/small"
printf '# Resetting a password\n\nOpen the sign-in page and choose Forgot password. We email a link\nthat stays valid for one hour.\n' >"$TMP/small/reset.md"
printf '# Exporting timesheets\n\nTimesheets export to CSV or PDF from the Reports tab, one file per\nweek or month.\n' >"$TMP/small/export.md"
lore_ok sm1 index "$TMP/small" --collection small --json -q
chunks=$(json_num chunks_embedded)
assert_num "$chunks" -ge 2 "default embedder: chunks embedded"
lore_ok st1 stats --collection small --json
assert_grep "$OUT" '"embedder":"use:lite-[0-9]+-[0-9a-f]{16}"' "new collection: embedder recorded as use"
assert_eq "$(json_num dim)" 512 "new collection: dim"
assert_eq "$(json_num vectors)" "$chunks" "new collection: vectors"
use_id=$(json_str embedder)
# A question sharing no content word with its article.
lore_ok q1 search "I cannot remember my login secret" --collection small --mode vector --json -k 1
assert_eq "$(search_ids | head -n1)" reset.md "vector search over use vectors: the password article"

lore_ok sw1 index "$TMP/small" --collection small --embedder hash:256 --json -q
assert_eq "$(json_num chunks_embedded)" "$chunks" "switch use -> hash:256: every chunk re-embedded"
lore_ok st2 stats --collection small --json
assert_eq "$(json_str embedder)" hash:256 "switch use -> hash:256: embedder"
assert_eq "$(json_num dim)" 256 "switch use -> hash:256: dim"
lore_ok sw2 index "$TMP/small" --collection small --json -q
assert_eq "$(json_num chunks_embedded)" 0 "after the switch, no --embedder: nothing re-embedded"
lore_ok sw3 index "$TMP/small" --collection small --embedder use --json -q
assert_eq "$(json_num chunks_embedded)" "$chunks" "switch hash:256 -> use: every chunk re-embedded"
lore_ok st3 stats --collection small --json
assert_eq "$(json_str embedder)" "$use_id" "switch back: embedder"
assert_eq "$(json_num dim)" 512 "switch back: dim"
assert_eq "$(json_num vector_index_count)" "$chunks" "switch back: vector index count"
lore_ok sw4 index "$TMP/small" --collection small --embedder use --json -q
assert_eq "$(json_num chunks_embedded)" 0 "unchanged with use: nothing re-embedded"
ok "new collections default to use; switching embedder re-embeds once, both ways"

# ---- 2b. a chunk past the model's 128 tokens: one vector per window ----
mkdir -p "$TMP/long"
{
    printf '# Travel expenses\n\n'
    for i in 1 2 3 4 5 6; do
        printf 'Per diem rates for business trips depend on the destination country and cover meals, local transport and small incidentals for each full day away. '
    done
    printf 'Mileage driven with a personal car is reimbursed per kilometre.\n'
} >"$TMP/long/travel.md"
lore_ok lg1 index "$TMP/long" --collection long --json -q
assert_eq "$(json_num chunks_embedded)" 1 "long chunk: one chunk"
lore_ok lg2 stats --collection long --json
assert_num "$(json_num vectors)" -ge 2 "long chunk: one stored vector per window"
assert_eq "$(json_num vector_index_count)" "$(json_num vectors)" "long chunk: every window indexed"
lore_ok lg3 search "how is mileage with my own car paid back" --collection long --mode vector --json -k 3
assert_eq "$(search_ids | wc -l | tr -d ' ')" 1 "long chunk: one hit, not one per window"
lore_ok lg2b stats --collection long --json
nvec=$(json_num vectors)
# The article changes (a new section): the long chunk's windows are reused, not re-embedded.
printf '\n## Hotels\n\nHotel receipts are uploaded with the expense report.\n' >>"$TMP/long/travel.md"
lore_ok lg4 index "$TMP/long" --collection long --json -q
assert_eq "$(json_num chunks_embedded)" 1 "changed article: only the new chunk embedded"
lore_ok lg5 stats --collection long --json
assert_eq "$(json_num vectors)" "$((nvec + 1))" "changed article: the reused chunk keeps all its windows"
assert_eq "$(json_num vector_index_count)" "$((nvec + 1))" "changed article: old windows removed, all indexed"
ok "a long chunk is stored and indexed as several windows and found once"

# ---- 3. paraphrased questions over corpus/ ----
# The paraphrase queries alone, as a BEIR folder over the same articles (the scratch
# collection of lore eval is keyed by the articles' real path, so both evals share it).
mkdir -p "$TMP/para/qrels"
ln -s "$CORPUS/articles" "$TMP/para/articles"
grep '"paraphrase": *true' "$CORPUS/queries.jsonl" >"$TMP/para/queries.jsonl"
npara=$(wc -l <"$TMP/para/queries.jsonl" | tr -d ' ')
assert_num "$npara" -ge 8 "corpus/queries.jsonl: paraphrase queries"
sed -n 's/.*"_id": *"\([^"]*\)".*/\1/p' "$TMP/para/queries.jsonl" >"$TMP/para/ids"
{
    head -n1 "$CORPUS/qrels/test.tsv"
    awk -F'\t' 'NR == FNR { want[$1] = 1; next } ($1 in want)' "$TMP/para/ids" "$CORPUS/qrels/test.tsv"
} >"$TMP/para/qrels/test.tsv"

lore_ok ev_bm25 eval "$TMP/para" --mode bm25 --json
bm25_r10=$(json_num recall@10)
bm25_ndcg=$(json_num ndcg@10)
assert_eq "$(json_num queries)" "$npara" "eval over the paraphrase queries: queries"
lore_ok ev_hyb eval "$TMP/para" --mode hybrid --json
hyb_r10=$(json_num recall@10)
hyb_ndcg=$(json_num ndcg@10)
note "paraphrase queries: bm25 recall@10 $bm25_r10 ndcg@10 $bm25_ndcg; hybrid recall@10 $hyb_r10 ndcg@10 $hyb_ndcg"
assert_float "$bm25_r10" "<" 0.5 "paraphrase queries: BM25 alone misses most of them in its top 10"
assert_float "$hyb_r10" ">=" "$(awk -v b="$bm25_r10" 'BEGIN { print b + 0.3 }')" \
    "paraphrase queries: hybrid recall@10 at least BM25's + 0.3"
assert_float "$hyb_ndcg" ">=" "$(awk -v b="$bm25_ndcg" 'BEGIN { print b + 0.15 }')" \
    "paraphrase queries: hybrid nDCG@10 at least BM25's + 0.15"
# Hybrid must not pay for it on the whole query set.
lore_ok ev_all_bm25 eval "$CORPUS" --mode bm25 --json
all_bm25=$(json_num ndcg@10)
lore_ok ev_all_hyb eval "$CORPUS" --mode hybrid --json
all_hyb=$(json_num ndcg@10)
note "all corpus queries: bm25 ndcg@10 $all_bm25; hybrid $all_hyb"
assert_float "$all_hyb" ">=" "$all_bm25" "all corpus queries: hybrid nDCG@10 at least BM25's"
ok "hybrid with use finds paraphrased questions BM25 misses"

# ---- 4. lore bench's embedding part (figures are not asserted: speed is the bench's job) ----
mkdir -p "$TMP/tiny" "$TMP/nobin"
printf '%s\n' '{"_id":"d1","title":"Passwords","text":"Open the sign-in page and choose forgot password to get a reset link by email."}' \
    '{"_id":"d2","title":"Exports","text":"Timesheets export to CSV or PDF from the reports tab."}' >"$TMP/tiny/corpus.jsonl"
printf '%s\n' '{"_id":"q1","text":"how can i get back into my account when i have completely forgotten my password"}' \
    '{"_id":"q2","text":"export"}' >"$TMP/tiny/queries.jsonl"
lore_ok bench bench --embed-only --embed-texts 5 --no-node --dataset "$TMP/tiny" --json
assert_grep "$OUT" '"embedding":\{"embedder":"use"' "bench --json: the embedding part"
assert_grep "$OUT" '"texts":2,' "bench: the corpus's two records embedded"
assert_grep "$OUT" '"run":"1 thread".*"run":"2 threads"' "bench: 1 and 2 threads"
assert_grep "$OUT" '"calls":300,' "bench: 300 timed query calls"
assert_grep "$OUT" '"search_path_p50_ms":[0-9]' "bench --json: the search path's query embedding"
assert_grep "$OUT" '"rerank":\{"candidates":[0-9]*,"queries":[0-9]*,.*"warm":\{"p50_ms":[0-9]' \
    "bench --json: the rerank figures, cold and warm"
assert_grep "$OUT" '"node":\{"ran":false,"note":"skipped \(--no-node\)"' "bench --no-node: said"
run bench_nonode env PATH="$TMP/nobin" "$LORE" bench --embed-only --embed-texts 2 --dataset "$TMP/tiny"
expect_clean_stderr "bench without node"
expect_rc 0 "bench without node"
assert_grep "$OUT" 'tokens/s' "bench without node: lore's figures"
assert_grep "$OUT" 'node reference: skipped: node or npm is not installed' "bench without node: says so"
run bench_bad "$LORE" bench --embed-only --embed-texts 0 --dataset "$TMP/tiny"
expect_rc 2 "bench --embed-only --embed-texts 0"
assert_grep "$ERR" 'measures nothing' "bench --embed-only --embed-texts 0: message"
ok "lore bench measures the use model, and says when the Node reference is skipped"

# ---- 5. lore serve embeds waiting searches' questions together, with the same results ----
# One search thread (--workers 1) and bursts of parallel requests: the searches that wait
# behind the running one are embedded as one batch (lore_query_embed_batched_total). Each
# answer must be byte-for-byte the one the same question gets alone; mixed into the bursts,
# a BM25-only search, an unknown collection and a broken body get their own answers.
source "$(dirname "$0")/serve_lib.sh"
lore_ok sv_idx index "$CORPUS/articles" --collection served --json -q
serve_start sv --workers 1 --cache-size 0 --search-cache-size 0
sed -n 's/.*"text": *\("[^"\\]*"\).*/\1/p' "$CORPUS/queries.jsonl" | head -n 24 >"$TMP/sv_qs"
assert_eq "$(wc -l <"$TMP/sv_qs" | tr -d ' ')" 24 "serve batch: 24 corpus questions"
results() { sed -n 's/.*"results":\(\[.*\]\),"timings_ms".*/\1/p' "$1"; }
i=0
while read -r q; do
    i=$((i + 1))
    printf '{"question":%s,"collection":"served","k":5}' "$q" >"$TMP/sv_body_$i"
    http "sv_alone_$i" POST /v1/search -H 'Content-Type: application/json' -d @"$TMP/sv_body_$i"
    expect_code 200 "serve batch: question $i alone"
    results "$OUT" >"$TMP/sv_want_$i"
    [ -s "$TMP/sv_want_$i" ] || fail "serve batch: no results for question $i"
done <"$TMP/sv_qs"
printf '{"question":%s,"collection":"served","mode":"bm25"}' "$(head -n1 "$TMP/sv_qs")" \
    >"$TMP/sv_body_bm25"
http sv_alone_bm25 POST /v1/search -H 'Content-Type: application/json' -d @"$TMP/sv_body_bm25"
expect_code 200 "serve batch: the BM25 search alone"
results "$OUT" >"$TMP/sv_want_bm25"
printf '{"question":"refunds","collection":"nosuch"}' >"$TMP/sv_body_nosuch"
printf '{"question":"refunds",' >"$TMP/sv_body_broken"
batched=0
for burst in 1 2 3 4 5; do
    args=(-s -Z --parallel-immediate --parallel-max 24)
    for i in $(seq 1 24); do
        [ "$i" -gt 1 ] && args+=(--next)
        args+=(-o "$TMP/sv_got_$i" -H 'Content-Type: application/json' -d @"$TMP/sv_body_$i"
            "$URL/v1/search")
        if [ "$i" = 12 ]; then
            for x in bm25 nosuch broken; do
                args+=(--next -o "$TMP/sv_got_$x" -H 'Content-Type: application/json'
                    -d @"$TMP/sv_body_$x" "$URL/v1/search")
            done
        fi
    done
    curl "${args[@]}" || fail "serve batch: curl failed (burst $burst)"
    results "$TMP/sv_got_bm25" >"$TMP/sv_res_bm25"
    cmp -s "$TMP/sv_res_bm25" "$TMP/sv_want_bm25" ||
        fail "serve batch: the BM25 search in burst $burst differs from its answer alone"
    assert_grep "$TMP/sv_got_nosuch" '"code":"unknown_collection"' \
        "serve batch: an unknown collection in the burst"
    assert_grep "$TMP/sv_got_broken" '"code":"bad_json"' "serve batch: a broken body in the burst"
    for i in $(seq 1 24); do
        results "$TMP/sv_got_$i" >"$TMP/sv_res_$i"
        cmp -s "$TMP/sv_res_$i" "$TMP/sv_want_$i" || {
            show "$TMP/sv_got_$i"
            fail "serve batch: question $i in burst $burst differs from its answer alone"
        }
    done
    http sv_metrics GET /metrics
    batched=$(sed -n 's/^lore_query_embed_batched_total //p' "$OUT")
    [ "${batched:-0}" -gt 0 ] && break
done
assert_num "${batched:-0}" -gt 0 "serve batch: some questions were embedded together"
note "serve batch: $batched questions embedded in batches over $burst burst(s)"
serve_stop
ok "lore serve embeds waiting questions together and answers each as it would alone"

finish
