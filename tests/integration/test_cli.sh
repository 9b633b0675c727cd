#!/usr/bin/env bash
# The lore command line: help and usage errors, exit codes, search output (JSON stages, modes,
# collections), eval figures and run files, and Chinese queries, over the sample help center.
source "$(dirname "$0")/lib.sh"

# ---- 1. help, usage errors, exit codes ----
lore_ok help --help
assert_grep "$OUT" '^usage: lore COMMAND' "lore --help: usage"
# The subcommands are the ones `lore --help` lists.
sed -n '/^commands:/,/^$/p' "$OUT" | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' >"$TMP/commands"
for c in index search stats eval; do
    grep -qx "$c" "$TMP/commands" || fail "lore --help does not list '$c'"
done
while read -r c; do
    lore_ok "help_$c" "$c" --help
    assert_grep "$OUT" "^usage: lore $c" "lore $c --help: usage line"
    assert_grep "$OUT" '--help' "lore $c --help: lists its options"
    lore_ok "h_$c" "$c" -h
    assert_grep "$OUT" "^usage: lore $c" "lore $c -h: usage line"
    run "bogus_$c" "$LORE" "$c" --no-such-option
    expect_clean_stderr "lore $c --no-such-option"
    expect_rc 2 "lore $c --no-such-option"
    assert_grep "$ERR" 'no-such-option' "lore $c --no-such-option: message names the option"
    assert_eq "$(wc -c <"$OUT" | tr -d ' ')" 0 "lore $c --no-such-option: nothing on stdout"
done <"$TMP/commands"
ok "--help of $(wc -l <"$TMP/commands" | tr -d ' ') subcommands exits 0; unknown options exit 2"

run noargs "$LORE"
expect_rc 2 "lore without a command"
assert_grep "$ERR" '^usage: lore' "lore without a command: usage on stderr"
run unknown "$LORE" frobnicate
expect_rc 2 "lore frobnicate"
assert_grep "$ERR" "unknown command 'frobnicate'" "lore frobnicate: message"
run noq "$LORE" search
expect_rc 2 "lore search without a question"
assert_grep "$ERR" 'question' "lore search without a question: message"
run nopath "$LORE" index
expect_rc 2 "lore index without a path"
assert_grep "$ERR" 'PATH' "lore index without a path: message"
run badk "$LORE" search x -k 0
expect_rc 2 "lore search -k 0"
assert_grep "$ERR" '^lore: -k ' "lore search -k 0: message names the option"
run badmode "$LORE" search x --mode fuzzy
expect_rc 2 "lore search --mode fuzzy"
assert_grep "$ERR" "fuzzy" "lore search --mode fuzzy: message"
run badname "$LORE" search x --collection 'a/b'
expect_rc 2 "lore search --collection a/b"
assert_grep "$ERR" "collection name" "lore search --collection a/b: message"
ok "usage errors exit 2 with a message"

# A missing collection: a clear error, exit 1, and nothing created.
run missing "$LORE" search "refund" --collection nosuch
expect_clean_stderr "lore search on a missing collection"
expect_rc 1 "lore search on a missing collection"
assert_grep "$ERR" "^lore: no collection 'nosuch' .*lore index" "lore search on a missing collection: message"
run missing_stats "$LORE" stats --collection nosuch
expect_rc 1 "lore stats on a missing collection"
assert_grep "$ERR" "no collection 'nosuch'" "lore stats on a missing collection: message"
[ ! -e "$LORE_DATA/nosuch" ] || fail "searching a missing collection created it"
ok "missing collection: exit 1, clear message"

# ---- 2. search output ----
# Index the repository's corpus read-only (lore never writes into the indexed folder).
lore_ok idx index "$CORPUS/articles" --embedder hash:256 --json -q
narticles=$(json_num articles)
assert_eq "$(json_num added)" "$narticles" "index of the corpus: added"

