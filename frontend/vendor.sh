#!/usr/bin/env bash
# Refresh the vendored front-end files of Rathaus from the npm registry.
#
#   bash frontend/vendor.sh
#
# Installs the exact versions pinned in frontend/package.json (and locked in
# frontend/package-lock.json) into frontend/node_modules/ (git-ignored), then
# copies only the built, distributable files plus each package's licence into
# src/rathaus/portal/static/vendor/<name>/ and rewrites vendor/README.md.
# Idempotent: every vendor/<name>/ folder is rebuilt from scratch on each run.
# Only maintainers run this; users and CI need no Node.js (the files are committed).
#
# To upgrade a package: change its version in package.json, run
#   (cd frontend && npm install --ignore-scripts)   # updates package-lock.json
#   bash frontend/vendor.sh
# and commit package.json, package-lock.json and the vendor/ changes together.
set -euo pipefail

FRONTEND="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$FRONTEND")"
DEST="$ROOT/src/rathaus/portal/static/vendor"
NM="$FRONTEND/node_modules"

command -v npm >/dev/null || { echo "vendor.sh: npm is needed (only to refresh vendored files)" >&2; exit 1; }

cd "$FRONTEND"
if [[ -f package-lock.json ]]; then
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
else
    npm install --ignore-scripts --no-audit --no-fund --loglevel=error
fi

version() { node -p "require('$NM/$1/package.json').version"; }

# cp SRC DST, creating DST's folder; fails loudly if SRC is missing.
put() {
    [[ -f "$1" ]] || { echo "vendor.sh: missing $1" >&2; exit 1; }
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2"
}

# Copy a JS/CSS file without its trailing "sourceMappingURL" comment (maps are not vendored).
put_nomap() {
    put "$1" "$2"
    sed -i -E '/^\/[/*]# sourceMappingURL=.*$/d; s#/\*\# sourceMappingURL=[^*]*\*/##; s#//\# sourceMappingURL=.*$##' "$2"
}

fresh() { rm -rf "${DEST:?}/$1"; mkdir -p "$DEST/$1"; }

mkdir -p "$DEST"

# --- KERN UX (@kern-ux/native) -------------------------------------------------
# kern.min.css already contains the grid and utility classes (kern-grid*.css and
# kern-utilities*.css are subsets of it). Its icons are inline data: URIs (CSS
# mask-image), so it references no files. The font is a separate stylesheet.
K="$NM/@kern-ux/native"
fresh kern-ux
put "$K/dist/kern.min.css" "$DEST/kern-ux/kern.min.css"
put "$K/dist/fonts/fira-sans.css" "$DEST/kern-ux/fonts/fira-sans.css"
# exactly the font files fira-sans.css references, so the relative URLs keep working
grep -o 'url([^)]*)' "$K/dist/fonts/fira-sans.css" | sed -E "s/^url\(['\"]?\.?\/?//; s/['\"]?\)$//" | sort -u |
    while read -r f; do put "$K/dist/fonts/$f" "$DEST/kern-ux/fonts/$f"; done
put "$K/LICENSE.md" "$DEST/kern-ux/LICENSE"
# Fira Sans (Mozilla / Telefonica, via Carrois) is under the SIL OFL 1.1, which
# the package does not ship; we keep the notice in frontend/licenses/.
put "$FRONTEND/licenses/FiraSans-OFL-1.1.txt" "$DEST/kern-ux/fonts/fira-sans/OFL.txt"

# --- htmx ------------------------------------------------------------------------
fresh htmx
put "$NM/htmx.org/dist/htmx.min.js" "$DEST/htmx/htmx.min.js"
put "$NM/htmx.org/LICENSE" "$DEST/htmx/LICENSE"

# --- axe-core (accessibility checks in tests / dev only) -------------------------
fresh axe-core
put "$NM/axe-core/axe.min.js" "$DEST/axe-core/axe.min.js"
put "$NM/axe-core/LICENSE" "$DEST/axe-core/LICENSE"
put "$NM/axe-core/LICENSE-3RD-PARTY.txt" "$DEST/axe-core/LICENSE-3RD-PARTY.txt"

