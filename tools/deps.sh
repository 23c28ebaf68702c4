#!/bin/sh
# Installs the Debian packages cotsnet needs when any is missing (make deps).
# Run as root on a fresh machine; as another user it only says what is missing.
# slurm-wlm and munge: tests/t_slurm_*.sh run a private one-node Slurm (tests/slurm/lib.sh).
PKGS="build-essential pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools \
libinih-dev libsleef-dev zlib1g-dev libpng-dev python3-numpy python3-h5py dataset-fashion-mnist slurm-wlm munge"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "cotsnet: missing Debian packages:$missing" >&2
    echo "cotsnet: run 'sudo make deps' (or apt-get install$missing) and build again" >&2
    exit 1
fi
echo "cotsnet: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || exit 1
apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
