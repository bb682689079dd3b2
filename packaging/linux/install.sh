#!/bin/sh
# Installs varco on a Linux workstation, as root, where the Debian package
# (packaging/linux/build-deb.sh) cannot be used. Usage:
#   sudo sh packaging/linux/install.sh path/to/varco [system]
# With "system", varco enforces as a root system service (tamper-proof)
# and a silent agent in each session shows its notifications.
# Copies the binary to /usr/local/bin, creates /etc/varco (root-owned)
# with a windows file that opens no window if none exists, and starts
# varco silently at every login (systemd user unit, plus XDG autostart for
# sessions without systemd).
set -eu
bin=${1:?usage: install.sh path/to/varco}
here=$(dirname "$0")
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
if dpkg-query -W -f='${Status}' varco 2>/dev/null | grep -q "ok installed"; then
    echo "install.sh: the varco Debian package is installed; upgrade it instead (apt install ./varco_*.deb)" >&2
    exit 1
fi

# The unit files name the packaged binary, /usr/bin/varco.
unit() {
    sed 's|/usr/bin/varco|/usr/local/bin/varco|g' "$1" > "$2"
    chmod 644 "$2"
}

install -m 755 "$bin" /usr/local/bin/varco
install -d -m 755 -o root -g root /etc/varco
if [ ! -e /etc/varco/approved-windows.toml ]; then
    install -m 644 -o root -g root "$here/../../config/approved-windows.default.toml" /etc/varco/approved-windows.toml
    echo "install.sh: wrote /etc/varco/approved-windows.toml: it opens NO window, so every remote tool is blocked until IT adds one (see config/approved-windows.example.toml)"
fi
/usr/local/bin/varco check /etc/varco/approved-windows.toml || echo "install.sh: fix the file above; until then no window is open" >&2
# The operator's panic button ("Interrompi assistenza remota") in every
# desktop's application menu.
unit "$here/varco-panic.desktop" /usr/share/applications/varco-panic.desktop
if [ "${2:-}" = system ]; then
    unit "$here/varco-system.service" /etc/systemd/system/varco-system.service
    unit "$here/varco-agent.service" /etc/systemd/user/varco-agent.service
    unit "$here/varco-agent-autostart.desktop" /etc/xdg/autostart/varco-agent.desktop
    systemctl --global enable varco-agent.service
    systemctl enable --now varco-system.service
    echo "install.sh: varco-system.service runs now; the agent starts at the next login of every user"
    exit 0
fi
unit "$here/varco.service" /etc/systemd/user/varco.service
unit "$here/varco-autostart.desktop" /etc/xdg/autostart/varco.desktop
if command -v systemctl >/dev/null; then systemctl --global enable varco.service; fi
echo "install.sh: varco starts at the next login of every user"
