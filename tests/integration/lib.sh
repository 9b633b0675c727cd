# Shared helpers for the integration tests: sourced by tests/integration/test_*.sh.
#
# ctest runs each test as `bash FILE` with LORE_SOURCE_DIR (the repository) and LORE_BUILD_DIR
# (the build directory) set; run by hand, they default to the repository holding this file and
# its build/ folder:
#
#   LORE_BUILD_DIR=build-asan bash tests/integration/test_cli.sh
#
# KEEP_TMP=1 keeps the scratch directory for a look afterwards.
#
# What a test gets after sourcing this file:
#   $LORE, $FAKE    the lore binary and the fake OpenAI-compatible server
#   $TMP            a scratch directory removed on exit; LORE_DATA points inside it, so nothing
#                   is ever written under $HOME
#   cleanup         every process started with bg_start / fake_start is killed (by its pid) on exit
#
# Only POSIX tools that a fresh Debian 12 has (grep, sed, mawk, sha256sum) are used: no python3,
# no jq. lore prints its JSON on one line (cJSON_PrintUnformatted), which the json_* helpers
# rely on.

set -u
set -o pipefail

LORE_SOURCE_DIR=${LORE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LORE_BUILD_DIR=${LORE_BUILD_DIR:-$LORE_SOURCE_DIR/build}
LORE=$LORE_BUILD_DIR/lore
FAKE=$LORE_BUILD_DIR/fake_openai
CORPUS=$LORE_SOURCE_DIR/corpus
TEST_NAME=$(basename "$0" .sh)
# Byte-wise matching in grep/sed: inputs may hold any bytes. (lore itself never calls setlocale.)
export LC_ALL=C

_bg_pids=()

cleanup() {
    local pid
    for pid in "${_bg_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null
            # Give it a moment to exit cleanly, then insist.
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    _bg_pids=()
    [ -n "${TMP:-}" ] && [ -z "${KEEP_TMP:-}" ] && rm -rf "$TMP"
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lore-$TEST_NAME.XXXXXX") || { echo "cannot create a temp dir" >&2; exit 1; }
trap cleanup EXIT
trap 'exit 130' INT TERM
export LORE_DATA=$TMP/data
unset LORE_EMBED_API_KEY

_t0=$(date +%s.%N)
_checks=0

note() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }

fail() {
    printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

ok() {
    printf '%s: ok: %s\n' "$TEST_NAME" "$*" >&2
}

# Prints the summary line; call last.
finish() {
    local t1
    t1=$(date +%s.%N)
    printf '%s: PASS (%d checks, %ss)\n' "$TEST_NAME" "$_checks" \
        "$(awk -v a="$_t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >&2
    exit 0
}

for _bin in "$LORE" "$FAKE"; do
    [ -x "$_bin" ] || fail "$_bin is not built (LORE_BUILD_DIR=$LORE_BUILD_DIR)"
done

# run NAME CMD...: runs CMD with stdout in $TMP/NAME.out and stderr in $TMP/NAME.err; the exit
# status goes into $RC (never aborts the test). $OUT and $ERR name the two files.
run() {
    local name=$1
    shift
    OUT=$TMP/$name.out
    ERR=$TMP/$name.err
    "$@" >"$OUT" 2>"$ERR"
    RC=$?
    return 0
}

# Shows a command's output when a check fails.
show() {
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        echo "--- $f" >&2
        head -c 4000 "$f" >&2
        echo >&2
    done
}

# expect_rc WANT WHAT: the last run's exit status must be WANT.
expect_rc() {
    if [ "$RC" != "$1" ]; then
        show "$OUT" "$ERR"
        fail "$2: exit status $RC, want $1"
    fi
}

# Sanitizer reports go to stderr; make them fail the test even when the exit status hides them.
expect_clean_stderr() {
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$ERR"; then
        show "$ERR"
        fail "$1: sanitizer report on stderr"
    fi
}

# lore_ok NAME ARGS...: runs lore ARGS and requires exit status 0 and no sanitizer report.
lore_ok() {
    local name=$1
    shift
    run "$name" "$LORE" "$@"
    expect_clean_stderr "lore $*"
    expect_rc 0 "lore $*"
}

assert_eq() { # GOT WANT WHAT
    _checks=$((_checks + 1))
    [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

assert_num() { # A OP B WHAT   (OP: -eq -ne -lt -le -gt -ge, integers)
    _checks=$((_checks + 1))
    [ -n "$1" ] && [ "$1" "$2" "$3" ] 2>/dev/null || fail "$4: got '$1', want $2 $3"
}

# assert_float A OP B WHAT   (OP: < <= > >= ==), compared by awk.
assert_float() {
    _checks=$((_checks + 1))
    awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
        if (a !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) exit 1
        r = (op == "<" && a < b) || (op == "<=" && a <= b) || (op == ">" && a > b) ||
            (op == ">=" && a >= b) || (op == "==" && a == b)
        exit r ? 0 : 1 }' || fail "$4: got '$1', want $2 $3"
}

assert_grep() { # FILE ERE WHAT
    _checks=$((_checks + 1))
    grep -qE -- "$2" "$1" || { show "$1"; fail "$3: no line matches /$2/"; }
}

assert_no_grep() { # FILE ERE WHAT
    _checks=$((_checks + 1))
    if grep -qE -- "$2" "$1"; then
        show "$1"
        fail "$3: unexpected match for /$2/"
    fi
}

# ---- JSON on one line ----

# json_num KEY [FILE]: the first number (or true/false) value of "KEY" in compact JSON.
json_num() {
    local key=$1 file=${2:-$OUT}
    grep -oE "\"$key\":(-?[0-9][0-9.eE+-]*|true|false|null)" "$file" | head -n1 | sed 's/^[^:]*://'
}

# json_str KEY [FILE]: the first string value of "KEY" (still JSON-escaped).
json_str() {
    local key=$1 file=${2:-$OUT}
    grep -oE "\"$key\":\"([^\"\\\\]|\\\\.)*\"" "$file" | head -n1 | sed "s/^\"$key\":\"//; s/\"\$//"
}

# json_keys [FILE]: the top-level keys of a flat JSON object, one a line, in order.
json_keys() {
    local file=${1:-$OUT}
    grep -oE '"([^"\\]|\\.)*":' "$file" | sed 's/^"//; s/":$//'
}

# search_hits [FILE]: one line per result of `lore search --json` output, so that per-result
# fields can be read with json_num/json_str on each line.
search_hits() {
    local file=${1:-$OUT}
    sed 's/,"timings_ms":.*//; s/{"rank":/\n{"rank":/g' "$file" | grep '^{"rank":'
}

# search_ids [FILE]: the article ids of the results, in rank order.
search_ids() {
    local file=${1:-$OUT}
    grep -oE '"article_id":"([^"\\]|\\.)*"' "$file" | sed 's/^"article_id":"//; s/"$//'
}

# ---- background processes ----

# bg_start CMD...: starts CMD in the background with its output in files; sets BG_PID and
# remembers it for cleanup.
bg_start() {
    "$@" &
    BG_PID=$!
    _bg_pids+=("$BG_PID")
}

# bg_stop PID [SIGNAL]: stops a process started with bg_start, waits for it and forgets it
# (so cleanup never signals a pid that may have been reused). Sets BG_STATUS.
bg_stop() {
    local pid=$1 sig=${2:-TERM} keep=() p
    kill -"$sig" "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null # no "Killed" notice from bash
    BG_STATUS=$?
    for p in "${_bg_pids[@]}"; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    _bg_pids=("${keep[@]}")
}

# bg_wait PID: waits for a process started with bg_start to exit by itself; sets BG_STATUS.
bg_wait() {
    bg_stop "$1" 0
}

# fake_start NAME [FLAGS...]: starts the fake embeddings server (log in $TMP/NAME.log) and waits
# for its port. Sets FAKE_PID, FAKE_PORT, FAKE_LOG, FAKE_URL and EMBEDDER (the --embedder spec).
fake_start() {
    local name=$1
    shift
    FAKE_LOG=$TMP/$name.log
    : >"$FAKE_LOG"
    bg_start "$FAKE" --port 0 --max-seconds 400 --log "$FAKE_LOG" "$@" \
        >"$TMP/$name.fake.out" 2>"$TMP/$name.fake.err"
    FAKE_PID=$BG_PID
    FAKE_PORT=
    local i
    for i in $(seq 1 100); do
        FAKE_PORT=$(sed -n 's/^PORT=\([0-9][0-9]*\)$/\1/p' "$TMP/$name.fake.out" 2>/dev/null)
        [ -n "$FAKE_PORT" ] && break
        kill -0 "$FAKE_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$FAKE_PORT" ] || { show "$TMP/$name.fake.err"; fail "fake_openai did not start"; }
    FAKE_URL=http://127.0.0.1:$FAKE_PORT/v1
    EMBEDDER=openai:fake@$FAKE_URL
}

# log_lines [FILE]: requests logged so far.
log_lines() { wc -l <"${1:-$FAKE_LOG}" | tr -d ' '; }

# log_inputs FROM [FILE]: every embedding input of the requests logged from line FROM (1-based)
# on, one a line, still JSON-escaped (so newlines inside a text stay on one line as \n).
# The fake server writes "inputs" last in each line.
log_inputs() {
    local from=$1 file=${2:-$FAKE_LOG}
    tail -n "+$from" "$file" | sed -n 's/.*"inputs":\[\(.*\)\]}$/\1/p' |
        grep -oE '"([^"\\]|\\.)*"' | sed 's/^"//; s/"$//'
}

# log_n_inputs FROM [FILE]: the sum of n_inputs over the requests logged from line FROM on.
log_n_inputs() {
    local from=$1 file=${2:-$FAKE_LOG}
    tail -n "+$from" "$file" | grep -oE '"n_inputs":-?[0-9]+' | sed 's/.*://' |
        awk '{ s += $1 } END { print s + 0 }'
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