# --- Leaflet ---------------------------------------------------------------------
fresh leaflet
put_nomap "$NM/leaflet/dist/leaflet.js" "$DEST/leaflet/leaflet.js"
put "$NM/leaflet/dist/leaflet.css" "$DEST/leaflet/leaflet.css"
for f in "$NM"/leaflet/dist/images/*.png; do put "$f" "$DEST/leaflet/images/$(basename "$f")"; done
put "$NM/leaflet/LICENSE" "$DEST/leaflet/LICENSE"

# --- bpmn-js (navigated viewer only) ---------------------------------------------
B="$NM/bpmn-js/dist"
fresh bpmn-js
put_nomap "$B/bpmn-navigated-viewer.production.min.js" "$DEST/bpmn-js/bpmn-navigated-viewer.production.min.js"
put "$B/assets/diagram-js.css" "$DEST/bpmn-js/assets/diagram-js.css"
put "$B/assets/bpmn-js.css" "$DEST/bpmn-js/assets/bpmn-js.css"
put "$B/assets/bpmn-font/css/bpmn.css" "$DEST/bpmn-js/assets/bpmn-font/css/bpmn.css"
put "$B/assets/bpmn-font/css/bpmn-codes.css" "$DEST/bpmn-js/assets/bpmn-font/css/bpmn-codes.css"
for f in "$B"/assets/bpmn-font/font/bpmn.*; do put "$f" "$DEST/bpmn-js/assets/bpmn-font/font/$(basename "$f")"; done
put "$NM/bpmn-js/LICENSE" "$DEST/bpmn-js/LICENSE"
# The bundle contains bpmn-js's runtime dependencies (diagram-js, moddle, ...):
# keep their licence notices next to it.
node - "$NM" "$DEST/bpmn-js/THIRD-PARTY-LICENSES.txt" <<'EOF'
const fs = require('fs'), path = require('path');
const [nm, out] = process.argv.slice(2);
const seen = new Map();
(function walk(name) {
  if (seen.has(name)) return;
  const dir = path.join(nm, name);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  seen.set(name, { dir, pkg });
  Object.keys(pkg.dependencies || {}).forEach(walk);
})('bpmn-js');
seen.delete('bpmn-js');
let text = 'Licences of the packages bundled in bpmn-navigated-viewer.production.min.js\n' +
           '(runtime dependencies of bpmn-js as installed by frontend/vendor.sh)\n';
for (const name of [...seen.keys()].sort()) {
  const { dir, pkg } = seen.get(name);
  const lic = fs.readdirSync(dir).find(f => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  text += `\n${'='.repeat(78)}\n${name}@${pkg.version} (${pkg.license})\n${'='.repeat(78)}\n\n`;
  text += lic ? fs.readFileSync(path.join(dir, lic), 'utf8').trim() + '\n' : `(no licence file shipped; package.json says ${pkg.license})\n`;
}
fs.writeFileSync(out, text);
EOF

# --- DejaVu fonts (Unicode PDFs with fpdf2) --------------------------------------
fresh fonts
put "$NM/dejavu-fonts-ttf/ttf/DejaVuSans.ttf" "$DEST/fonts/DejaVuSans.ttf"
put "$NM/dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf" "$DEST/fonts/DejaVuSans-Bold.ttf"
put "$NM/dejavu-fonts-ttf/LICENSE" "$DEST/fonts/LICENSE"

# --- README ----------------------------------------------------------------------
cat >"$DEST/README.md" <<EOF
# Vendored front-end files

Built files from the npm registry, committed so that running Rathaus needs no
Node.js. **Do not edit by hand**: change the pinned versions in
\`frontend/package.json\` and run

    bash frontend/vendor.sh

(needs Node.js + npm; rebuilds every folder here and this README).
Source maps are not vendored.

| folder | npm package | version | licence | files |
|---|---|---|---|---|
| \`kern-ux/\` | @kern-ux/native | $(version @kern-ux/native) | EUPL-1.2; Fira Sans font: SIL OFL 1.1 (\`fonts/fira-sans/OFL.txt\`) | \`kern.min.css\` (components, grid, utilities; icons inline as data: URIs), \`fonts/fira-sans.css\` + \`fonts/fira-sans/*.woff2\` |
| \`htmx/\` | htmx.org | $(version htmx.org) | 0BSD | \`htmx.min.js\` |
| \`axe-core/\` | axe-core | $(version axe-core) | MPL-2.0 (bundled parts: MIT etc., \`LICENSE-3RD-PARTY.txt\`) | \`axe.min.js\` — tests/dev only |
| \`leaflet/\` | leaflet | $(version leaflet) | BSD-2-Clause | \`leaflet.js\`, \`leaflet.css\`, \`images/\` |
| \`bpmn-js/\` | bpmn-js | $(version bpmn-js) | bpmn.io licence (MIT + the bpmn.io watermark must stay visible); bundled deps MIT/ISC/Apache-2.0 (\`THIRD-PARTY-LICENSES.txt\`) | \`bpmn-navigated-viewer.production.min.js\`, \`assets/diagram-js.css\`, \`assets/bpmn-js.css\`, \`assets/bpmn-font/\` |
| \`fonts/\` | dejavu-fonts-ttf | $(version dejavu-fonts-ttf) | Bitstream Vera / Arev font licence (permissive; DejaVu changes public domain) | \`DejaVuSans.ttf\`, \`DejaVuSans-Bold.ttf\` (for fpdf2 PDFs) |

Usage notes (strict CSP, no inline scripts/styles):

- KERN UX: link \`kern-ux/kern.min.css\` and \`kern-ux/fonts/fira-sans.css\`; its icons are
  CSS masks with \`data:\` URIs, so the CSP needs \`img-src 'self' data:\`. The package's
  \`kern-kopfzeile.js\` web component is not vendored (it injects \`<style>\`); use the plain
  \`.kern-kopfzeile\` markup instead (see \`docs/kern-ux.md\`).
- htmx: set \`<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false}'>\`
  so it neither injects a \`<style>\` element nor evaluates code (\`hx-on\`, \`js:\`).
- axe-core uses \`new Function\`: load it only in tests (e.g. injected by a browser test), never on
  production pages.
- bpmn-js: the bpmn.io watermark must stay visible (licence condition).
EOF

echo "vendored into $DEST:"
(cd "$DEST" && du -sh -- */ | sort -k2 && du -sh . | sed 's/\t.*/\ttotal/')
