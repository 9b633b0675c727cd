#!/usr/bin/env bash
# lore tune, lore eval --refusal (with its HTML report) and lore compare over the sample help
# center, and the confidence, decision and refusal reason of lore search: tune writes a
# profile that search and eval load (as a file and as the collection's profile.json, with the
# same rankings); a corrupt or missing profile is reported by name and the default is used;
# eval --refusal counts the is_impossible questions and reports precision, coverage, ECE and
# AUROC; compare finds identical runs identical (p = 1) and pairs the queries of two runs.
source "$(dirname "$0")/lib.sh"

EMB=hash:256 # fast; the mechanics do not depend on the embedder

# ---- 1. tune ----
lore_ok tune tune "$CORPUS" --embedder $EMB -o "$TMP/p.json" --json --report "$TMP/tune-report"
assert_eq "$(wc -l <"$OUT" | tr -d ' ')" 1 "tune --json: one line"
for k in 'ndcg@10_fused' 'ndcg@10_reranked' answered_precision coverage ece auroc; do
    v=$(json_num "$k")
    assert_float "$v" ">=" 0 "tune: $k"
    assert_float "$v" "<=" 1 "tune: $k"
done
assert_eq "$(json_num folds)" 5 "tune: folds"
assert_eq "$(json_num queries)" 114 "tune: every query of the corpus, answerable or not"
assert_eq "$(json_num unanswerable)" 15 "tune: the is_impossible queries"
assert_grep "$TMP/p.json" '"format":[[:space:]]*"lore-profile"' "tune: writes a profile"
assert_grep "$TMP/p.json" '"fitted_on":[[:space:]]*".*corpus' "tune: the profile says what it was fitted on"
assert_grep "$TMP/p.json" '"cross_encoder"' "tune: the profile names every feature"
[ -s "$TMP/tune-report/index.html" ] || fail "tune --report: no index.html"
_checks=$((_checks + 1))
# Same data, same profile: fitting is deterministic.
lore_ok tune2 tune "$CORPUS" --embedder $EMB -o "$TMP/p2.json" --folds 0
lore_ok tune3 tune "$CORPUS" --embedder $EMB -o "$TMP/p3.json" --folds 0
cmp -s "$TMP/p2.json" "$TMP/p3.json" || fail "tune twice: different profiles"
_checks=$((_checks + 1))
run tune_badfolds "$LORE" tune "$CORPUS" --folds 1
expect_rc 2 "tune --folds 1"
assert_grep "$ERR" 'folds' "tune --folds 1: message"
run tune_missing "$LORE" tune "$TMP/no-such-dataset"
[ "$RC" = 1 ] || [ "$RC" = 2 ] || fail "tune of a missing dataset: exit status $RC"
assert_grep "$ERR" 'no-such-dataset' "tune of a missing dataset: message names it"
ok "tune: CV figures, a deterministic profile saying what it was fitted on, clear errors"

# ---- 2. search: confidence, decision, reason; profiles ----
lore_ok index index "$CORPUS/articles" --embedder $EMB
Q="reset link in the email says it expired"
lore_ok s_def search "$Q" --json -k 5
c=$(json_num confidence)
assert_float "$c" ">=" 0 "search: confidence"
assert_float "$c" "<=" 1 "search: confidence"
assert_float "$(json_num threshold)" "==" 0.85 "search: default threshold"
case "$(json_str decision)" in answer | refuse) ;; *) fail "search: decision '$(json_str decision)'" ;; esac
lore_ok s_t0 search "$Q" --json --threshold 0
assert_eq "$(json_str decision)" answer "threshold 0: answer"
assert_eq "$(json_num reason)" null "threshold 0: no reason"
lore_ok s_t1 search "$Q" --json --threshold 1
assert_eq "$(json_str decision)" refuse "threshold 1: refuse"
assert_eq "$(json_str reason)" low_confidence "threshold 1: reason"
lore_ok s_none search "xylophone zeppelin quux" --mode bm25 --json
assert_eq "$(json_str decision)" refuse "nothing matches: refuse"
assert_eq "$(json_str reason)" no_match "nothing matches: reason"
assert_float "$(json_num confidence)" "==" 0 "nothing matches: confidence"
lore_ok s_text search "$Q" -k 1 --threshold 1
assert_grep "$OUT" '^confidence [0-9.]+: refuse, low_confidence \(threshold 1.00\)' "human output: decision"
assert_grep "$OUT" 'rerank -?[0-9.]+ \| fused' "human output: rerank score"

