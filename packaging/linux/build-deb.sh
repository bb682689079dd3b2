#!/usr/bin/env bash
# Builds the Debian package: target/debian/varco_<version>_<arch>.deb, and
# nothing else in target/debian. Usage (from anywhere in the repository):
#
#     bash packaging/linux/build-deb.sh
#
# What goes in the package is [package.metadata.deb] in Cargo.toml; the
# maintainer scripts are in packaging/linux/debian/. This script installs
# the pinned cargo-deb when it is missing, builds the release binary, then
# writes what depends on the build (the copyright file with the licence of
# every crate linked in, the changelog) to target/debian-extra/ before
# cargo-deb packs it all. Honours CARGO_TARGET_DIR.
#
# VARCO_BIN=path/to/varco packs that binary instead of building one, with
# light compression (the test suite packs the binary it has just built, to
# save a release build and 10 s of xz).
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "build-deb.sh: installing cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install --locked "cargo-deb@$CARGO_DEB_VERSION"
fi

extra=target/debian-extra
mkdir -p "$extra"
fast=()
if [ -n "${VARCO_BIN:-}" ]; then
    fast=(--fast)
    # cargo-deb takes the binary from $CARGO_TARGET_DIR/release.
    rm -rf "$extra/target"
    mkdir -p "$extra/target/release"
    cp "$VARCO_BIN" "$extra/target/release/varco"
    export CARGO_TARGET_DIR="$PWD/$extra/target"
else
    cargo build --release --locked --bin varco
fi

version=$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"name":"varco","version":"\([^"]*\)".*/\1/p')
[ -n "$version" ] || { echo "build-deb.sh: cannot read varco's version from Cargo.toml" >&2; exit 1; }
maintainer=$(sed -n 's/^maintainer = "\(.*\)"$/\1/p' Cargo.toml)

# The changelog of this native package: one entry for the version built,
# dated like the commit it is built from (reproducible).
date=$(git log -1 --format=%cD 2>/dev/null || date -R)
cat > "$extra/changelog" <<EOF
varco ($version) unstable; urgency=medium

  * varco $version; what changed is in the project's history and README.

 -- $maintainer  $date
EOF

# The copyright file: the fixed part, one paragraph per crate linked into
# the binary (licence as the crate declares it, in Debian's syntax), then
# the text of every licence named. A licence without a text here stops the
# build: add it to packaging/linux/debian/licenses.in.
host=$(rustc -vV | sed -n 's/^host: //p')
crates=$(cargo tree --locked -e normal,no-proc-macro --prefix none --target "$host" \
    --format '{p}|{l}|{r}' -p varco | sed 's/ (\*)$//' | grep -v '^varco ' | sort -u)
dep5() { sed -e 's/^(\(.*\)) AND /\1, and /' -e 's/ OR / or /g' -e 's/ AND / and /g' -e 's#/# or #g' \
    -e 's/Apache-2.0 WITH LLVM-exception/Apache-2.0 with LLVM exception/g'; }
registry() { ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$1" 2>/dev/null | head -1; }
{
    cat packaging/linux/debian/copyright.in
    while IFS='|' read -r crate license repo; do
        name=${crate% v*}
        ver=${crate##* v}
        echo
        echo "Files: vendor/$name-$ver/*"
        echo "Copyright: the $name authors${repo:+ ($repo)}"
        echo "License: $(echo "$license" | dep5)"
    done <<<"$crates"
    echo
    cat packaging/linux/debian/licenses.in
    if grep -q 'LLVM-exception' <<<"$crates"; then
        dir=$(registry "$(grep 'LLVM-exception' <<<"$crates" | head -1 | sed 's/ v/-/; s/|.*//')")
        echo
        echo "License: Apache-2.0 with LLVM exception"
        echo " The Apache License, Version 2.0 (/usr/share/common-licenses/Apache-2.0)"
        echo " with these exceptions:"
        echo " ."
        sed -n '/LLVM Exceptions to the Apache 2.0 License/,$p' "$dir"/LICENSE-Apache-2.0_WITH_LLVM-exception |
            sed -e 's/^[[:space:]]*$/./' -e 's/^/ /'
    fi
    # The data licence of the bundled web PKI roots (URL mode), from the
    # crate that carries it.
    if grep -q 'CDLA-Permissive-2.0' <<<"$crates"; then
        dir=$(registry "$(grep 'CDLA-Permissive-2.0' <<<"$crates" | head -1 | sed 's/ v/-/; s/|.*//')")
        echo
        echo "License: CDLA-Permissive-2.0"
        sed -e 's/^#* *//' -e 's/^[[:space:]]*$/./' -e 's/^/ /' "$dir"/LICENSE
    fi
    if grep -q 'Unicode-3.0' <<<"$crates"; then
        dir=$(registry "$(grep 'Unicode-3.0' <<<"$crates" | head -1 | sed 's/ v/-/; s/|.*//')")
        echo
        echo "License: Unicode-3.0"
        sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' "$dir"/LICENSE-UNICODE
    fi
} > "$extra/copyright"
# Every licence named in a Files paragraph needs a paragraph of its own
# (one that starts with "License:").
missing=$(awk '
    /^$/ { start = 1; next }
    /^License: / {
        name = substr($0, 10)
        if (start) { text[name] = 1 } else { used[name] = 1 }
    }
    { start = 0 }
    END {
        for (u in used) {
            gsub(/, and | and | or /, "|", u)
            n = split(u, parts, "|")
            for (i = 1; i <= n; i++) if (!(parts[i] in text)) print parts[i]
        }
    }' "$extra/copyright" | sort -u)
if [ -n "$missing" ]; then
    echo "build-deb.sh: no licence text for: $missing — add it to packaging/linux/debian/licenses.in" >&2
    exit 1
fi

rm -f target/debian/varco_*.deb
cargo deb --no-build --locked "${fast[@]}" --output target/debian/ >&2
deb="target/debian/varco_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || { echo "build-deb.sh: cargo-deb did not write $deb" >&2; ls target/debian >&2; exit 1; }
echo "$deb"
