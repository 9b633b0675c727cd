#!/usr/bin/env bash
# Incremental indexing through a real OpenAI-compatible embeddings server (the fake one, which
# logs every request): an unchanged re-index sends nothing and writes nothing; an edited
# article re-embeds exactly its chunks whose text changed; a deleted file's article disappears
# from search and stats; --dry-run reports without writing.
source "$(dirname "$0")/lib.sh"

fake_start emb
HC=$TMP/hc
cp -r "$CORPUS/articles" "$HC"
COLL=$LORE_DATA/default
DB=$COLL/lore.db
FAISS=$COLL/vectors.faiss

# ---- 0. a dry run of the first index previews it and creates nothing ----
lore_ok dry0 index "$HC" --embedder "$EMBEDDER" --dry-run --json -q
assert_eq "$(json_num dry_run)" true "first dry run: dry_run flag"
assert_num "$(json_num added)" -ge 40 "first dry run: articles that would be added"
assert_eq "$(json_num chunks_embedded)" 0 "first dry run: chunks embedded"
assert_eq "$(log_lines)" 0 "first dry run: embedding requests"
[ ! -e "$COLL" ] || fail "first dry run created $COLL"
ok "a dry run before the first index previews it and writes nothing"

# ---- 1. first index: everything is new and embedded once ----
lore_ok idx1 index "$HC" --embedder "$EMBEDDER" --json -q
cp "$OUT" "$TMP/idx1.json"
articles=$(json_num articles)
assert_num "$articles" -ge 40 "articles in the sample corpus"
assert_eq "$(json_num added)" "$articles" "first run: added"
assert_eq "$(json_num changed)" 0 "first run: changed"
assert_eq "$(json_num problems)" 0 "first run: problems"
embedded=$(json_num chunks_embedded)
assert_num "$embedded" -gt "$articles" "first run: chunks embedded"
log1=$(log_lines)
assert_num "$log1" -ge 1 "first run: embedding requests"
assert_eq "$(log_n_inputs 1)" "$embedded" "first run: inputs sent equal chunks embedded"
log_inputs 1 | sort >"$TMP/inputs1"
assert_eq "$(wc -l <"$TMP/inputs1" | tr -d ' ')" "$embedded" "first run: input texts in the log"
lore_ok stats1 stats --json
assert_eq "$(json_num articles)" "$articles" "stats: articles after the first run"
chunks=$(json_num chunks)
assert_eq "$chunks" "$embedded" "stats: chunks after the first run"
assert_eq "$(json_num vectors)" "$chunks" "stats: vectors after the first run"
assert_eq "$(json_num vector_index_count)" "$chunks" "stats: vector index count after the first run"
assert_eq "$(json_num dim)" 16 "stats: dimension of the fake embedder"
[ -f "$DB" ] && [ -f "$FAISS" ] || fail "first run: $DB or $FAISS missing"
ok "first run: $articles articles, $chunks chunks embedded in $log1 requests"

# ---- 1b. one indexer at a time: a run finding the collection locked stops at once ----
# flock(1) takes the same lock a running `lore index` holds, on a descriptor of the process
# that then becomes `sleep`: stopping that one pid releases the lock and leaves nothing behind.
bg_start bash -c 'exec 9>"$1" && flock -x 9 && exec sleep 30' lock-holder "$COLL/index.lock" \
    </dev/null >/dev/null 2>&1
for _ in $(seq 50); do flock -n -x "$COLL/index.lock" true 2>/dev/null || break; sleep 0.1; done
run busy "$LORE" index "$HC" --embedder "$EMBEDDER" --json -q
expect_rc 1 "index while another run holds the lock"
assert_grep "$ERR" 'is being indexed by another lore index run' "busy: the message says why"
assert_eq "$(wc -c <"$OUT" | tr -d ' ')" 0 "busy: no summary on stdout"
assert_eq "$(log_lines)" "$log1" "busy: embedding requests"
bg_stop "$BG_PID"
ok "a second indexer is turned away while the lock is held, and touches nothing"

# ---- 2. unchanged re-index: no request, no byte written ----
db0=$(sha "$DB")
faiss0=$(sha "$FAISS")
lore_ok idx2 index "$HC" --embedder "$EMBEDDER" --json -q
assert_eq "$(json_num unchanged)" "$articles" "unchanged run: unchanged"
for k in added changed deleted chunks_embedded problems; do
    assert_eq "$(json_num $k)" 0 "unchanged run: $k"
