#!/usr/bin/env bash
# The version, commit and date a build of meshdoctor is stamped with, worked
# out from git the way Go names module versions, so `make build`, `make dist`
# and `go install` agree:
#   on a tag vX.Y.Z             → vX.Y.Z
#   after a tag vX.Y.Z          → vX.Y.(Z+1)-0.YYYYMMDDhhmmss-<12 hex>
#   after a tag vX.Y.Z-pre      → vX.Y.Z-pre.0.YYYYMMDDhhmmss-<12 hex>
#   no tag yet (a fresh clone)  → v0.0.0-YYYYMMDDhhmmss-<12 hex>
#   uncommitted changes         → the above with "+dirty"
# The date is the commit's, never the clock's (reproducible builds), and is
# exported as SOURCE_DATE_EPOCH for the packaging tools. VERSION, COMMIT,
# DIRTY and SOURCE_DATE_EPOCH already set in the environment win.
#
#   release/version.sh env      VERSION=… COMMIT=… DATE=… DIRTY=… SOURCE_DATE_EPOCH=… (for eval)
#   release/version.sh ldflags  the -X flags that stamp internal/buildinfo
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=github.com/meshdoctor/meshdoctor/internal/buildinfo
commit=${COMMIT-}
dirty=false
epoch=${SOURCE_DATE_EPOCH-}
version=${VERSION-}

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  : "${commit:=$(git rev-parse HEAD)}"
  # Untracked files count, as they do for Go's vcs.modified.
  [ -n "$(git status --porcelain 2>/dev/null)" ] && dirty=true
  dirty=${DIRTY:-$dirty}
  : "${epoch:=$(git log -1 --format=%ct HEAD)}"
  if [ -z "$version" ]; then
    stamp=$(TZ=UTC git log -1 --date=format-local:%Y%m%d%H%M%S --format=%cd HEAD)
    rev=$(git rev-parse --short=12 HEAD)
    if tag=$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null); then
      version=$tag
    elif tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' HEAD 2>/dev/null); then
      if [[ $tag =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
        version="v${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))-0.$stamp-$rev"
      else
        version="$tag.0.$stamp-$rev"
      fi
    else
      version="v0.0.0-$stamp-$rev"
    fi
    if $dirty; then version+="+dirty"; fi
  fi
fi
: "${version:=dev}"
: "${epoch:=$(date +%s)}"
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

case "${1:-env}" in
  env)
    printf 'VERSION=%q\nCOMMIT=%q\nDATE=%q\nDIRTY=%q\nSOURCE_DATE_EPOCH=%q\n' "$version" "$commit" "$date" "$dirty" "$epoch" ;;
  ldflags)
    printf -- '-X %s.version=%s -X %s.commit=%s -X %s.date=%s -X %s.dirty=%s\n' \
      "$pkg" "$version" "$pkg" "$commit" "$pkg" "$date" "$pkg" "$dirty" ;;
  *)
    echo "usage: $0 [env|ldflags]" >&2; exit 2 ;;
esac
