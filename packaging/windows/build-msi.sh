#!/usr/bin/env bash
# Builds the Windows installer on Linux: target/windows/varco-<version>-x86_64.msi,
# and nothing else in target/windows. Usage (from anywhere in the repository):
#
#     bash packaging/windows/build-msi.sh
#
# Needs wixl (Debian package wixl) and the Rust target x86_64-pc-windows-gnu
# with mingw-w64 (gcc-mingw-w64-x86-64). What the MSI does is in
# packaging/windows/varco.wxs.
#
# VARCO_EXE=path/to/varco.exe packs that binary instead of building one (the
# test suite packs the varco.exe it has just built).
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v wixl >/dev/null ||
    { echo "build-msi.sh: wixl not found: apt install wixl (msitools)" >&2; exit 1; }

version=$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"name":"varco","version":"\([^"]*\)".*/\1/p')
[ -n "$version" ] || { echo "build-msi.sh: cannot read varco's version from Cargo.toml" >&2; exit 1; }

exe=${VARCO_EXE:-}
if [ -z "$exe" ]; then
    cargo build --release --locked --bin varco --target x86_64-pc-windows-gnu
    exe="${CARGO_TARGET_DIR:-target}/x86_64-pc-windows-gnu/release/varco.exe"
fi
# wixl looks sources up relative to the current folder.
stage=target/windows-stage
rm -rf "$stage"
mkdir -p "$stage"
cp "$exe" "$stage/varco.exe"

out="target/windows/varco-$version-x86_64.msi"
mkdir -p target/windows
rm -f target/windows/varco-*.msi
wixl --arch x64 \
    -D "Version=$version" \
    -D "Exe=$stage/varco.exe" \
    -D "Example=config/approved-windows.example.toml" \
    -o "$out" packaging/windows/varco.wxs
echo "$out"