Q="reset link in the email says it expired"
for mode in bm25 vector hybrid; do
    lore_ok "s_$mode" search "$Q" --mode $mode --json -k 5
    assert_eq "$(json_str mode)" "$mode" "search --mode $mode: mode"
    search_hits >"$TMP/hits_$mode"
    assert_eq "$(wc -l <"$TMP/hits_$mode" | tr -d ' ')" 5 "search --mode $mode -k 5: results"
    prev=
    r=0
    while IFS= read -r h; do
        r=$((r + 1))
        printf '%s\n' "$h" >"$TMP/hit"
        assert_eq "$(json_num rank "$TMP/hit")" $r "$mode result $r: rank"
        for k in bm25 bm25_rank dense dense_rank fused chunk_id; do
            [ -n "$(json_num $k "$TMP/hit")" ] || fail "$mode result $r: no numeric '$k'"
        done
        [ -n "$(json_str article_id "$TMP/hit")" ] || fail "$mode result $r: no article_id"
        [ -n "$(json_str snippet "$TMP/hit")" ] || fail "$mode result $r: no snippet"
        # The heading path starts with the article's title (an article's opening chunk, before
        # its first section, has the title alone).
        t=$(json_str title "$TMP/hit")
        case "$(json_str heading "$TMP/hit")" in "$t > "* | "$t") ;; *) fail "$mode result $r: heading does not start with the title" ;; esac
        br=$(json_num bm25_rank "$TMP/hit")
        dr=$(json_num dense_rank "$TMP/hit")
        case $mode in
        bm25) assert_num "$br" -gt 0 "bm25 result $r: bm25_rank"
              assert_eq "$dr" 0 "bm25 result $r: dense_rank"
              assert_float "$(json_num bm25 "$TMP/hit")" ">" 0 "bm25 result $r: bm25 score" ;;
        vector) assert_num "$dr" -gt 0 "vector result $r: dense_rank"
                assert_eq "$br" 0 "vector result $r: bm25_rank"
                assert_float "$(json_num dense "$TMP/hit")" ">" 0 "vector result $r: dense score" ;;
        hybrid) [ "$br" -gt 0 ] || [ "$dr" -gt 0 ] || fail "hybrid result $r: from neither retriever" ;;
        esac
        # Results come in reranker order (the fused order is its input).
        f=$(json_num rerank "$TMP/hit")
        [ -z "$prev" ] || assert_float "$f" "<=" "$prev" "$mode result $r: rerank scores in order"
        prev=$f
    done <"$TMP/hits_$mode"
    # One result per article by default.
    assert_eq "$(search_ids "$OUT" | sort -u | wc -l | tr -d ' ')" 5 "$mode: distinct articles"
done
# The answer (qrels: q002 -> kb-0001) comes first lexically and in hybrid.
assert_eq "$(head -n1 "$TMP/hits_bm25" | json_str article_id -)" kb-0001 "bm25: first result"
assert_eq "$(head -n1 "$TMP/hits_hybrid" | json_str article_id -)" kb-0001 "hybrid: first result"
# Hybrid's first result was retrieved by both.
h1=$(head -n1 "$TMP/hits_hybrid")
assert_float "$(echo "$h1" | json_num bm25 -)" ">" 0 "hybrid first result: bm25 score"
assert_float "$(echo "$h1" | json_num dense -)" ">" 0 "hybrid first result: dense score"
lore_ok s_chunks search "$Q" --mode bm25 --json -k 10 --chunks
assert_num "$(search_ids | sort -u | wc -l)" -lt "$(search_ids | wc -l)" "--chunks: several chunks of one article"
lore_ok s_rrf search "$Q" --fusion rrf --json -k 3
assert_eq "$(json_str fusion)" rrf "--fusion rrf"
lore_ok s_text search "$Q" -k 2
assert_grep "$OUT" '^1\. .* > .*\[kb-0001\]$' "human output: first result"
assert_grep "$OUT" 'fused [0-9.]+ \| bm25 [0-9.]+ \(rank [0-9]+\) \| dense' "human output: stage scores"
ok "search --json: stage scores, ids, heading paths, snippets; bm25, vector, hybrid"

# Chinese: the question shares no space-separated words with anything.
lore_ok zh search "忘记密码怎么办" --json -k 3
assert_eq "$(search_ids | head -n1)" kb-0025 "忘记密码怎么办: first result"
lore_ok zh_bm25 search "忘记密码怎么办" --mode bm25 --json -k 3
assert_eq "$(search_ids | head -n1)" kb-0025 "忘记密码怎么办 (bm25): first result"
ok "忘记密码怎么办 finds kb-0025 first"

# ---- 3. collections are isolated ----
mkdir -p "$TMP/alpha"
printf -- '---\nid: alpha-1\ntitle: Xylophone tuning\n---\n\n## Tuning\n\nTune each xylophone bar with a file.\n' \
    >"$TMP/alpha/xylophone.md"
lore_ok idx_alpha index "$TMP/alpha" --collection alpha --embedder hash:256 --json -q
assert_eq "$(json_num articles)" 1 "collection alpha: articles indexed"
lore_ok st_alpha stats --collection alpha --json
assert_eq "$(json_num articles)" 1 "stats alpha: articles"
assert_eq "$(json_str collection)" alpha "stats alpha: collection"
lore_ok st_default stats --json
assert_eq "$(json_num articles)" "$narticles" "stats default: articles"
lore_ok x_alpha search xylophone --collection alpha --mode bm25 --json
assert_eq "$(search_ids | tr '\n' ' ')" "alpha-1 " "alpha: xylophone"
lore_ok x_default search xylophone --mode bm25 --json
assert_eq "$(search_ids | wc -l | tr -d ' ')" 0 "default: xylophone"
lore_ok p_alpha search "$Q" --collection alpha --json -k 10
search_ids | grep -qv '^alpha-' && fail "alpha: results from another collection"
lore_ok p_default search "$Q" --json -k 50
search_ids | grep -q '^alpha-' && fail "default: results from collection alpha"
[ -f "$LORE_DATA/alpha/lore.db" ] && [ -f "$LORE_DATA/default/lore.db" ] || fail "one directory per collection"
ok "--collection isolates collections"

