#!/bin/sh
# Install the Debian packages that `aifactory lab` and the lab tests need (tests/scenarios/), and promtool and
# amtool (Debian's prometheus and prometheus-alertmanager), which tests/monitoring runs over the alert rules and
# the generated configuration.
# Idempotent: does nothing when every command is already present. Needs root (or sudo) and apt.
set -eu

# command -> Debian package that provides it
NEEDED="
debootstrap:debootstrap
systemd-nspawn:systemd-container
ip:iproute2
nft:nftables
ssh:openssh-client
ssh-keygen:openssh-client
mkfs.ext4:e2fsprogs
losetup:mount
mount:mount
nsenter:util-linux
mkfs.xfs:xfsprogs
gpg:gpg
gpgconf:gpgconf
gpgv:gpgv
dpkg-deb:dpkg
promtool:prometheus
amtool:prometheus-alertmanager
"

missing=""
for pair in $NEEDED; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
        case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
    fi
done

if [ -z "$missing" ]; then
    echo "lab dependencies: all present"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "lab dependencies: installing$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
# Debian's prometheus and prometheus-alertmanager start their servers on every address of this machine: the
# tests need only promtool and amtool.
for service in prometheus prometheus-alertmanager; do
    case " $missing " in
        *" $service "*) if [ -d /run/systemd/system ]; then $SUDO systemctl disable --now "$service"; fi ;;
    esac
done
