#!/usr/bin/env bash
# The demo: sets up and builds lore, indexes the sample help center in corpus/, and answers
# a few customer questions from it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/setup.sh" "$root/build"

lore="$root/build/lore"
data="$root/build/demo-data"

echo
echo "== lore index corpus/articles"
"$lore" index "$root/corpus/articles" --data "$data" --quiet

# With no LLM configured, lore ask answers extractively: it quotes the sentences of the best
# articles that answer the question, cites them, and refuses when it is not confident.
ask() {
  echo
  echo "== lore ask \"$1\""
  "$lore" ask "$1" --data "$data"
}

echo
echo "== lore search \"how do i get my money back after cancelling\""
"$lore" search "how do i get my money back after cancelling" --data "$data" -k 3

ask "how do i get my money back after cancelling"
ask "google calendar stopped showing my shifts, error E1042"
ask "api keeps returning 429 too many requests"
ask "忘记密码怎么办"
ask "does tallyday have a dark mode"

echo
"$lore" stats --data "$data"
