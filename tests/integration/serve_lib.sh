# Helpers for the `lore serve` tests (tests/integration/test_serve*.sh), sourced after lib.sh.
#
#   serve_start NAME ARGS...   starts `lore serve --listen 127.0.0.1:0 ARGS...` (access log in
#                              $TMP/NAME.access, stderr in $TMP/NAME.err), waits for its port;
#                              sets SERVE_PID, SERVE_PORT, URL, SERVE_ERR, SERVE_ACCESS
#   serve_stop [SIGNAL]        stops it (default TERM), sets BG_STATUS, and fails on a
#                              sanitizer report in its stderr
#   http NAME METHOD PATH [curl args...]
#                              one request; body in $TMP/NAME.out ($OUT), headers in
#                              $TMP/NAME.hdr ($HDR), status in $CODE
#   expect_code WANT WHAT      the last request's status must be WANT
#   hold_request NAME PATH BODY
#                              opens a raw connection on fd 7 and sends a POST's headers but
#                              not its body, so the request stays in flight until
#                              release_request sends the body and reads the reply into
#                              $TMP/NAME.raw

serve_start() {
    local name=$1
    shift
    SERVE_ERR=$TMP/$name.err
    SERVE_ACCESS=$TMP/$name.access
    : >"$SERVE_ERR"
    bg_start "$LORE" serve --listen 127.0.0.1:0 "$@" >"$SERVE_ACCESS" 2>"$SERVE_ERR"
    SERVE_PID=$BG_PID
    SERVE_PORT=
    local i
    for i in $(seq 1 300); do
        SERVE_PORT=$(sed -n 's|^lore serve: listening on http://127.0.0.1:\([0-9][0-9]*\) .*|\1|p' \
            "$SERVE_ERR" 2>/dev/null)
        [ -n "$SERVE_PORT" ] && break
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$SERVE_PORT" ] || { show "$SERVE_ERR"; fail "lore serve $* did not start"; }
    URL=http://127.0.0.1:$SERVE_PORT
}

serve_stop() {
    bg_stop "$SERVE_PID" "${1:-TERM}"
    serve_clean
}

# serve_clean: the server's stderr holds no sanitizer report (leaks show at exit).
serve_clean() {
    _checks=$((_checks + 1))
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$SERVE_ERR"; then
        show "$SERVE_ERR"
        fail "lore serve: sanitizer report on stderr"
    fi
}

http() {
    local name=$1 method=$2 path=$3
    shift 3
    OUT=$TMP/$name.out
    HDR=$TMP/$name.hdr
    CODE=$(curl -s -m 60 -o "$OUT" -D "$HDR" -w '%{http_code}' -X "$method" "$@" "$URL$path")
}

expect_code() {
    _checks=$((_checks + 1))
    if [ "$CODE" != "$1" ]; then
        show "$OUT" "$HDR"
        fail "$2: HTTP $CODE, want $1"
    fi
}

hold_request() {
    local name=$1 path=$2 body=$3
    HELD_BODY=$body
    HELD_RAW=$TMP/$name.raw
    exec 7<>"/dev/tcp/127.0.0.1/$SERVE_PORT"
    printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n' \
        "$path" "${#body}" >&7
}

release_request() {
    printf '%s' "$HELD_BODY" >&7
    timeout 60 cat <&7 >"$HELD_RAW"
    exec 7>&-
}

# wait_inflight N: waits until the server counts N requests in flight besides the /metrics
# request asking (so a held request is known to have reached the server).
wait_inflight() {
    local want=$(($1 + 1)) i n
    for i in $(seq 1 300); do
        n=$(curl -s -m 5 "$URL/metrics" | sed -n 's/^lore_requests_in_flight \([0-9]*\)$/\1/p')
        [ "$n" = "$want" ] && return 0
        sleep 0.05
    done
    fail "the server never counted $1 requests in flight (last: $((n - 1)))"
}

# sse_events FILE: the event names of a text/event-stream body, one a line.
sse_events() { sed -n 's/^event: //p' "$1"; }
