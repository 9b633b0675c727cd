#!/usr/bin/env bash
# Crash safety: a real `lore index` killed with SIGKILL in the middle of a run leaves the
# previous index searchable (lexically and by vector, the FAISS file being rebuilt from SQLite
# when it is stale), and the next run completes the work without redoing what was committed.
source "$(dirname "$0")/lib.sh"

NBIG=1800 # articles in the big corpus: about 8 batches of 256 (lore commits once per batch)

# Each embedding request waits, so the big run takes several seconds: time to kill it.
fake_start emb --delay-ms 200
SMALL=$TMP/small
BIG=$TMP/big
cp -r "$CORPUS/articles" "$SMALL"
COLL=$LORE_DATA/default
FAISS=$COLL/vectors.faiss
# The generation vectors.faiss was built from: its header is "LOREVIX1", then a uint64
# generation (see engine/vindex.h).
faiss_gen() { od -An -t u8 -j 8 -N 8 "$FAISS" | tr -d ' '; }

# ---- 1. the previous index: the sample help center ----
lore_ok idx_small index "$SMALL" --embedder "$EMBEDDER" --json -q
nsmall=$(json_num articles)
assert_eq "$(json_num added)" "$nsmall" "small corpus: added"
lore_ok stats_small stats --json
gen_small=$(json_num generation)
chunks_small=$(json_num chunks)
assert_eq "$(faiss_gen)" "$gen_small" "vectors.faiss generation after the small run"
ok "small corpus indexed: $nsmall articles, generation $gen_small"

# ---- 2. the big corpus: NBIG one-paragraph articles, each with a word of its own ----
mkdir "$BIG"
# word 0042 sets W=qzaaec: digits spelt as letters, so the word is one token of its own.
word() {
    local d=$1 c
    W=qz
    for ((c = 0; c < ${#d}; c++)); do
        case ${d:c:1} in
        0) W+=a ;; 1) W+=b ;; 2) W+=c ;; 3) W+=d ;; 4) W+=e ;;
        5) W+=f ;; 6) W+=g ;; 7) W+=h ;; 8) W+=i ;; 9) W+=j ;;
        esac
    done
}
# body 0042 sets BODY to the article's only paragraph.
body() {
    word "$1"
    printf -v BODY 'The %s gadget (model %s) is calibrated from the %s panel before its first use.' \
        "$W" "$1" "$W"
}
# No subshell per article: 1,800 forks would cost seconds.
for ((i = 1; i <= NBIG; i++)); do
    printf -v n '%04d' $i
    body $n
    printf -- '---\nid: gen-%s\ntitle: Crash test article %s\n---\n\n%s\n' "$n" "$n" "$BODY" \
        >"$BIG/gen-$n.md"
done
first=0001
last=$(printf '%04d' $NBIG)
total=$((nsmall + NBIG))

# A vector query equal to the text an article's chunk was embedded as (taken from the
# embeddings server's log): that chunk must come first with cosine 1, which holds only if the
# vector index maps the right vector to the right chunk id.
vector_self_check() { # N WHAT
    local n=$1 what=$2 q
    q=$(log_inputs 1 | grep -F "(model $n)" | head -n1)
    [ -n "$q" ] || fail "$what: gen-$n's text was never sent to the embeddings server"
    printf -v q '%b' "$q" # the generated texts hold no escapes but \n
    lore_ok vec_$n search "$q" --mode vector --json -k 3
    local top
    top=$(search_hits | head -n1)
    assert_eq "$(echo "$top" | json_str article_id -)" "gen-$n" \
        "$what: vector search for gen-$n's own text, first result"
    assert_float "$(echo "$top" | json_num dense -)" ">=" 0.999 "$what: cosine of gen-$n with itself"
}

