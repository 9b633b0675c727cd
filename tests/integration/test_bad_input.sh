#!/usr/bin/env bash
# Bad input never costs a run or an article: each bad file (broken UTF-8, malformed JSON,
# binary, 50 MB, empty, one bad JSONL line) is reported on stderr with its file (and line),
# skipped, the run completes with the good files indexed, and what the bad files held before
# stays indexed and searchable.
source "$(dirname "$0")/lib.sh"

HC=$TMP/hc
cp -r "$CORPUS/articles" "$HC"
EXPORT=$HC/export/help-center-export.json

# A plain-text article and a JSONL export, so that those formats have something to lose too.
printf 'Parrot care basics\n\nFeed the parrot a cuttlefish bone and fresh millet every morning.\n' \
    >"$HC/parrot-care.txt"
cat >"$HC/birds.jsonl" <<'EOF'
{"id": "jl-1", "title": "Budgie feeding schedule", "body": "Feed the budgie sunflower seeds twice a day."}
{"id": "jl-2", "title": "Canary cage cleaning", "body": "Clean the canary cage weekly with warm vinegar water."}
{"id": "jl-3", "title": "Cockatoo toys", "body": "Rotate cockatoo toys every week to keep boredom away."}
EOF

# found QUERY ID WHAT: a bm25 search for QUERY has ID among its first 3 results.
found() {
    lore_ok found search "$1" --mode bm25 --json -k 3
    search_ids | grep -qx "$2" || { show "$OUT"; fail "$3: '$1' does not find $2"; }
}

# ---- 1. a good index ----
lore_ok idx1 index "$HC" --embedder hash:256 --json -q
n0=$(json_num articles)
assert_eq "$(json_num problems)" 0 "good run: problems"
assert_eq "$(json_num added)" "$n0" "good run: added"
found "daylight saving night shift" kb-0017 "good run"
found "cuttlefish millet" parrot-care.txt "good run (text file)"
found "canary vinegar" jl-2 "good run (jsonl)"
ok "good run: $n0 articles"

# ---- 2. break files that were indexed, add bad new ones ----
# Broken UTF-8 on line 26 of a Markdown article.
sed -i '26s/Scheduled shifts/Scheduled \xff\xfe shifts/' "$HC/time-zones.md"
grep -q $'\xff' "$HC/time-zones.md" || fail "could not break time-zones.md"
# Malformed JSON on line 44 of the export (12 articles).
sed -i '44s/"id": "kb-0105",/"id": "kb-0105" "oops",/' "$EXPORT"
grep -q oops "$EXPORT" || fail "could not break the export"
# A NUL byte on line 10 of a Markdown article.
{ head -n 9 "$CORPUS/articles/webhooks.md"; printf 'bin\0ary\n'; tail -n +10 "$CORPUS/articles/webhooks.md"; } \
    >"$HC/webhooks.md"
# An article emptied.
: >"$HC/mobile-clock-in.md"
# The text article grown to 50 MB.
yes 'Parrots like millet and cuttlefish and a clean cage every single week.' |
    head -c $((50 * 1024 * 1024)) >"$HC/parrot-care.txt"
