#!/usr/bin/env bash
# Publishes a release, run by the workflow's release job on a `v<version>` tag with every
# build job's artifact downloaded into artifacts/ (artifacts/bindings-<target>/shmring.*.node).
#
# 1. the tag must equal package.json's version;
# 2. `napi artifacts` copies each .node into its npm/<triple>/ package; all must be present;
# 3. dist/ is built and ci/pack.sh installs the exact tarballs once more (Linux x64);
# 4. `napi prepublish -t npm` publishes each npm/<triple>/ package and writes the main
#    package's optionalDependencies; then the main package is published. Provenance is on
#    (NPM_CONFIG_PROVENANCE; the job has `id-token: write`), pre-releases go to the `next` tag.
#    Auth: npm trusted publishing (OIDC), or NPM_TOKEN when set (needed for a first publish).
#
# Usage: bash ci/release.sh [--dry-run]   (--dry-run publishes nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
dry=()
[[ ${1:-} == --dry-run ]] && dry=(--dry-run)

version=$(node -p "require('./package.json').version")
tag=${GITHUB_REF_NAME:-v$version}
if [[ $tag != "v$version" ]]; then
  echo "tag $tag does not match package.json version $version: run 'npm version <x.y.z>' and tag that commit" >&2
  exit 1
fi

echo "== platform packages"
npx napi artifacts --output-dir artifacts
missing=0
for dir in npm/*/; do
  triple=$(basename "$dir")
  if [[ -f $dir/shmring.$triple.node ]]; then
    ls -l "$dir/shmring.$triple.node"
  else
    echo "missing: $dir/shmring.$triple.node (no build artifact for $triple)" >&2
    missing=1
  fi
done
[[ $missing == 0 ]] || exit 1

echo "== build dist/ and test the tarballs once more"
triple=linux-x64-gnu
cp "npm/$triple/shmring.$triple.node" .
npx tsc -p tsconfig.build.json
node scripts/esm-wrapper.mjs
bash ci/pack.sh

echo "== publish"
export NPM_CONFIG_PROVENANCE=true
# Trusted publishing (OIDC) needs no token, but only works for packages that already exist:
# the first release of each package needs an automation token in NPM_TOKEN.
if [[ -n ${NPM_TOKEN:-} ]]; then
  registry=$(npm config get registry) # https://<host>/ -> //<host>/:_authToken
  npm config set "${registry#*:}:_authToken" "$NPM_TOKEN"
fi
dist_tag=latest
[[ $version == *-* ]] && dist_tag=next
npx napi prepublish -t npm "${dry[@]}"
npm publish --ignore-scripts --access public --tag "$dist_tag" "${dry[@]}"
