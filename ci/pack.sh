#!/usr/bin/env bash
# The published shape, tested: packs the main package (with the `optionalDependencies` that
# `napi prepublish` writes at publish time) and this machine's platform package
# (npm/<triple>/ plus the built .node), installs both tarballs offline into a fresh project
# outside the repository, and from there runs real two-process round trips through the
# installed package in ESM and in CommonJS (__test__/pack/), then `npx shmring --help` and
# `npx shmring doctor`. Fails if the main package has runtime dependencies, ships a .node or
# stale build output, or if anything resolves back into the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

echo "== build (if needed)"
if [[ ! -f dist/index.mjs || ! -f dist/platform.js ]]; then npm run --silent build; fi
triple=$(node -p "require('./dist/platform.js').platformTriple()")
binary="shmring.$triple.node"
if [[ ! -f $binary ]]; then npm run --silent build; fi
if [[ ! -d npm/$triple ]]; then
  echo "npm/$triple is missing: this platform has no package (see package.json napi.targets)" >&2
  exit 1
fi

work=$(mktemp -d -t shmring-pack.XXXXXX)
# SHMRING_PACK_KEEP=1 keeps the temporary project for a look after a failure.
if [[ -z ${SHMRING_PACK_KEEP:-} ]]; then trap 'rm -rf "$work"' EXIT; else echo "keeping $work"; fi

# `npm pack --json` prints a list with one entry per package; print its tarball's file name.
tarball_of() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].filename))'; }

echo "== pack @shmring/binding-$triple"
cp -R "npm/$triple" "$work/platform"
cp "$binary" "$work/platform/"
platform_tgz=$(cd "$work/platform" && npm pack --json --pack-destination "$work" | tarball_of)
platform_files=$(tar -tzf "$work/$platform_tgz" | sort | tr '\n' ' ')
if [[ $platform_files != "package/README.md package/package.json package/$binary " ]]; then
  echo "the platform package should hold README.md, package.json and $binary only; it holds: $platform_files" >&2
  exit 1
fi

echo "== pack shmring (with the optionalDependencies napi prepublish writes)"
mkdir "$work/stage"
main_dev_tgz=$(npm pack --json --ignore-scripts --pack-destination "$work/stage" | tarball_of)
tar -xzf "$work/stage/$main_dev_tgz" -C "$work/stage"
node - "$work/stage/package/package.json" <<'EOF'
const fs = require('node:fs')
const [file] = process.argv.slice(2)
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'))
for (const kind of ['dependencies', 'peerDependencies', 'bundleDependencies', 'bundledDependencies']) {
  if (pkg[kind] && Object.keys(pkg[kind]).length > 0) {
    console.error(`the main package must have no ${kind} (a user installs only it and one binary): ${Object.keys(pkg[kind])}`)
    process.exit(1)
  }
}
// What `napi prepublish` does with package.json napi.targets; the triples are the npm/ dirs.
const triples = fs.readdirSync('npm').sort()
pkg.optionalDependencies = Object.fromEntries(triples.map((t) => [`${pkg.napi.packageName}-${t}`, pkg.version]))
fs.writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`)
EOF
main_files=$(tar -tzf "$work/stage/$main_dev_tgz")
if grep -q '\.node$' <<<"$main_files"; then
  echo "the main package must not ship a .node (binaries come from the platform packages):" >&2
  grep '\.node$' <<<"$main_files" >&2
  exit 1
fi
stale=$(grep -E '^package/dist/.*\.js$' <<<"$main_files" | sed -E 's#^package/dist/(.*)\.js$#\1#' | while read -r f; do
  [[ -f lib/$f.ts ]] || echo "dist/$f.js"
done)
if [[ -n $stale ]]; then
  echo "dist/ holds build output with no source in lib/ (stale): $stale; delete dist/ and run 'npm run build'" >&2
  exit 1
fi
main_tgz=$(cd "$work/stage/package" && npm pack --json --ignore-scripts --pack-destination "$work" | tarball_of)
echo "$main_tgz: $(wc -l <<<"$main_files") files"

echo "== install both tarballs offline into a fresh project"
mkdir "$work/app"
cp __test__/pack/check.cjs __test__/pack/esm.mjs __test__/pack/cjs.cjs "$work/app/"
cd "$work/app"
echo '{ "name": "shmring-pack-test", "version": "0.0.0", "private": true }' >package.json
unset NODE_PATH
# --offline: tarballs need no registry; the other platforms' optional packages are skipped.
npm install --offline --no-audit --no-fund --ignore-scripts "$work/$main_tgz" "$work/$platform_tgz"
# Every package in the tree, by name (npm ls --json nests them under "dependencies").
installed=$(npm ls --all --json | node -e '
let s = ""
process.stdin.on("data", (d) => (s += d)).on("end", () => {
  const names = []
  // Only entries with `resolved` are installed: optional packages of other platforms are
  // listed empty, and a dependency met higher up shows only its version.
  const walk = (deps) => Object.entries(deps ?? {}).forEach(([n, d]) => d.resolved && (names.push(n), walk(d.dependencies)))
  walk(JSON.parse(s).dependencies)
  console.log(names.sort().join(" "))
})')
echo "installed: $installed"
if [[ $installed != "@shmring/binding-$triple shmring" ]]; then
  echo "the fresh project should hold only shmring and @shmring/binding-$triple, it holds: $installed" >&2
  exit 1
fi

echo "== round trips through the installed package"
node esm.mjs
node cjs.cjs

echo "== npx shmring"
npx --offline shmring --help | head -3
npx --offline shmring doctor
npx --offline shmring doctor --json >doctor.json
node -e '
const r = require("./doctor.json")
const where = require("node:path").join(process.cwd(), "node_modules", "@shmring", "binding-")
if (!r.ok || !r.binary.path || !r.binary.path.startsWith(where)) {
  console.error(`doctor: ok=${r.ok}, binary ${r.binary.path}, expected under ${where}`)
  process.exit(1)
}'
cd "$repo"
echo "== tarball install test passed"
