#!/usr/bin/env bash
# make dist: meshdoctor's release files, reproducibly, into dist/.
#
#   meshdoctor_<v>_<os>_<arch>.tar.gz|.zip   linux, darwin, windows × amd64, arm64:
#                                            the binary, README.md, LICENSE, CHANGELOG.md,
#                                            completions/ (and man/ where man exists)
#   meshdoctor_<v>_linux_<arch>.deb|.rpm     nfpm (release/nfpm.yaml)
#   meshdoctor_<v>_<os>_<arch>.cdx.json      CycloneDX SBOM of each binary, with licences
#   meshdoctor_<v>_checksums.txt             SHA-256 of all of the above (sha256sum -c)
#
# Reproducible: -trimpath, CGO off, the version, commit and date stamped from
# git (release/version.sh), every file time set to the commit's time
# (SOURCE_DATE_EPOCH), archives sorted with owner 0 and no gzip timestamp; the
# same commit and Go release give the same bytes. Works on an untagged clone (the version is
# then a Go pseudo-version). The packaging tools are pinned in tools/go.mod,
# not in meshdoctor's go.mod, and built from the Go module proxy.
#
# PLATFORMS="linux/amd64 …" narrows the platforms; DIST=dir moves the output.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C TZ=UTC CGO_ENABLED=0
umask 022

# GNU tar, find and touch (for sorted, dated archives), gzip and zip: a Linux
# machine's tools.
for c in go git tar gzip zip sha256sum jq; do
  command -v "$c" >/dev/null 2>&1 || { echo "dist: $c is needed and not installed" >&2; exit 2; }
done
tar --version 2>/dev/null | grep -q 'GNU tar' || { echo "dist: GNU tar is needed (for --sort and --mtime)" >&2; exit 2; }

eval "$(release/version.sh env)"
export VERSION COMMIT DIRTY SOURCE_DATE_EPOCH # so every later step agrees
v=${VERSION#v}
out=${DIST:-dist}
platforms=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64}
ldflags="-s -w $(release/version.sh ldflags)"
# The Go toolchain's own vcs.* record too (`go version -m` and scanners read
# it); -buildvcs=true would fail outside a git work tree.
buildvcs=false
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  buildvcs=true
  # cyclonedx-gomod reads the repository with go-git, which cannot open a
  # linked work tree (git worktree add): say so rather than fail obscurely.
  if [ "$(git rev-parse --git-dir)" != "$(git rev-parse --git-common-dir)" ]; then
    echo "dist: $(pwd) is a linked git work tree, which the SBOM tool cannot read: run make dist in a clone (git clone $(pwd) …)" >&2
    exit 2
  fi
fi
echo "dist: meshdoctor $VERSION (commit ${COMMIT:-unknown}, $DATE) → $out/"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out" "$work/stage/man" "$work/stage/completions" "$work/tools"
out=$(cd "$out" && pwd)

# The packaging tools, at the versions tools/go.mod pins.
(cd tools && go build -o "$work/tools/" github.com/goreleaser/nfpm/v2/cmd/nfpm github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod)

# The man pages are committed (docs/man); refuse to package stale ones.
go test ./cmd/meshdoctor -count=1 -run '^TestDocsUpToDate$' >/dev/null ||
  { echo "dist: docs/man or docs/cli is stale: run make docs" >&2; exit 1; }