done
assert_eq "$(log_lines)" "$log1" "unchanged run: embedding requests"
# The same without --embedder (the recorded one is used).
lore_ok idx2b index "$HC" --json -q
assert_eq "$(json_num unchanged)" "$articles" "unchanged run without --embedder: unchanged"
assert_eq "$(log_lines)" "$log1" "unchanged run without --embedder: embedding requests"
# lore closes its connection, which checkpoints the WAL into lore.db: comparing lore.db alone
# is meaningful only when no WAL content is left beside it.
[ ! -s "$DB-wal" ] || fail "a non-empty $DB-wal is left after lore exited"
assert_eq "$(sha "$DB")" "$db0" "unchanged run: lore.db is byte-identical"
assert_eq "$(sha "$FAISS")" "$faiss0" "unchanged run: vectors.faiss is byte-identical"
ok "unchanged re-index: 0 requests, lore.db and vectors.faiss byte-identical"

# ---- 3. edit one paragraph of one article ----
EDITED=$HC/time-zones.md
title=$(sed -n 's/^title: //p' "$EDITED" | head -n1)
id=$(sed -n 's/^id: //p' "$EDITED" | head -n1)
assert_eq "$id" kb-0017 "id of the edited article"
old='Scheduled shifts keep their local start and end times when the clocks change.'
new='Scheduled shifts keep their local start and end times when the clocks change, and the zeppelin reminder follows the new local time.'
grep -qF "$old" "$EDITED" || fail "the paragraph to edit is not in $EDITED"
sed -i "s/$old/$new/" "$EDITED"
grep -qF "zeppelin" "$EDITED" || fail "edit of $EDITED did not apply"

lore_ok before_edit search "zeppelin" --mode bm25 --json
assert_eq "$(search_ids | head -n1)" "" "'zeppelin' before the edit is indexed"

# --dry-run reports the change and writes nothing.
lore_ok dry index "$HC" --dry-run --json -q
assert_eq "$(json_num dry_run)" true "dry run: dry_run flag"
assert_eq "$(json_num changed)" 1 "dry run: changed"
assert_eq "$(json_num added)" 0 "dry run: added"
assert_eq "$(json_num deleted)" 0 "dry run: deleted"
assert_eq "$(json_num unchanged)" $((articles - 1)) "dry run: unchanged"
assert_eq "$(json_num chunks_embedded)" 0 "dry run: chunks embedded"
assert_eq "$(log_lines)" "$log1" "dry run: embedding requests"
assert_eq "$(sha "$DB")" "$db0" "dry run: lore.db is byte-identical"
assert_eq "$(sha "$FAISS")" "$faiss0" "dry run: vectors.faiss is byte-identical"
lore_ok dry_text index "$HC" --dry-run
assert_grep "$OUT" '^dry run, nothing written: .*0 added, 1 changed' "dry run: human summary"
assert_eq "$(sha "$DB")" "$db0" "dry run (human output): lore.db is byte-identical"
ok "--dry-run reports 1 changed and writes nothing"

lore_ok idx3 index "$HC" --json -q
cp "$OUT" "$TMP/idx3.json"
assert_eq "$(json_num changed)" 1 "edit run: changed"
assert_eq "$(json_num added)" 0 "edit run: added"
assert_eq "$(json_num deleted)" 0 "edit run: deleted"
assert_eq "$(json_num unchanged)" $((articles - 1)) "edit run: unchanged"
embedded3=$(json_num chunks_embedded)
reused3=$(json_num chunks_reused)
log3=$(log_lines)
from=$((log1 + 1))
assert_eq "$(log_n_inputs $from)" "$embedded3" "edit run: inputs sent equal chunks embedded"
log_inputs $from | sort >"$TMP/inputs3"
assert_eq "$(wc -l <"$TMP/inputs3" | tr -d ' ')" "$embedded3" "edit run: input texts in the log"
# Every text sent comes from the edited article: its heading path starts with its title.
if grep -vF -- "$title" "$TMP/inputs3" | grep -q .; then
    show "$TMP/inputs3"
    fail "edit run: a text from another article was embedded"
fi
grep -q zeppelin "$TMP/inputs3" || fail "edit run: the changed paragraph was not embedded"