# ---- 4. eval ----
lore_ok eval eval "$CORPUS" --mode bm25 --embedder hash:256 --json --run "$TMP/run.trec"
assert_eq "$(wc -l <"$OUT" | tr -d ' ')" 1 "eval --json: one line"
assert_eq "$(json_keys | tr '\n' ' ')" "ndcg@10 recall@10 recall@100 mrr@10 map queries " "eval --json: keys"
assert_float "$(json_num 'ndcg@10')" ">" 0.7 "eval: ndcg@10"
for k in recall@10 recall@100 mrr@10 map; do
    assert_float "$(json_num "$k")" ">" 0 "eval: $k"
    assert_float "$(json_num "$k")" "<=" 1 "eval: $k"
done
assert_float "$(json_num recall@100)" ">=" "$(json_num recall@10)" "eval: recall@100 >= recall@10"
judged=$(tail -n +2 "$CORPUS/qrels/test.tsv" | awk -F'\t' '$3 > 0 { print $1 }' | sort -u | wc -l | tr -d ' ')
assert_eq "$(json_num queries)" "$judged" "eval: queries (those with judgements)"
cp "$OUT" "$TMP/eval.json"

# The run file: "qid Q0 docid rank score tag", ranks 1, 2, ... per query, scores not increasing.
R=$TMP/run.trec
[ -s "$R" ] || fail "--run wrote nothing"
awk 'NF != 6 || $2 != "Q0" || $4 !~ /^[0-9]+$/ { print "line " NR ": " $0; bad = 1; exit }
     $1 != q { q = $1; want = 1; prev = "" }
     $4 != want { print "line " NR ": rank " $4 ", want " want; bad = 1; exit }
     prev != "" && $5 + 0 > prev + 0 { print "line " NR ": score goes up"; bad = 1; exit }
     { want++; prev = $5 }
     END { exit bad }' "$R" >&2 || fail "run file is not a TREC run"
_checks=$((_checks + 1))
nq=$(cut -d' ' -f1 "$R" | sort -u | wc -l | tr -d ' ')
assert_num "$nq" -ge "$judged" "run file: queries"
# Its rankings are the ones evaluated: MRR@10 and Recall@10 recomputed from it agree.
read -r mrr rec10 <<<"$(awk -F'\t' 'NR == FNR { if (FNR > 1 && $3 > 0) { rel[$1 "\t" $2] = 1; nrel[$1]++ } next }
    { split($0, f, " "); q = f[1]
      if (!(q in nrel) || f[4] > 10) next
      if (rel[q "\t" f[3]]) { hit[q]++; if (!(q in first)) first[q] = f[4] } }
    END { for (q in nrel) { n++; if (q in first) m += 1 / first[q]; r += hit[q] / nrel[q] }
          printf "%.6f %.6f\n", m / n, r / n }' "$CORPUS/qrels/test.tsv" "$R")"
awk -v a="$mrr" -v b="$(json_num mrr@10 "$TMP/eval.json")" 'BEGIN { d = a - b; exit (d < 0 ? -d : d) > 1e-4 }' ||
    fail "MRR@10 from the run file is $mrr, eval says $(json_num mrr@10 "$TMP/eval.json")"
awk -v a="$rec10" -v b="$(json_num recall@10 "$TMP/eval.json")" 'BEGIN { d = a - b; exit (d < 0 ? -d : d) > 1e-4 }' ||
    fail "Recall@10 from the run file is $rec10, eval says $(json_num recall@10 "$TMP/eval.json")"
_checks=$((_checks + 2))
ok "eval: keys, ndcg@10 $(json_num 'ndcg@10' "$TMP/eval.json") > 0.7, run file agrees (MRR@10 $mrr)"

# Again: the scratch collection is reused, and the figures are the same.
lore_ok eval2 eval "$CORPUS" --mode bm25 --embedder hash:256 --json
assert_eq "$(cat "$OUT")" "$(cat "$TMP/eval.json")" "eval run twice: same figures"
assert_no_grep "$ERR" 'added' "second eval: no re-indexing"
lore_ok evalpq eval "$CORPUS" --mode bm25 --embedder hash:256 --json --per-query
assert_eq "$(grep -c '"ndcg@10"' "$OUT")" $((judged + 1)) "eval --per-query --json: one line per query and the total"
run evalmissing "$LORE" eval "$TMP/no-such-dataset" --json
expect_clean_stderr "eval of a missing dataset"
[ "$RC" = 1 ] || [ "$RC" = 2 ] || fail "eval of a missing dataset: exit status $RC, want 1 or 2"
assert_grep "$ERR" 'no-such-dataset' "eval of a missing dataset: message names it"
run idxmissing "$LORE" index "$TMP/no-such-folder" --collection other
expect_rc 1 "index of a missing folder"
assert_grep "$ERR" 'no-such-folder' "index of a missing folder: message names it"
[ ! -e "$LORE_DATA/other" ] || fail "index of a missing folder created collection 'other'"

finish
