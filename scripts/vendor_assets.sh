#!/usr/bin/env bash
# Re-fetch the JavaScript, CSS, fonts and images that Folium map pages load, and put them in
# fieldapp/static/vendor/ so that every map works with no internet (government networks are
# closed; see docs DESIGN.md "Coordinates"). Swagger UI for the API documentation page
# (/api/v1/docs) and Apache ECharts for the dashboards are fetched the same way.
#
# Sources are the package registries only, never a CDN:
#   * the npm registry, via `npm pack <name>@<version>` (npm checks each tarball against the
#     registry's integrity hash; the hash is recorded in MANIFEST.md);
#   * PyPI, via `pip download folium==<version>`, for the one asset folium ships itself
#     (its patched leaflet-heat build, see below).
# Versions are the ones folium 0.20 / branca 0.8 pin in their CDN URLs, so the local copies
# behave exactly like the pages folium would otherwise build. maps/offline.py maps each of
# those CDN URLs to a file written here; when folium is upgraded, update both together
# (tests/unit/test_offline_map.py fails on any URL that is not mapped).
#
# Usage:   scripts/vendor_assets.sh [DEST]        (DEST defaults to fieldapp/static/vendor)
# Needs:   bash, npm, tar, python3 with pip.      Env: PYTHON (default python3),
#          npm_config_registry / PIP_INDEX_URL to use a registry mirror.
# Output:  DEST/<package>/<version>/... , DEST/MANIFEST.md and DEST/SHA256SUMS. The tree is
#          built in a staging directory and swapped in only when everything succeeded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${1:-"$ROOT/fieldapp/static/vendor"}
PYTHON=${PYTHON:-python3}
FOLIUM_VERSION=0.20.0

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/vendor"
SOURCES="$WORK/sources.tsv"   # one row per vendored package, read back to write MANIFEST.md
mkdir -p "$STAGE"
: >"$SOURCES"

