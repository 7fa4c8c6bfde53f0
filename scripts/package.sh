#!/usr/bin/env bash
# scripts/package.sh: builds dist/roundtrip_VERSION_amd64.deb with dpkg-deb alone (no network,
# no debhelper). The packaging files are in packaging/; scripts/package-check.sh checks the result.
#
#   1. swift build -c release --static-swift-stdlib --product roundtrip, with ROUNDTRIP_COMMIT set
#      from `git rev-parse --short HEAD` so that `roundtrip --version` names the commit (Package.swift
#      hands it to the CBuildInfo target). SwiftPM builds incrementally in .build/release: once the
#      binary is built, running this again only relinks (new commit) or does nothing.
#   2. The binary may load no Swift library at run time (ldd: no libswift*, libFoundation*,
#      libdispatch, libBlocksRuntime), so it runs on a Debian 12 host without a Swift toolchain.
#   3. Man pages: swift-argument-parser's generate-manual tool (the tool its generate-manual
#      plugin runs) on the binary being packaged, --multi-page: roundtrip(1) and one page per
#      subcommand. The plugin itself is not used because it rebuilds every product of the package
#      in release mode without --static-swift-stdlib: a second release build, of a binary other
#      than the one shipped.
#   4. bash, zsh and fish completions from `roundtrip --generate-completion-script`.
#   5. The tree: /usr/bin/roundtrip (stripped), man pages, completions, the systemd unit,
#      /etc/roundtrip/config.toml (conffile), README, CHANGELOG, docs and copyright under
#      /usr/share/doc/roundtrip; Depends from dpkg-shlibdeps; dpkg-deb --root-owner-group.
#
# Environment:
#   ROUNDTRIP_COMMIT   the commit to name (default: git rev-parse --short HEAD, plus "-dirty" when
#                      tracked files differ from it; "unknown" outside a git work tree)
#   SOURCE_DATE_EPOCH  the date on the man pages and the files in the package (default: the
#                      commit's date)
# Prints the path of the package on its last line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

say() { echo "package: $*"; }
die() { echo "package: error: $*" >&2; exit 1; }

for tool in swift dpkg-deb dpkg-shlibdeps gzip strip ldd; do
    command -v "$tool" >/dev/null || die "$tool is missing (dpkg-shlibdeps: apt-get install dpkg-dev; strip: binutils)"
done
[[ $(dpkg --print-architecture) == amd64 ]] || die "only amd64 is packaged (this machine is $(dpkg --print-architecture))"

# --- the commit and the date ---------------------------------------------------------------
if [[ -z ${ROUNDTRIP_COMMIT:-} ]]; then
    if git rev-parse --git-dir >/dev/null 2>&1; then
        ROUNDTRIP_COMMIT=$(git rev-parse --short HEAD)
        git diff --quiet HEAD -- 2>/dev/null || ROUNDTRIP_COMMIT+="-dirty"
    else
        ROUNDTRIP_COMMIT=unknown
    fi
fi
export ROUNDTRIP_COMMIT
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
[[ $ROUNDTRIP_COMMIT == *-dirty ]] && say "warning: tracked files differ from HEAD; the package says commit $ROUNDTRIP_COMMIT"

# --- 1. build ----------------------------------------------------------------------------
# Full RELRO (lintian: hardening-no-bindnow); only the link step sees these.
BUILD_FLAGS=(-c release --static-swift-stdlib -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now)
say "swift build ${BUILD_FLAGS[*]} --product roundtrip (ROUNDTRIP_COMMIT=$ROUNDTRIP_COMMIT)"
start=$SECONDS
swift build "${BUILD_FLAGS[@]}" --product roundtrip
say "built roundtrip in $((SECONDS - start)) s"
start=$SECONDS
swift build "${BUILD_FLAGS[@]}" --product generate-manual
say "built generate-manual in $((SECONDS - start)) s"
BIN_DIR=$(swift build "${BUILD_FLAGS[@]}" --show-bin-path)
BUILT=$BIN_DIR/roundtrip
GENERATE_MANUAL=$BIN_DIR/generate-manual
[[ -x $BUILT && -x $GENERATE_MANUAL ]] || die "no binaries in $BIN_DIR"

# --- 2. no Swift runtime loaded at run time ------------------------------------------------
if ldd "$BUILT" | grep -E 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|not found'; then
    die "$BUILT loads the Swift runtime or misses a library (above); it would not run without a toolchain"
fi

# The version comes from the binary (RoundtripVersion in Sources/roundtrip), the Debian
# changelog must have an entry for it.
VERSION_LINE=$(env -i PATH=/usr/bin:/bin "$BUILT" --version)
[[ $VERSION_LINE =~ ^roundtrip\ ([0-9]+\.[0-9]+\.[0-9]+)\ \(commit\ ([^\)]+)\)$ ]] \
    || die "unexpected --version output: $VERSION_LINE"
VERSION=${BASH_REMATCH[1]}
[[ ${BASH_REMATCH[2]} == "$ROUNDTRIP_COMMIT" ]] \
    || die "--version names commit ${BASH_REMATCH[2]}, expected $ROUNDTRIP_COMMIT (a stale build?)"
CHANGELOG_VERSION=$(dpkg-parsechangelog -l packaging/changelog -S Version)
[[ $CHANGELOG_VERSION == "$VERSION" ]] \
    || die "the binary is version $VERSION, packaging/changelog's latest entry is $CHANGELOG_VERSION: add an entry"