# ---- 3. start indexing both, kill -9 once a batch has been committed ----
logs=$(log_lines)
bg_start "$LORE" index "$SMALL" "$BIG" --json >"$TMP/killed.out" 2>"$TMP/killed.err"
pid=$BG_PID
added_seen=
for ((t = 0; t < 600; t++)); do # up to 60 s
    # Progress lines come after a batch is written: its "added" articles are committed.
    added_seen=$(sed -n 's/^lore index: .*articles (\([0-9][0-9]*\) added.*/\1/p' "$TMP/killed.err" | tail -n1)
    [ -n "$added_seen" ] && [ "$added_seen" -gt 0 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
bg_stop $pid KILL
status=$BG_STATUS
[ -n "$added_seen" ] && [ "$added_seen" -gt 0 ] || { show "$TMP/killed.err"; fail "no progress line with committed articles"; }
assert_eq "$status" 137 "the index run was killed by SIGKILL (not finished before)"
assert_no_grep "$TMP/killed.err" 'AddressSanitizer|runtime error' "killed run's stderr"
ok "killed lore index (pid $pid) after a progress line reported $added_seen added"

# The FAISS file is the one published by the small run: the big run never got to publish.
assert_eq "$(faiss_gen)" "$gen_small" "vectors.faiss generation after the kill (stale)"

# ---- 4. the previous index is still there ----
lore_ok stats_killed stats --json
committed=$(json_num articles)
assert_num "$committed" -ge $((nsmall + added_seen)) "articles after the kill (committed batches)"
assert_num "$committed" -lt "$total" "articles after the kill (the run was cut short)"
gen_killed=$(json_num generation)
assert_num "$gen_killed" -gt "$gen_small" "generation after the kill"
chunks_killed=$(json_num chunks)
assert_eq "$(json_num vectors)" "$chunks_killed" "vectors after the kill"
# Opening rebuilt the vector index from SQLite: it holds every committed vector.
assert_eq "$(json_num vector_index_count)" "$chunks_killed" "vector index count after the kill"
assert_eq "$(faiss_gen)" "$gen_killed" "vectors.faiss rebuilt and saved with the database's generation"
ok "after the kill: $committed articles committed, vector index rebuilt ($chunks_killed vectors)"

lore_ok s_small search "how long is the password reset link valid" --mode bm25 --json
assert_eq "$(search_ids | head -n1)" kb-0001 "bm25 search of the small corpus after the kill"
lore_ok s_small_h search "how long is the password reset link valid" --json -k 5
search_ids | grep -qx kb-0001 || { show "$OUT"; fail "hybrid search of the small corpus after the kill"; }
lore_ok s_first search "$(word $first; echo "$W")" --mode bm25 --json
assert_eq "$(search_ids | head -n1)" "gen-$first" "committed big-corpus article after the kill"
lore_ok s_last search "$(word $last; echo "$W")" --mode bm25 --json
assert_eq "$(search_ids | head -n1)" "" "uncommitted big-corpus article after the kill"
vector_self_check $first "after the kill"
ok "after the kill: bm25, hybrid and vector search work"

if command -v sqlite3 >/dev/null 2>&1; then
    r=$(sqlite3 "$COLL/lore.db" 'PRAGMA integrity_check' 2>&1)
    assert_eq "$r" ok "PRAGMA integrity_check after the kill"
    ok "integrity_check: ok"
else
    note "sqlite3 not installed: integrity_check skipped"
fi

# ---- 5. the next run completes the work; readers keep working meanwhile ----
logs=$(log_lines)
bg_start "$LORE" index "$SMALL" "$BIG" --json -q >"$TMP/resume.out" 2>"$TMP/resume.err"
pid=$BG_PID
reads=0
prev=$committed
# Readers find vectors.faiss stale mid-run, rebuild it and save it, concurrently with the
# indexer's own saves: each save has its own temporary file, so none damages another.
while kill -0 $pid 2>/dev/null && [ $reads -lt 6 ]; do
    # WAL: readers see the last committed batch while the indexer writes the next one.
    run read_stats "$LORE" stats --json
    expect_clean_stderr "stats while indexing"
    expect_rc 0 "stats while indexing"
    a=$(json_num articles)
    assert_num "$a" -ge "$prev" "articles seen while indexing never go down"
    prev=$a
    run read_search "$LORE" search "how long is the password reset link valid" --json -k 5
    expect_clean_stderr "search while indexing"
    expect_rc 0 "search while indexing"
    search_ids | grep -qx kb-0001 || { show "$OUT" "$ERR"; fail "search while indexing misses kb-0001"; }
    reads=$((reads + 1))
done
bg_wait $pid
RC=$BG_STATUS
OUT=$TMP/resume.out
ERR=$TMP/resume.err
expect_clean_stderr "resumed run"
expect_rc 0 "resumed run"
note "$reads stats+search pairs ran while the resumed run was indexing"
assert_eq "$(json_num articles)" "$total" "resumed run: articles"
assert_eq "$(json_num added)" $((total - committed)) "resumed run: added (only what was not committed)"
assert_eq "$(json_num unchanged)" "$committed" "resumed run: unchanged"
assert_eq "$(json_num changed)" 0 "resumed run: changed"
assert_eq "$(json_num deleted)" 0 "resumed run: deleted"
assert_eq "$(json_num chunks_embedded)" $((total - committed)) "resumed run: chunks embedded"
# The searches' query embeddings went to the same server: leave them out.
tail -n +$((logs + 1)) "$FAKE_LOG" | grep -vF '"inputs":["how long is the password reset link valid"]' \
    >"$TMP/resume.log"
assert_eq "$(log_n_inputs 1 "$TMP/resume.log")" $((total - committed)) "resumed run: texts sent to the embedder"
lore_ok stats_done stats --json
assert_eq "$(json_num articles)" "$total" "articles after the resumed run"
chunks_done=$(json_num chunks)
assert_eq "$chunks_done" $((chunks_small + NBIG)) "chunks after the resumed run"
assert_eq "$(json_num vectors)" "$chunks_done" "vectors after the resumed run"
assert_eq "$(json_num vector_index_count)" "$chunks_done" "vector index count after the resumed run"
assert_eq "$(faiss_gen)" "$(json_num generation)" "vectors.faiss generation after the resumed run"
lore_ok s_last2 search "$(word $last; echo "$W")" --mode bm25 --json
assert_eq "$(search_ids | head -n1)" "gen-$last" "last big-corpus article after the resumed run"
lore_ok s_small2 search "how long is the password reset link valid" --mode bm25 --json
assert_eq "$(search_ids | head -n1)" kb-0001 "small corpus after the resumed run"
vector_self_check $last "after the resumed run"
vector_self_check $first "after the resumed run"
if command -v sqlite3 >/dev/null 2>&1; then
    assert_eq "$(sqlite3 "$COLL/lore.db" 'PRAGMA integrity_check' 2>&1)" ok "integrity_check after the resumed run"
fi
ok "resumed run: all $total articles indexed, $((total - committed)) embedded"

# And it is complete: one more run changes nothing.
logs=$(log_lines)
lore_ok idx_again index "$SMALL" "$BIG" --json -q
assert_eq "$(json_num unchanged)" "$total" "run after completion: unchanged"
assert_eq "$(log_lines)" "$logs" "run after completion: embedding requests"

# ---- 6. the embeddings server goes away: the run fails cleanly, the index stays ----
bg_stop "$FAKE_PID"
lore_ok stats_before_down stats --json
gen_before=$(json_num generation)
sed -i 's/is calibrated from the/is calibrated (zeppelin) from the/' "$BIG/gen-0007.md"
run idx_down "$LORE" index "$SMALL" "$BIG" --json -q
expect_clean_stderr "index with the embeddings server down"
expect_rc 1 "index with the embeddings server down"
assert_grep "$ERR" "127\.0\.0\.1:$FAKE_PORT" "index with the server down: message names the server"
assert_eq "$(json_num ok)" false "index with the server down: ok"
lore_ok stats_down stats --json
assert_eq "$(json_num generation)" "$gen_before" "generation after the failed run"
assert_eq "$(json_num articles)" "$total" "articles after the failed run"
lore_ok s_down search "$(word 0007; echo "$W")" --mode bm25 --json
assert_eq "$(search_ids | head -n1)" gen-0007 "the article as indexed before the failed run"
lore_ok s_down2 search zeppelin --mode bm25 --json
assert_eq "$(search_ids | head -n1)" "" "the failed run's change is not indexed"
ok "embeddings server down: exit 1 naming it, previous index intact"

finish