for f in docs/man/*.1; do gzip -9 -n -c "$f" >"$work/stage/man/$(basename "$f").gz"; done

build() { # GOOS GOARCH OUTPUT
  GOOS=$1 GOARCH=$2 go build -trimpath -buildvcs=$buildvcs -ldflags "$ldflags" -o "$3" ./cmd/meshdoctor
}

# Completions come from the commands themselves, by a binary of this machine.
build "$(go env GOHOSTOS)" "$(go env GOHOSTARCH)" "$work/host/meshdoctor"
for sh in bash zsh fish powershell; do
  ext=$sh; [ "$sh" = powershell ] && ext=ps1
  "$work/host/meshdoctor" completion "$sh" >"$work/stage/completions/meshdoctor.$ext"
done

# go-license-detector v4.3.0 (under cyclonedx-gomod v1.10.0; the module proxy
# has no later one) reads the BSD-3-Clause licence of Go's own modules
# (golang.org/x/...) as BSD-Source-Code, which grants no redistribution in
# binary form: a licence reviewer would stop on it (cyclonedx-gomod#611, fixed
# by go-license-detector v4.3.1). Each module so labelled has its LICENSE read
# again: where it is BSD-3-Clause's text (redistribution in source and binary
# forms, the three conditions, no advertising clause), the SBOM says
# BSD-3-Clause, and a property on the component says it was corrected and why.
moddirs=$(go list -m -f '{{.Path}}@{{.Version}} {{.Dir}}' all)
fix_licences() { # SBOM
  local sbom=$1 mod dir lic
  for mod in $(jq -r '.components[] | select([.evidence.licenses[]?.license.id] | index("BSD-Source-Code")) | .name + "@" + .version' "$sbom"); do
    dir=$(awk -v m="$mod" '$1 == m {print $2}' <<<"$moddirs")
    lic=$(cat "$dir"/LICENSE* 2>/dev/null | tr -s ' \n\t' '   ') || true
    grep -q 'Redistribution and use in source and binary forms' <<<"$lic" &&
      grep -q 'Redistributions of source code must retain' <<<"$lic" &&
      grep -q 'Redistributions in binary form must reproduce' <<<"$lic" &&
      grep -q 'Neither the name of' <<<"$lic" && ! grep -qi 'advertising materials' <<<"$lic" || continue
    jq --arg ref "pkg:golang/${mod%@*}@${mod#*@}?type=module" '(.components[] | select(."bom-ref" == $ref)) |=
      (.evidence.licenses |= map(if .license.id == "BSD-Source-Code" then .license.id = "BSD-3-Clause" else . end)
      | .properties += [{name: "meshdoctor:licence-corrected",
          value: "BSD-Source-Code, as go-license-detector v4.3.0 read it, is BSD-3-Clause: the LICENSE grants redistribution in source and binary forms under its three conditions"}])' \
      "$sbom" >"$sbom.tmp" && mv "$sbom.tmp" "$sbom"
  done
}

# normalise sets every time to the commit's and the modes to what a user expects.
normalise() {
  find "$1" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
  find "$1" -type f -name 'meshdoctor' -exec chmod 0755 {} + -o -type f -name 'meshdoctor.exe' -exec chmod 0755 {} +
  find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

for p in $platforms; do
  os=${p%/*} arch=${p#*/}
  name=meshdoctor_${v}_${os}_${arch}
  dir=$work/archive/$name
  exe=meshdoctor; [ "$os" = windows ] && exe=meshdoctor.exe
  mkdir -p "$dir/completions"
  build "$os" "$arch" "$dir/$exe"
  cp README.md LICENSE CHANGELOG.md "$dir/"
  cp "$work/stage/completions/"* "$dir/completions/"
  [ "$os" = windows ] || { mkdir -p "$dir/man" && cp docs/man/*.1 "$dir/man/"; }
  normalise "$dir"
  if [ "$os" = windows ]; then
    (cd "$work/archive" && find "$name" -type f | sort | zip -q -X -D -9 -@ "$out/$name.zip")
  else
    tar --sort=name --format=gnu --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
      -C "$work/archive" -cf - "$name" | gzip -9 -n >"$out/$name.tar.gz"
  fi

  # What went into this binary, with licences (read from the module cache).
  GOOS=$os GOARCH=$arch "$work/tools/cyclonedx-gomod" app -json -licenses -noserial -notimestamp \
    -main cmd/meshdoctor -output "$out/$name.cdx.json" . 2>"$work/sbom.log" ||
    { cat "$work/sbom.log" >&2; exit 1; }
  fix_licences "$out/$name.cdx.json"

  if [ "$os" = linux ]; then
    for fmt in deb rpm; do
      NFPM_ARCH=$arch NFPM_VERSION=$v NFPM_BIN="$dir/$exe" NFPM_STAGE="$work/stage" \
        "$work/tools/nfpm" package --config release/nfpm.yaml --packager "$fmt" --target "$out/${name}.$fmt" >/dev/null
    done
  fi
done

(cd "$out" && find . -maxdepth 1 -type f ! -name '*checksums.txt' -printf '%f\n' | sort | xargs sha256sum >"meshdoctor_${v}_checksums.txt")
ls -l "$out"
