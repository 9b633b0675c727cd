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

ask() {
  echo
  echo "== lore search \"$1\""
  "$lore" search "$1" --data "$data" -k 3
}

ask "how do i get my money back after cancelling"
ask "google calendar stopped showing my shifts, error E1042"
ask "api keeps returning 429 too many requests"
ask "忘记密码怎么办"

echo
"$lore" stats --data "$data"