# fetch SPEC -> prints the directory holding the unpacked package; records its integrity.
fetch() {
    local spec=$1 dir
    dir="$WORK/npm/$(printf '%s' "$spec" | tr '/@' '__')"
    mkdir -p "$dir"
    (cd "$dir" && npm pack "$spec" --json --silent >pack.json && tar -xzf ./*.tgz)
    "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["integrity"])' \
        "$dir/pack.json" >"$dir/integrity"
    printf '%s\n' "$dir/package"
}

# take PKGDIR DESTDIR SRC[:DST]... : copy files, keeping the relative layout the CSS expects
# (e.g. leaflet.css -> images/, all.min.css -> ../webfonts/).
take() {
    local pkg=$1 out=$2 item src dst
    shift 2
    for item in "$@"; do
        src=${item%%:*}
        dst=${item#*:}
        [[ $item == *:* ]] || dst=$(basename "$src")
        mkdir -p "$(dirname "$out/$dst")"
        cp "$pkg/$src" "$out/$dst"
    done
}

# record NAME VERSION LICENCE SOURCE INTEGRITY DIR NOTE : one MANIFEST.md row.
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SOURCES"
}

# vendor NPM_NAME VERSION DIR_NAME LICENCE NOTE SRC[:DST]...
vendor() {
    local name=$1 version=$2 dir=$3 licence=$4 note=$5 pkg
    shift 5
    pkg=$(fetch "$name@$version")
    take "$pkg" "$STAGE/$dir/$version" "$@"
    record "$name" "$version" "$licence" "npm" "$(cat "$pkg/../integrity")" "$dir/$version" "$note"
}

echo "Fetching from the npm registry ..." >&2

vendor leaflet 1.9.3 leaflet BSD-2-Clause "" \
    dist/leaflet.js:leaflet.js dist/leaflet.css:leaflet.css \
    dist/images/layers.png:images/layers.png dist/images/layers-2x.png:images/layers-2x.png \
    dist/images/marker-icon.png:images/marker-icon.png \
    dist/images/marker-icon-2x.png:images/marker-icon-2x.png \
    dist/images/marker-shadow.png:images/marker-shadow.png \
    LICENSE

vendor jquery 3.7.1 jquery MIT "" dist/jquery.min.js LICENSE.txt

vendor bootstrap 5.2.2 bootstrap MIT "" \
    dist/css/bootstrap.min.css:css/bootstrap.min.css \
    dist/js/bootstrap.bundle.min.js:js/bootstrap.bundle.min.js \
    LICENSE

# Only the web fonts all.min.css points at (woff2 first, ttf as its fallback).
fa_fonts=()
for font in fa-brands-400 fa-regular-400 fa-solid-900 fa-v4compatibility; do
    fa_fonts+=("webfonts/$font.woff2:webfonts/$font.woff2" "webfonts/$font.ttf:webfonts/$font.ttf")
done
vendor @fortawesome/fontawesome-free 6.2.0 fontawesome-free "CC-BY-4.0 (icons), OFL-1.1 (fonts), MIT (code)" \
    "" css/all.min.css:css/all.min.css "${fa_fonts[@]}" LICENSE.txt

# folium pins 2.0.2 on cdnjs, which is not on npm under this name; 2.0.5 has the same
# JavaScript byte for byte, and a sprite (with its CSS) that adds square markers.
vendor leaflet.awesome-markers 2.0.5 leaflet.awesome-markers MIT \
    "folium pins 2.0.2 (cdnjs); same JS, sprite extended with square markers" \
    dist/leaflet.awesome-markers.js dist/leaflet.awesome-markers.css \
    dist/images/markers-soft.png:images/markers-soft.png \
    dist/images/markers-soft@2x.png:images/markers-soft@2x.png \
    dist/images/markers-shadow.png:images/markers-shadow.png \
    dist/images/markers-shadow@2x.png:images/markers-shadow@2x.png \
    LICENSE

vendor leaflet.markercluster 1.1.0 leaflet.markercluster MIT "" \
    dist/leaflet.markercluster.js dist/MarkerCluster.css dist/MarkerCluster.Default.css \
    MIT-LICENCE.txt

# The package ships no minified build; folium's CDN URL is jsDelivr's on-the-fly minification.
vendor leaflet.fullscreen 3.0.0 leaflet.fullscreen MIT "unminified (no .min.js on npm)" \
    Control.FullScreen.js Control.FullScreen.css icon-fullscreen.svg LICENSE

# branca's colour-map legends (Choropleth, LinearColormap) load d3 v3.
vendor d3 3.5.5 d3 BSD-3-Clause "used by branca colormap legends" d3.min.js LICENSE

vendor leaflet.vectorgrid 1.3.0 leaflet.vectorgrid \
    "Beerware; bundles geojson-vt (ISC), pbf, topojson, vector-tile (BSD)" \
    "for vector tiles; LICENSE is the README's Legalese section" \
    dist/Leaflet.VectorGrid.bundled.min.js:Leaflet.VectorGrid.bundled.min.js
vg_pkg="$WORK/npm/leaflet.vectorgrid_1.3.0/package"
{
    sed -n '/^## Legalese/,$p' "$vg_pkg/README.md"
    printf '\nThe bundled build also contains, per the README: geojson-vt (ISC), pbf (BSD),\n'
    printf 'topojson (BSD) and vector-tile (BSD).\n'
} >"$STAGE/leaflet.vectorgrid/1.3.0/LICENSE"

# Apache ECharts for the dashboards (figures, trend lines, category bars): the full minified
# build, served by the app like everything else here.
vendor echarts 6.1.0 echarts Apache-2.0 "dashboards (fieldapp/static/dashboard)" \
    dist/echarts.min.js LICENSE NOTICE

# Glyphicons: folium's default Icon(prefix="glyphicon") needs Bootstrap 3's icon font, which
# Bootstrap 5 dropped. folium links a separate bootstrap-glyphicons.css from a CDN; npm has
# no such package, so cut the same rules (the @font-face and .glyphicon* selectors) out of
# Bootstrap 3.4.1's minified CSS. The eot/svg fonts (IE8 and iOS 4 only) are left out.
bs3=$(fetch bootstrap@3.4.1)
glyph="$STAGE/bootstrap-glyphicons/3.4.1"
take "$bs3" "$glyph" \
    dist/fonts/glyphicons-halflings-regular.woff2:fonts/glyphicons-halflings-regular.woff2 \
    dist/fonts/glyphicons-halflings-regular.woff:fonts/glyphicons-halflings-regular.woff \
    dist/fonts/glyphicons-halflings-regular.ttf:fonts/glyphicons-halflings-regular.ttf \
    LICENSE
mkdir -p "$glyph/css"
"$PYTHON" - "$bs3/dist/css/bootstrap.min.css" "$glyph/css/bootstrap-glyphicons.min.css" <<'PY'
import re
import sys

css = open(sys.argv[1], encoding="utf-8").read()
start = css.index('@font-face{font-family:"Glyphicons Halflings"')
end_marker = '.glyphicon-menu-up:before{content:"\\e260"}'
end = css.index(end_marker, start) + len(end_marker)
rules = css[start:end]
src = (
    'src:url(../fonts/glyphicons-halflings-regular.woff2) format("woff2"),'
    'url(../fonts/glyphicons-halflings-regular.woff) format("woff"),'
    'url(../fonts/glyphicons-halflings-regular.ttf) format("truetype")}'
)
# Replace both src declarations of the @font-face with one that lists only shipped fonts.
rules, n = re.subn(r"src:url\(\.\./fonts/glyphicons-halflings-regular\.eot\);src:[^}]*\}", src,
                   rules, count=1)
assert n == 1, "Bootstrap 3 @font-face layout changed; update the extraction"
header = (
    "/*!\n * Glyphicons rules extracted from Bootstrap v3.4.1 (https://getbootstrap.com/)\n"
    " * Copyright 2011-2019 Twitter, Inc.\n"
    " * Licensed under MIT (https://github.com/twbs/bootstrap/blob/master/LICENSE)\n */\n"
)
open(sys.argv[2], "w", encoding="utf-8").write(header + rules + "\n")
PY
record bootstrap 3.4.1 MIT npm "$(cat "$bs3/../integrity")" bootstrap-glyphicons/3.4.1 \
    "glyphicon rules cut from dist/css/bootstrap.min.css; woff2/woff/ttf only"

# folium's own assets (python-visualization/folium/folium/templates on jsDelivr):
#  * leaflet_heat.min.js is leaflet.heat 0.2.0 with folium's patch for point weights
#    (Leaflet.heat PR #78); the npm build lacks it, so take folium's copy from its wheel.
#  * leaflet.awesome.rotate.min.css is not in the wheel; it is a generated list of
#    .fa-rotate-N rules (Icon(angle=N)), so generate the same rules.
echo "Fetching folium==$FOLIUM_VERSION from PyPI ..." >&2
heat=$(fetch leaflet.heat@0.2.0)
folium_dir="$STAGE/folium/$FOLIUM_VERSION"
mkdir -p "$folium_dir" "$WORK/wheel"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
    "folium==$FOLIUM_VERSION" -d "$WORK/wheel"
cp "$heat/LICENSE" "$folium_dir/LICENSE.leaflet-heat"
wheel_sha=$("$PYTHON" - "$WORK/wheel" "$folium_dir" <<'PY'
import hashlib
import pathlib
import sys
import zipfile

wheel = next(pathlib.Path(sys.argv[1]).glob("folium-*.whl"))
out = pathlib.Path(sys.argv[2])
with zipfile.ZipFile(wheel) as zf:
    names = zf.namelist()
    (out / "leaflet_heat.min.js").write_bytes(zf.read("folium/templates/leaflet_heat.min.js"))
    licence = next(n for n in names if n.endswith(".dist-info/LICENSE.txt")
                   or n.endswith(".dist-info/licenses/LICENSE.txt")
                   or n.endswith(".dist-info/LICENSE"))
    (out / "LICENSE.txt").write_bytes(zf.read(licence))
rules = "".join(
    f".fa-rotate-{d}{{-ms-transform:rotate({d}deg);-webkit-transform:rotate({d}deg);"
    f"transform:rotate({d}deg)}}\n"
    for d in range(361)
)
(out / "leaflet.awesome.rotate.min.css").write_text(
    "/* .fa-rotate-N rules for Leaflet.awesome-markers icons, as in folium's "
    "leaflet.awesome.rotate.css; generated by scripts/vendor_assets.sh */\n" + rules,
    encoding="utf-8",
)
print("sha256-" + hashlib.sha256(wheel.read_bytes()).hexdigest())
PY
)
record folium "$FOLIUM_VERSION" "MIT (folium); BSD-2-Clause (leaflet.heat)" PyPI "$wheel_sha" \
    "folium/$FOLIUM_VERSION" \
    "leaflet_heat.min.js from the wheel; rotate CSS generated; LICENSE.leaflet-heat from npm leaflet.heat@0.2.0 ($(cat "$heat/../integrity"))"

# Swagger UI for the API documentation page (/api/v1/docs, fieldapp/templates/apidocs.html).
# The page uses the bundle's BaseLayout, so the standalone preset (the top bar with its URL box)
# is left out. NOTICE (Apache-2.0 §4d) and the bundle's licence file (the licences of the
# libraries compiled into it) travel with the code.
echo "Fetching Swagger UI from the npm registry ..." >&2
vendor swagger-ui-dist 5.35.0 swagger-ui Apache-2.0 \
    "API docs page; BaseLayout only (no standalone preset); bundle's third-party licences kept" \
    swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png \
    LICENSE NOTICE

# MANIFEST.md and SHA256SUMS describe exactly what ended up on disk.
"$PYTHON" - "$STAGE" "$SOURCES" <<'PY'
import hashlib
import pathlib
import sys

stage = pathlib.Path(sys.argv[1])
rows = [line.split("\t") for line in pathlib.Path(sys.argv[2]).read_text().splitlines()]
files = sorted(p for p in stage.rglob("*") if p.is_file())
total = sum(p.stat().st_size for p in files)

lines = [
    "# Vendored map assets",
    "",
    "Leaflet, Folium's default JS/CSS and the plugins our maps use, served by the app itself so",
    "that map pages work on closed networks with no internet. `maps/offline.py` points every",
    "Folium CDN link at these files (`CDN_TO_VENDOR`). Swagger UI, for the API documentation",
    "page (`/api/v1/docs`), is vendored the same way.",
    "",
    "**Do not edit by hand.** Regenerate with `scripts/vendor_assets.sh` (npm registry + PyPI,",
    "never a CDN); the script rewrites this file and `SHA256SUMS` (`sha256sum -c SHA256SUMS`).",
    "",
    f"Total: {len(files)} files, {total / 1024:.0f} KiB.",
    "",
    "| Package | Version | Licence | Source (integrity) | Directory | Notes |",
    "| --- | --- | --- | --- | --- | --- |",
]
for name, version, licence, source, integrity, directory, note in rows:
    lines.append(
        f"| `{name}` | {version} | {licence} | {source} (`{integrity}`) | `{directory}/` "
        f"| {note} |"
    )
lines += ["", "## Files", ""]
for name, version, licence, source, integrity, directory, note in rows:
    lines.append(f"### `{directory}/` ({name} {version})")
    lines.append("")
    for p in sorted((stage / directory).rglob("*")):
        if p.is_file():
            rel = p.relative_to(stage / directory).as_posix()
            lines.append(f"- `{rel}` ({p.stat().st_size:,} bytes)")
    lines.append("")
(stage / "MANIFEST.md").write_text("\n".join(lines), encoding="utf-8")
(stage / "SHA256SUMS").write_text(
    "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(stage).as_posix()}\n"
        for p in files
    ),
    encoding="utf-8",
)
print(f"{len(files)} files, {total / 1024:.0f} KiB", file=sys.stderr)
PY

# Swap in the new tree only now, so a failed download never leaves a half-written vendor dir.
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.old"
if [[ -d $DEST ]]; then mv "$DEST" "$DEST.old"; fi
cp -R "$STAGE" "$DEST"
rm -rf "$DEST.old"
echo "Vendored assets written to $DEST" >&2
