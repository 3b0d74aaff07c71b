# Sourced by scripts that need external tools. ensure_tools installs any that
# are missing from Debian's packages (as root, apt-get update once).

_apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing $* and no apt-get to install it with; install it by hand" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -z "$_apt_updated" ]; then
    $sudo apt-get update -qq >/dev/null
    _apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# need COMMAND PACKAGE: install PACKAGE when COMMAND is not on PATH.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2 (for $1)"
  apt_install "$2"
}

ensure_tools() {
  command -v go >/dev/null 2>&1 || { echo "go is not on PATH: install Go 1.26 (https://go.dev/dl/)" >&2; exit 1; }
  need git git
  need redis-server redis-server # the redis provider's tests run a real server
  need redis-cli redis-tools # ...and create Redis Clusters with redis-cli (Debian's redis-server depends on it)
  need promtool prometheus
}
