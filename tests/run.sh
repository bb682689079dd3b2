#!/usr/bin/env bash
# Runs every varco test. The one test command: README and .ci/run call it.
#
# Installs what the tests need (Debian packages, the Windows Rust target)
# when missing, then runs the whole cargo test suite. A missing
# prerequisite is a failure with a message, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the integration tests use.
PACKAGES=(
    desktop-file-utils   # packaging: validates the XDG autostart entry
    systemd              # packaging: systemd-analyze verifies the unit
    wine64               # windows: runs varco.exe and fake tools under Wine 8
    gcc-mingw-w64-x86-64 # windows: links varco.exe, fake tools, the DLL shim; catalog: a PE with a version resource
    binutils-mingw-w64-x86-64 # catalog: windres for that PE
    zip                  # windows: the release zip (target/varco-windows.zip)
    xvfb                 # desktop: a real X server without a screen
    x11-xserver-utils    # desktop: xsetroot paints the background for the screenshot
    dbus                 # desktop: a private session bus (dbus-daemon), dbus-monitor, dbus-send
    dunst                # desktop: a real notification server
    fonts-dejavu-core    # desktop: the font dunst draws the notification with
    imagemagick          # desktop: import takes the screenshot
    x11vnc               # desktop: a real VNC server; catalog: a real Linux tool, renamed, found by content
    tigervnc-scraping-server  # desktop: a second one, x0vncserver
    procps               # desktop: ps, to show who still listens when a test fails
    rsyslog              # syslog: a real collector on loopback, started by the test
    util-linux           # desktop: setpriv runs the forged-notice client as nobody
    perl-base            # desktop: the forged-notice client
    attr                 # operator: setfattr marks a copy with user.xdg.origin.url, as a browser does
    libglib2.0-bin       # operator: gio set stores metadata::download-uri, as a GTK browser does
    gvfs-daemons         # operator: the real gvfsd-metadata that writes it to disk
)

need_install=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_install+=("$p")
done
if [ ${#need_install[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tests/run.sh: missing Debian packages: ${need_install[*]}" >&2
        echo "  install them as root (apt-get install ${need_install[*]}) or run this script as root" >&2
        exit 1
    fi
    echo "tests/run.sh: installing ${need_install[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}"
fi

if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    rustup target add x86_64-pc-windows-gnu
fi

cargo test --all-targets "$@"
cargo test -p xtask

# The generated catalog must match the LOLRMM snapshot it claims to come from.
if [ -d ../shared/lolrmm/yaml ]; then
    cargo run -q -p xtask -- catalog ../shared/lolrmm --check
else
    echo "tests/run.sh: ../shared/lolrmm not found: config/catalog/lolrmm.toml not compared with the snapshot" >&2
fi
