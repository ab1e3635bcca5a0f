#!/bin/sh
# The Debian packages reelcloud needs beyond Python's wheels (PostgreSQL, NATS and SeaweedFS
# come as wheels), for one make target: `up` or `test`. The Makefile runs this first for both;
# CI runs `make test` like anyone else.
#
# All present (checked by command, so a repeated `make test` costs nothing): nothing happens.
# Something missing, as root: apt-get installs it. Not root: the one command to run is printed
# and make stops before anything else runs.
set -eu

target=${1:?usage: scripts/system-deps.sh up|test}

missing=""
# command that proves it is installed | Debian packages that bring it | targets needing it.
# npm: Debian's nodejs and npm only when there is no npm at all, so a Node.js from elsewhere
# (nvm, NodeSource) is left alone.
while IFS='|' read -r command packages targets; do
  case " $targets " in *" $target "*) ;; *) continue ;; esac
  command -v "$command" >/dev/null 2>&1 || missing="$missing $packages"
done <<'REQUIREMENTS'
memcached|memcached|up test
chromium|chromium|test
npm|nodejs npm|up test
REQUIREMENTS

# Making the virtualenv takes Debian's venv module, unless there is one already.
if [ ! -x "${VENV:-.venv}/bin/python" ] && ! "${PYTHON:-python3}" -c 'import ensurepip' 2>/dev/null
then
  missing="$missing python3-venv"
fi

[ -z "$missing" ] && exit 0
missing=${missing# }

if [ "$(id -u)" -ne 0 ]; then
  echo "make $target needs Debian packages that are not installed: $missing" >&2
  echo "Run this, then make $target again:" >&2
  echo "  sudo apt-get install -y $missing" >&2
  exit 1
fi
echo "make $target: installing Debian packages: $missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # one word per package
apt-get install -y -qq $missing
