# Sourced by the provision scripts that take a server or a browser from Debian's packages.
# apt_install WHAT PACKAGE: installs PACKAGE as root, or says in Dutch what to run and stops
# when this is no root shell. The caller checks first whether it is installed already.
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "provision: $1 ontbreekt; installeer als root: apt-get install -y $2" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
