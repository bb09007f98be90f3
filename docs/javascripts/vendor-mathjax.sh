#!/usr/bin/env bash
# Vendors MathJax (the npm package "mathjax", version pinned below) into docs/javascripts/mathjax/,
# so that the documentation typesets its formulas offline: the tex-svg build (TeX input, SVG
# output with the glyphs inside: no font files to load), one file of 2.1 MB (0.7 MB gzipped).
# The files are committed; rerun this script only to change the version. Needs npm (the
# registry client), nothing else.
set -euo pipefail
version="3.2.2"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "mathjax@$version" >/dev/null && tar xzf "mathjax-$version.tgz")
dest="$here/mathjax"
rm -rf "$dest"
mkdir -p "$dest"
cp "$work/package/es5/tex-svg.js" "$dest/"
cp "$work/package/LICENSE" "$dest/LICENSE"
echo "MathJax $version (npm package mathjax, es5/tex-svg.js)" > "$dest/VERSION"
du -sh "$dest"
