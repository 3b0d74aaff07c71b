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

# need_postgres: install Debian's postgresql when the server programs are
# missing. Debian keeps initdb and postgres off PATH, in
# /usr/lib/postgresql/<version>/bin (internal/pgtest looks there, or in
# $PG_BINDIR).
need_postgres() {
  [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ] && return 0
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
  done
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
  echo "installing postgresql (for initdb and postgres)"
  apt_install postgresql
}

ensure_tools() {
  command -v go >/dev/null 2>&1 || { echo "go is not on PATH: install Go 1.26 (https://go.dev/dl/)" >&2; exit 1; }
  need git git
  need gcc gcc # -race (go test -race, navius build -- -race) needs cgo and a C compiler
  need redis-server redis-server # the redis provider's tests run a real server
  need redis-cli redis-tools     # ...and create Redis Clusters with redis-cli
  need_postgres                  # the postgres provider's tests run a real server too
  need promtool prometheus
  need skopeo skopeo # the image tests read the archives without a daemon
  need umoci umoci   # ... and unpack them into a root file system
  need mkfs.ext4 e2fsprogs # providertest's CrashDurable loop-mounts an ext4 image to simulate a power loss
  need chromium chromium   # browsertest drives navius builder serve's page in a real headless Chromium
  need zsh zsh             # the completion scripts are tried in the shells they are for
  need fish fish
}