say "$VERSION_LINE"

# --- 3.-5. the tree ------------------------------------------------------------------------
umask 022
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PKG=$WORK/root
DOC=$PKG/usr/share/doc/roundtrip

install -d "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/usr/share/man/man1" "$DOC" \
    "$PKG/usr/share/bash-completion/completions" "$PKG/usr/share/zsh/vendor-completions" \
    "$PKG/usr/share/fish/vendor_completions.d" "$PKG/lib/systemd/system" "$PKG/etc/roundtrip"

# dh_strip's flags: debug symbols out, .comment and .note out.
strip --remove-section=.comment --remove-section=.note --strip-unneeded -o "$PKG/usr/bin/roundtrip" "$BUILT"
chmod 0755 "$PKG/usr/bin/roundtrip"
SHIPPED=$PKG/usr/bin/roundtrip
[[ $(env -i PATH=/usr/bin:/bin "$SHIPPED" --version) == "$VERSION_LINE" ]] || die "the stripped binary does not run"

MAN_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)
"$GENERATE_MANUAL" "$SHIPPED" --multi-page --date "$MAN_DATE" --output-directory "$PKG/usr/share/man/man1"
pages=("$PKG"/usr/share/man/man1/*.1)
((${#pages[@]} > 1)) || die "generate-manual wrote ${#pages[@]} page(s)"
# Three fixes to generate-manual's mdoc, so that man and lintian do not complain:
# - a blank line (a paragraph break in the help text) becomes .Pp;
# - a subcommand page's NAME is one word, roundtrip.SUB as the file is named, so that
#   whatis/apropos can read it; SYNOPSIS and EXIT STATUS still say "roundtrip SUB";
# - the one-line description loses its quotes (whatis would show them).
for page in "${pages[@]}"; do
    sed -i -e 's/^$/.Pp/' -e 's/^\.Nd "\(.*\)"$/.Nd \1/' "$page"
    name=$(basename "$page" .1)
    if [[ $name == roundtrip.* ]]; then
        sub=${name#roundtrip.}
        sed -i -e "0,/^\.Nm \"roundtrip $sub\"\$/s//.Nm roundtrip.$sub/" \
            -e "s/^\.Nm\$/.Nm \"roundtrip $sub\"/" -e "s/^\.Ex -std\$/.Ex -std \"roundtrip $sub\"/" "$page"
    fi
done
gzip -9n "${pages[@]}"

# bash-completion sources the file: no #! line (lintian: bash-completion-with-hashbang).
env -i PATH=/usr/bin:/bin "$SHIPPED" --generate-completion-script bash | sed '1{/^#!/d}' > "$PKG/usr/share/bash-completion/completions/roundtrip"
env -i PATH=/usr/bin:/bin "$SHIPPED" --generate-completion-script zsh > "$PKG/usr/share/zsh/vendor-completions/_roundtrip"
env -i PATH=/usr/bin:/bin "$SHIPPED" --generate-completion-script fish > "$PKG/usr/share/fish/vendor_completions.d/roundtrip.fish"

install -m 0644 packaging/roundtrip-listen.service "$PKG/lib/systemd/system/"
install -m 0644 packaging/config.toml "$PKG/etc/roundtrip/config.toml"

install -m 0644 packaging/copyright "$DOC/copyright"
install -m 0644 README.md CHANGELOG.md "$DOC/"
install -d "$DOC/docs" "$DOC/examples"
install -m 0644 docs/*.md "$DOC/docs/"
install -m 0644 Examples/roundtrip.toml "$DOC/examples/"
install -m 0644 packaging/changelog "$DOC/changelog"
# Policy 12.3: documentation over 4 kB is compressed; the changelog always is.
find "$DOC" -type f \( -name '*.md' -size +4k -o -name changelog \) -exec gzip -9n {} +

install -m 0644 packaging/conffiles "$PKG/DEBIAN/conffiles"
install -m 0755 packaging/postinst packaging/prerm packaging/postrm "$PKG/DEBIAN/"

# Depends: the shared libraries the binary still loads (glibc, libstdc++, libgcc, libsqlite3).
mkdir -p "$WORK/shlibs/debian"
printf 'Source: roundtrip\n\nPackage: roundtrip\nArchitecture: amd64\n' > "$WORK/shlibs/debian/control"
SHLIBS=$(cd "$WORK/shlibs" && dpkg-shlibdeps -O "$SHIPPED" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n $SHLIBS ]] || die "dpkg-shlibdeps found no dependencies for $SHIPPED"

INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_SIZE@/$INSTALLED_SIZE/" -e "s/@SHLIBS_DEPENDS@/$SHLIBS/" \
    packaging/control.in > "$PKG/DEBIAN/control"

(cd "$PKG" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' \
    | LC_ALL=C sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"
chmod 0644 "$PKG/DEBIAN/md5sums"

# Every file dated like the commit, so the same commit gives the same package.
find "$PKG" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p dist
DEB=dist/roundtrip_${VERSION}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null
say "$(du -k "$DEB" | cut -f1) KiB package, $(stat -c %s "$SHIPPED") byte binary, Depends: $SHLIBS, adduser"
echo "$ROOT/$DEB"