# Which chunks did change? Index the edited file alone into a scratch collection: that sends
# every chunk of the new version; those whose text was not sent by the first run are the changed
# ones, and exactly those must have been sent by the edit run.
mkdir "$TMP/one"
cp "$EDITED" "$TMP/one/"
logs=$(log_lines)
lore_ok scratch index "$TMP/one" --collection scratch --embedder "$EMBEDDER" --json -q
article_chunks=$(json_num chunks_embedded)
log_inputs $((logs + 1)) | sort >"$TMP/inputs_article"
assert_eq "$(wc -l <"$TMP/inputs_article" | tr -d ' ')" "$article_chunks" "scratch: texts of the edited article"
comm -23 "$TMP/inputs_article" "$TMP/inputs1" >"$TMP/inputs_expected"
want=$(wc -l <"$TMP/inputs_expected" | tr -d ' ')
assert_num "$want" -ge 1 "chunks whose text changed"
assert_num "$want" -lt "$article_chunks" "chunks whose text changed (the article has $article_chunks)"
if ! cmp -s "$TMP/inputs_expected" "$TMP/inputs3"; then
    diff "$TMP/inputs_expected" "$TMP/inputs3" | head -c 3000 >&2
    fail "edit run: the texts embedded are not exactly the chunks whose text changed"
fi
assert_eq "$embedded3" "$want" "edit run: chunks embedded"
assert_eq "$reused3" $((article_chunks - want)) "edit run: chunks reused"
ok "edit: 1 changed, $want of $article_chunks chunks re-embedded, all from $id"

lore_ok after_edit search "zeppelin" --mode bm25 --json
assert_eq "$(search_ids | head -n1)" "$id" "'zeppelin' after the edit: first result"
lore_ok stats3 stats --json
assert_eq "$(json_num articles)" "$articles" "stats: articles after the edit"
chunks3=$(json_num chunks)
assert_eq "$(json_num vectors)" "$chunks3" "stats: vectors after the edit"
assert_eq "$(json_num vector_index_count)" "$chunks3" "stats: vector index count after the edit"

# And the edited state is itself stable.
db3=$(sha "$DB")
faiss3=$(sha "$FAISS")
logs=$(log_lines)
lore_ok idx4 index "$HC" --json -q
assert_eq "$(json_num unchanged)" "$articles" "run after the edit: unchanged"
assert_eq "$(log_lines)" "$logs" "run after the edit: embedding requests"
assert_eq "$(sha "$DB")" "$db3" "run after the edit: lore.db is byte-identical"
assert_eq "$(sha "$FAISS")" "$faiss3" "run after the edit: vectors.faiss is byte-identical"
ok "re-index after the edit: nothing written"

# ---- 4. delete a file ----
GONE=$HC/webhooks.md
gone_id=$(sed -n 's/^id: //p' "$GONE" | head -n1)
assert_eq "$gone_id" kb-0012 "id of the deleted article"
query="webhook signature secret retries"
lore_ok del_before search "$query" --json -k 10
search_ids >"$TMP/del_before.ids"
grep -qx "$gone_id" "$TMP/del_before.ids" || { show "$OUT"; fail "'$query' does not find $gone_id before deletion"; }
lore_ok del_before_vec search "$query" --mode vector --json -k 1000 --candidates 10000
grep -qx "$gone_id" <(search_ids) || fail "vector search does not find $gone_id before deletion"
rm "$GONE"
logs=$(log_lines)
db4=$(sha "$DB")
lore_ok dry5 index "$HC" --dry-run --json -q
assert_eq "$(json_num deleted)" 1 "dry run of the deletion: deleted"
assert_eq "$(sha "$DB")" "$db4" "dry run of the deletion: lore.db is byte-identical"
lore_ok stats_dry5 stats --json
assert_eq "$(json_num articles)" "$articles" "stats after the dry run of the deletion"
lore_ok idx5 index "$HC" --json -q
assert_eq "$(json_num deleted)" 1 "delete run: deleted"
assert_eq "$(json_num unchanged)" $((articles - 1)) "delete run: unchanged"
assert_eq "$(json_num added)" 0 "delete run: added"
assert_eq "$(json_num changed)" 0 "delete run: changed"
assert_eq "$(log_lines)" "$logs" "delete run: embedding requests"
lore_ok stats5 stats --json
assert_eq "$(json_num articles)" $((articles - 1)) "stats: articles after the deletion"
chunks5=$(json_num chunks)
assert_num "$chunks5" -lt "$chunks3" "stats: chunks after the deletion"
assert_eq "$(json_num vectors)" "$chunks5" "stats: vectors after the deletion"
assert_eq "$(json_num vector_index_count)" "$chunks5" "stats: vector index count after the deletion"
for mode in hybrid bm25; do
    lore_ok del_after_$mode search "$query" --mode $mode --json -k 10
    [ -n "$(search_ids | head -n1)" ] || fail "'$query' ($mode) finds nothing after the deletion"
    if search_ids | grep -qx "$gone_id"; then
        show "$OUT"
        fail "'$query' ($mode) still finds deleted $gone_id"
    fi
