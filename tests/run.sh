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
    systemd              # packaging: systemd-analyze verifies the units; hardening: expands the syscall filter
    lintian              # packaging: checks the Debian package
    strace               # hardening: records the daemon's system calls against the unit's filter
    wine64               # windows: runs varco.exe and fake tools under Wine 8
    gcc-mingw-w64-x86-64 # windows: links varco.exe, fake tools, the DLL shim; catalog: a PE with a version resource
    binutils-mingw-w64-x86-64 # catalog: windres for that PE
    osslsigncode         # identify: signs a test PE (Authenticode), as a vendor's build would
    openssl              # identify: the self-made signing certificate
    zip                  # windows: the release zip (target/varco-windows.zip)
    wixl                 # windows: builds the MSI (packaging/windows/build-msi.sh)
    msitools             # windows: msiinfo reads the MSI's tables
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
    libnss-systemd       # pipeline: an operator from a directory (a /run/userdb record), not in /etc/passwd
    minisign             # trust, fetch: IT signs windows files with the stock tool
    nginx                # fetch: IT's web server serving the signed file (started by the test, no system service)
    openssl              # fetch: a self-signed certificate for the HTTPS server
    attr                 # operator: setfattr marks a copy with user.xdg.origin.url, as a browser does
    libglib2.0-bin       # operator: gio set stores metadata::download-uri, as a GTK browser does
    gvfs-daemons         # operator: the real gvfsd-metadata that writes it to disk
    python3-minimal      # bypass: the memfd_create + exec helper, and an interpreter running a tool's script
)

# Debian's remote-desktop servers, installed without recommends (206
# packages, 66 MB; about 45 s on a 2-core machine with a Debian mirror): the
# linux_servers tests copy each real binary under an everyday name, look it
# up by content and let the daemon stop it, and check their content markers
# against every program of the machine.
SERVERS=(
    tigervnc-standalone-server # linux_servers: Xvnc (Xtigervnc)
    tightvncserver       # linux_servers: TightVNC's X server (Xtightvnc)
    xrdp                 # linux_servers: xrdp, xrdp-sesman, xrdp-chansrv
    xorgxrdp             # linux_servers: the Xorg modules of an xrdp session
    freerdp2-shadow-x11  # linux_servers: FreeRDP's shadow server
    krfb                 # linux_servers: KDE's desktop sharing
    gnome-remote-desktop # linux_servers: GNOME Remote Desktop's daemon
    xpra                 # linux_servers: xpra's Python launchers
    x2goserver           # linux_servers: x2goagent and X2Go's Perl and shell programs
)

missing() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}
mapfile -t need_install < <(missing "${PACKAGES[@]}")
mapfile -t need_servers < <(missing "${SERVERS[@]}")
if [ $((${#need_install[@]} + ${#need_servers[@]})) -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tests/run.sh: missing Debian packages: ${need_install[*]} ${need_servers[*]}" >&2
        echo "  install them as root (apt-get install ${need_install[*]} ${need_servers[*]}) or run this script as root" >&2
        exit 1
    fi
    echo "tests/run.sh: installing ${need_install[*]} ${need_servers[*]}" >&2
    apt-get update -qq
    if [ ${#need_install[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}"
        # fetch starts its own nginx on loopback: the package's service
        # must not stay up serving port 80.
        if [ -d /run/systemd/system ]; then
            systemctl disable --now nginx 2>/dev/null || true
        fi
    fi
    if [ ${#need_servers[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_servers[@]}"
        # They are test fixtures: where systemd runs, their services must
        # not stay up listening for remote desktops.
        if [ -d /run/systemd/system ]; then
            systemctl disable --now xrdp xrdp-sesman x2goserver gnome-remote-desktop 2>/dev/null || true
        fi
    fi
fi

if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    rustup target add x86_64-pc-windows-gnu
fi

cargo test --all-targets "$@"
cargo test -p xtask

# The committed catalog must be what its committed source snapshots give...
cargo run -q -p xtask -- catalog --check
# ...and the LOLRMM snapshot what the LOLRMM export it names gives.
if [ -d ../shared/lolrmm/yaml ]; then
    cargo run -q -p xtask -- update lolrmm=../shared/lolrmm --check
else
    echo "tests/run.sh: ../shared/lolrmm not found: config/catalog/sources/lolrmm.toml not compared with the export" >&2
fi