# The tuned profile as a file, then as the collection's profile.json: the same results.
lore_ok s_file search "$Q" --json -k 10 --profile "$TMP/p.json"
search_ids >"$TMP/ids_file"
conf_file=$(json_num confidence)
cp "$TMP/p.json" "$LORE_DATA/default/profile.json"
lore_ok s_coll search "$Q" --json -k 10
search_ids >"$TMP/ids_coll"
cmp -s "$TMP/ids_file" "$TMP/ids_coll" || fail "profile.json in the collection ranks differently from --profile"
assert_eq "$(json_num confidence)" "$conf_file" "collection profile: same confidence"
# A corrupt collection profile: named on stderr, the default profile is used.
echo '{"format": "lore-profile", "version": 1, "reranker": ' >"$LORE_DATA/default/profile.json"
lore_ok s_corrupt search "$Q" --json -k 10
assert_grep "$ERR" 'profile.json: not valid JSON.*using the default profile' "corrupt collection profile: warning"
search_ids >"$TMP/ids_corrupt"
rm "$LORE_DATA/default/profile.json"
lore_ok s_plain search "$Q" --json -k 10
search_ids >"$TMP/ids_plain"
cmp -s "$TMP/ids_corrupt" "$TMP/ids_plain" || fail "corrupt profile: results differ from the default profile's"
_checks=$((_checks + 3))
lore_ok s_missing search "$Q" --json --profile "$TMP/nope.json"
assert_grep "$ERR" 'nope.json.*using the default profile' "missing --profile: warning names it"
[ "$(search_ids | wc -l)" -gt 0 ] || fail "missing --profile: no results"
ok "search: confidence, decisions, reasons; profile file = collection profile; bad profiles fall back"

# ---- 3. eval --refusal and its report ----
lore_ok ev eval "$CORPUS" --embedder $EMB --refusal --json --profile "$TMP/p.json" --report "$TMP/report"
assert_eq "$(wc -l <"$OUT" | tr -d ' ')" 1 "eval --refusal --json: one line"
for k in answered_precision coverage ece auroc brier; do
    v=$(json_num "$k")
    assert_float "$v" ">=" 0 "eval --refusal: $k"
    assert_float "$v" "<=" 1 "eval --refusal: $k"
done
assert_eq "$(json_num questions)" 114 "eval --refusal: every question"
assert_eq "$(json_num unanswerable)" 15 "eval --refusal: the is_impossible questions"
assert_float "$(json_num threshold)" "==" 0.85 "eval --refusal: the profile's threshold"
assert_grep "$TMP/report/index.html" 'answered precision' "report: summary table"
assert_grep "$TMP/report/curve.dat" '^[0-9.]+ [0-9.]+ [0-9.]+$' "report: curve data"
assert_grep "$TMP/report/reliability.dat" '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "report: reliability data"
if command -v gnuplot >/dev/null; then
    for img in precision_coverage reliability; do
        [ "$(head -c 4 "$TMP/report/$img.png" | od -An -c | tr -d ' ')" = '211PNG' ] ||
            fail "report: $img.png is not a PNG"
        assert_grep "$TMP/report/index.html" "src=\"$img.png\"" "report: shows $img.png"
    done
fi
# Coverage and precision follow the threshold.
lore_ok ev0 eval "$CORPUS" --embedder $EMB --refusal --json --threshold 0
assert_float "$(json_num coverage)" "==" 1 "threshold 0: everything answered"
run evbad "$LORE" eval "$CORPUS" --embedder $EMB --report "$TMP/r2"
expect_rc 2 "eval --report without --refusal"
assert_grep "$ERR" 'refusal' "eval --report without --refusal: message"
run evoos "$LORE" eval "$CORPUS" --embedder $EMB --refusal --out-of-scope 0.2
expect_rc 2 "eval --out-of-scope on an articles/ dataset"
assert_grep "$ERR" 'out-of-scope.*corpus.jsonl' "eval --out-of-scope: says what it needs"
ok "eval --refusal: figures, threshold, HTML report with images"

# ---- 4. compare ----
lore_ok pa eval "$CORPUS" --embedder $EMB --per-query --json --rerank-k 0
cp "$OUT" "$TMP/a.jsonl"
lore_ok pb eval "$CORPUS" --embedder $EMB --per-query --json --profile "$TMP/p.json"
cp "$OUT" "$TMP/b.jsonl"
lore_ok pt eval "$CORPUS" --embedder $EMB --per-query --rerank-k 0
cp "$OUT" "$TMP/a.tsv"
lore_ok cmp_same compare "$TMP/a.tsv" "$TMP/a.tsv" --json
assert_float "$(json_num delta)" "==" 0 "compare of identical runs: no delta"
assert_float "$(json_num p_value)" "==" 1 "compare of identical runs: p = 1"
assert_eq "$(json_num same)" "$(json_num queries)" "compare of identical runs: every query the same"
# One run as JSON lines and as TSV (4 decimals): the same queries, deltas within rounding.
lore_ok cmp_fmt compare "$TMP/a.jsonl" "$TMP/a.tsv" --json
awk -v d="$(json_num delta)" 'BEGIN { exit !((d < 0 ? -d : d) < 1e-4) }' ||
    fail "compare of one run as JSON and TSV: delta $(json_num delta)"