done
lore_ok del_after_vec search "$query" --mode vector --json -k 1000 --candidates 10000
if search_ids | grep -qx "$gone_id"; then
    fail "vector search still finds deleted $gone_id"
fi
ok "delete: $gone_id gone from search (bm25, vector, hybrid) and stats"

# ---- 5b. the embeddings server goes away: hybrid search answers from BM25 alone and refuses
# (handing off); vector search, which has nothing else, fails naming the server ----
lore_ok down_idx index "$HC" --collection down --embedder "$EMBEDDER" --json -q
bg_stop "$FAKE_PID"
lore_ok down_search search "$query" --collection down --json -k 5
assert_eq "$(json_str reason)" embedder_unavailable "server down: refusal reason"
assert_eq "$(json_str decision)" refuse "server down: decision"
[ -n "$(search_ids | head -n1)" ] || { show "$OUT"; fail "server down: no results"; }
if grep -qE '"dense_rank":[1-9]' "$OUT"; then
    show "$OUT"
    fail "server down: a hit has a dense rank"
fi
run down_vec "$LORE" search "$query" --collection down --mode vector --json
expect_rc 1 "vector search with the server down"
assert_grep "$ERR" "127.0.0.1:$FAKE_PORT" "vector search with the server down: message"
fake_start emb_again
ok "embeddings server down: hybrid falls back to BM25 with reason embedder_unavailable"

# Deleting is also stable: the next run writes nothing.
db5=$(sha "$DB")
lore_ok idx6 index "$HC" --json -q
assert_eq "$(json_num deleted)" 0 "run after the deletion: deleted"
assert_eq "$(sha "$DB")" "$db5" "run after the deletion: lore.db is byte-identical"

# ---- 5. switching the embedder re-embeds everything, once ----
n=$((articles - 1))
logs=$(log_lines)
lore_ok sw_hash index "$HC" --embedder hash:64 --json -q
assert_eq "$(json_num changed)" "$n" "switch to hash:64: changed"
assert_eq "$(json_num chunks_embedded)" "$chunks5" "switch to hash:64: chunks embedded"
assert_eq "$(log_lines)" "$logs" "switch to hash:64: requests to the old embedder"
lore_ok sw_hash_stats stats --json
assert_eq "$(json_str embedder)" hash:64 "switch to hash:64: embedder"
assert_eq "$(json_num dim)" 64 "switch to hash:64: dim"
assert_eq "$(json_num vectors)" "$chunks5" "switch to hash:64: vectors"
assert_eq "$(json_num vector_index_count)" "$chunks5" "switch to hash:64: vector index count"
lore_ok sw_hash_again index "$HC" --json -q
assert_eq "$(json_num unchanged)" "$n" "after the switch to hash:64: unchanged"
lore_ok sw_back index "$HC" --embedder "$EMBEDDER" --json -q
assert_eq "$(json_num chunks_embedded)" "$chunks5" "switch back: chunks embedded"
assert_eq "$(log_n_inputs $((logs + 1)))" "$chunks5" "switch back: texts sent"
lore_ok sw_back_stats stats --json
assert_eq "$(json_num dim)" 16 "switch back: dim"
assert_eq "$(json_num vector_index_count)" "$chunks5" "switch back: vector index count"
lore_ok sw_none index "$HC" --embedder none --json -q
assert_eq "$(json_num chunks_embedded)" 0 "switch to none: chunks embedded"
lore_ok sw_none_stats stats --json
assert_eq "$(json_num vectors)" 0 "switch to none: vectors"
[ ! -e "$FAISS" ] || fail "switch to none: vectors.faiss is still there"
run sw_none_vec "$LORE" search "$query" --mode vector --json
expect_rc 1 "vector search without vectors"
assert_grep "$ERR" 'needs vectors' "vector search without vectors: message"
lore_ok sw_none_bm25 search "$query" --json
[ -n "$(search_ids | head -n1)" ] || fail "search without vectors finds nothing"
assert_eq "$(json_str mode)" bm25 "search without vectors: default mode"
ok "embedder switches (hash:64, back to the server, none) re-embed once"

finish
