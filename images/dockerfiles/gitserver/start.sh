#!/bin/bash
# Creates the bare repositories named in $GIT_REPOS (space separated), open to push
# without authentication (a test-only server inside the cluster), then serves them.
set -euo pipefail
for repo in ${GIT_REPOS:-manifests}; do
  dir="/srv/git/${repo}.git"
  if [ ! -d "$dir" ]; then
    git init --quiet --bare --initial-branch=main "$dir"
    git -C "$dir" config http.receivepack true
  fi
done
chown -R www-data:www-data /srv/git
install -d -o www-data -g www-data /run/fcgiwrap
setpriv --reuid=www-data --regid=www-data --init-groups \
  fcgiwrap -c 2 -s unix:/run/fcgiwrap/socket &
for _ in $(seq 100); do [ -S /run/fcgiwrap/socket ] && break; sleep 0.1; done
[ -S /run/fcgiwrap/socket ] || { echo "fcgiwrap did not start" >&2; exit 1; }
exec nginx -g 'daemon off;'