_checks=$((_checks + 1))
judged=$(tail -n +2 "$CORPUS/qrels/test.tsv" | awk -F'\t' '$3 > 0 { print $1 }' | sort -u | wc -l | tr -d ' ')
assert_eq "$(json_num queries)" "$judged" "compare: every judged query paired"
lore_ok cmp_ab compare "$TMP/a.jsonl" "$TMP/b.jsonl" --json --show 0
p=$(json_num p_value)
assert_float "$p" ">" 0 "compare: p-value"
assert_float "$p" "<=" 1 "compare: p-value"
ma=$(json_num mean_a)
mb=$(json_num mean_b)
d=$(json_num delta)
awk -v a="$ma" -v b="$mb" -v d="$d" 'BEGIN { x = b - a - d; exit (x < 0 ? -x : x) > 1e-9 }' ||
    fail "compare: delta $d is not mean_b $mb - mean_a $ma"
_checks=$((_checks + 1))
# Means agree with eval's own totals.
lore_ok ta eval "$CORPUS" --embedder $EMB --json --rerank-k 0
awk -v a="$ma" -v b="$(json_num 'ndcg@10')" 'BEGIN { x = a - b; exit (x < 0 ? -x : x) > 1e-5 }' ||
    fail "compare: mean_a $ma is not eval's nDCG@10 $(json_num 'ndcg@10')"
_checks=$((_checks + 1))
lore_ok cmp_text compare "$TMP/a.jsonl" "$TMP/b.jsonl" --metric mrr@10
assert_grep "$OUT" '^p-value +[0-9.]+ +\(paired randomization test' "compare: human output"
run cmp_missing "$LORE" compare "$TMP/a.jsonl" "$TMP/nope.jsonl"
expect_rc 1 "compare with a missing run"
assert_grep "$ERR" 'nope.jsonl' "compare with a missing run: names it"
printf 'not a run\n' >"$TMP/junk.txt"
run cmp_junk "$LORE" compare "$TMP/a.jsonl" "$TMP/junk.txt"
expect_rc 1 "compare with a junk file"
assert_grep "$ERR" 'junk.txt:1: not a per-query run' "compare with a junk file: file and line"
run cmp_metric "$LORE" compare "$TMP/a.jsonl" "$TMP/b.jsonl" --metric bleu
expect_rc 2 "compare --metric bleu"
ok "compare: identical runs p = 1, paired means match eval, clear errors"

# ---- 5. an external cross-encoder (/v1/rerank), faked ----
fake_start xenc
lore_ok x_search search "$Q" --json -k 5 --cross-encoder "$FAKE_URL"
assert_grep "$FAKE_LOG" '"path":"/v1/rerank"' "cross-encoder: search calls /v1/rerank"
assert_no_grep "$OUT" 'reranker_unavailable' "cross-encoder: answered"
lore_ok x_tune tune "$CORPUS" --embedder $EMB --folds 0 -o "$TMP/px.json" --cross-encoder "$FAKE_URL"
w=$(tr -d ' \t\n' <"$TMP/px.json" | grep -oE '"cross_encoder":\{[^}]*\}' | head -n1 | grep -oE '"weight":-?[0-9.eE+-]+' | sed 's/.*://')
[ -n "$w" ] || fail "cross-encoder: no weight in the profile"
awk -v w="$w" 'BEGIN { exit (w == 0) }' || fail "cross-encoder: tune gave its score no weight"
_checks=$((_checks + 2))
lore_ok x_prof search "$Q" --json -k 5 --cross-encoder "$FAKE_URL" --profile "$TMP/px.json"
assert_no_grep "$ERR" 'profile' "cross-encoder profile: loads cleanly"
# A cross-encoder that cannot be reached: results still come, the decision is a refusal.
lore_ok x_down search "$Q" --json -k 5 --cross-encoder http://127.0.0.1:9/v1 --threshold 0
assert_eq "$(json_str decision)" refuse "cross-encoder down: refuse"
assert_eq "$(json_str reason)" reranker_unavailable "cross-encoder down: reason"
[ "$(search_ids | wc -l)" -eq 5 ] || fail "cross-encoder down: no results"
run x_bad "$LORE" search "$Q" --cross-encoder ftp://nowhere
expect_rc 2 "cross-encoder with a bad url"
assert_grep "$ERR" "cross-encoder url 'ftp://nowhere'" "cross-encoder with a bad url: message"
ok "cross-encoder: a feature when configured, fitted by tune; down means refuse"

finish