# The JSONL export: jl-1 edited, jl-2 malformed (line 2), jl-3 as before, jl-4 new.
cat >"$HC/birds.jsonl" <<'EOF'
{"id": "jl-1", "title": "Budgie feeding schedule", "body": "Feed the budgie sunflower seeds and kiwi twice a day."}
{"id": "jl-2", "title": "Canary cage cleaning", "body": "Clean the canary cage weekly
{"id": "jl-3", "title": "Cockatoo toys", "body": "Rotate cockatoo toys every week to keep boredom away."}
{"id": "jl-4", "title": "Lovebird baths", "body": "Mist lovebirds with lukewarm water on hot days."}
EOF
# Bad files that were never indexed.
printf 'just\0some\0bytes\n' >"$HC/blob.md"
: >"$HC/empty.md"
printf '{"articles": [\n  {"id": "x-1", "title": "Half an export"\n' >"$HC/export/truncated.json"
# Symlink loops: each directory is walked once (two loops used to make the walk exponential).
ln -s . "$HC/loop"
ln -s .. "$HC/export/up"

run idx2 timeout 60 "$LORE" index "$HC" --json -q
expect_clean_stderr "bad run"
expect_rc 0 "bad run"
cp "$ERR" "$TMP/idx2.stderr"
assert_eq "$(json_num ok)" true "bad run: ok"
assert_eq "$(json_num problems)" 9 "bad run: problems reported"
assert_eq "$(json_num added)" 1 "bad run: added (jl-4)"
assert_eq "$(json_num changed)" 1 "bad run: changed (jl-1)"
assert_eq "$(json_num deleted)" 0 "bad run: deleted"
# Good files: every article of the corpus except the 15 in bad files, plus jl-1, jl-3, jl-4.
assert_eq "$(json_num articles)" $((n0 - 17 + 1)) "bad run: articles parsed"

E=$TMP/idx2.stderr
expect_msg() { # ERE WHAT
    grep -qE -- "$1" "$E" || { show "$E"; fail "no message for $2: want /$1/"; }
    _checks=$((_checks + 1))
}
H=$(printf '%s' "$HC" | sed 's/[.[\*^$()+?{}|]/\\&/g')
expect_msg "^$H/time-zones\.md:26: .*(utf-8|UTF-8)" "broken UTF-8 (file and line)"
expect_msg "^$H/export/help-center-export\.json:44: .*(json|JSON)" "malformed JSON (file and line)"
expect_msg "^$H/export/truncated\.json:[0-9]+: .*(json|JSON)" "truncated JSON"
expect_msg "^$H/webhooks\.md:10: .*binary" "binary Markdown (file and line)"
expect_msg "^$H/blob\.md:(1: )?.*binary" "binary new file"
expect_msg "^$H/parrot-care\.txt: .*too large" "50 MB file"
expect_msg "^$H/mobile-clock-in\.md: .*empty" "emptied file"
expect_msg "^$H/empty\.md: .*empty" "empty new file"
expect_msg "^$H/birds\.jsonl:2: .*(json|JSON)" "bad JSONL line (file and line)"
assert_no_grep "$E" 'birds\.jsonl:[134]:' "good JSONL lines"
assert_eq "$(grep -c . "$E")" 9 "bad run: one stderr line per problem"
ok "bad run completes; each bad input reported with its file and line"

# Nothing that was indexed before is lost, and the good content is new.
lore_ok stats2 stats --json
assert_eq "$(json_num articles)" $((n0 + 1)) "articles after the bad run"
assert_eq "$(json_num vectors)" "$(json_num chunks)" "vectors after the bad run"
found "daylight saving night shift" kb-0017 "broken UTF-8 file's article"
found "Customizing invoice templates and branding" kb-0105 "malformed export's article"
found "getting started set up your workspace in five steps" kb-0100 "malformed export's article"
found "webhooks endpoint" kb-0012 "binary file's article"
found "clocking in and out with the mobile app" kb-0021 "emptied file's article"
found "cuttlefish millet" parrot-care.txt "50 MB file's article"
found "canary vinegar" jl-2 "bad JSONL line's article"
found "kiwi" jl-1 "edited JSONL line"
found "lovebirds lukewarm" jl-4 "new JSONL line"
found "cockatoo boredom" jl-3 "unchanged JSONL line"
lore_ok s_x search "Half an export" --mode bm25 --json
search_ids | grep -qx x-1 && fail "an article of the truncated export was indexed"
ok "articles of bad files kept, good lines indexed"

# ---- 3. a run of only bad input still succeeds and deletes nothing ----
mkdir "$TMP/onlybad"
: >"$TMP/onlybad/nothing.md"
lore_ok idx3 index "$TMP/onlybad" --json -q
assert_eq "$(json_num problems)" 1 "only-bad run: problems"
assert_eq "$(json_num deleted)" 0 "only-bad run: deleted"
assert_grep "$ERR" 'nothing\.md: .*empty' "only-bad run: message"

# ---- 4. fixed files are indexed again; the bad JSONL record's removal is then real ----
cp "$CORPUS/articles/time-zones.md" "$CORPUS/articles/webhooks.md" "$CORPUS/articles/mobile-clock-in.md" "$HC/"
cp "$CORPUS/articles/export/help-center-export.json" "$EXPORT"
rm "$HC/blob.md" "$HC/empty.md" "$HC/export/truncated.json"
printf 'Parrot care basics\n\nFeed the parrot a cuttlefish bone and fresh millet every morning.\n' \
    >"$HC/parrot-care.txt"
sed -i '2d' "$HC/birds.jsonl" # jl-2 is gone for good now
lore_ok idx4 index "$HC" --json -q
assert_eq "$(json_num problems)" 0 "fixed run: problems"
assert_eq "$(json_num deleted)" 1 "fixed run: deleted (jl-2)"
assert_eq "$(json_num added)" 0 "fixed run: added"
assert_eq "$(json_num changed)" 0 "fixed run: changed (the files are as indexed before)"
lore_ok stats4 stats --json
assert_eq "$(json_num articles)" "$n0" "articles after the fixed run"
lore_ok s_jl2 search "canary vinegar" --mode bm25 --json
search_ids | grep -qx jl-2 && fail "jl-2 still found after its line was removed from a good file"
ok "fixed files: nothing changed, jl-2 deleted once its file was good"

finish
