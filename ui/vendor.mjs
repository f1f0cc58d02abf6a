// Copies the browser modules the UI uses from node_modules into the Python package
// (src/videogate/ui/vendor), named by version so the gateway can serve them as immutable.
// No bundler: the files are the packages' own ES module builds; the one rewrite turns the
// bare "preact" import inside preact/hooks into the vendored file's relative path, so the
// page needs no import map (and its CSP no inline script).
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "videogate", "ui", "vendor");
const version = (name) =>
  JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;
const read = (path) => readFileSync(join(here, "node_modules", path), "utf8");
const noMap = (text) => text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n");

const preact = `preact-${version("preact")}.mjs`;
const files = {
  [preact]: noMap(read("preact/dist/preact.mjs")),
  [`preact-hooks-${version("preact")}.mjs`]: noMap(read("preact/hooks/dist/hooks.mjs")).replace(
    /from\s*"preact"/g,
    `from"./${preact}"`,
  ),
  [`htm-${version("htm")}.mjs`]: noMap(read("htm/dist/htm.mjs")),
  [`uplot-${version("uplot")}.min.js`]: noMap(read("uplot/dist/uPlot.iife.min.js")),
  [`uplot-${version("uplot")}.min.css`]: read("uplot/dist/uPlot.min.css"),
  "LICENSES.txt": ["preact", "htm", "uplot"]
    .map((name) => `== ${name} ${version(name)} ==\n\n${read(`${name}/LICENSE`)}`)
    .join("\n\n"),
};
if (files[`preact-hooks-${version("preact")}.mjs`].includes('"preact"')) {
  throw new Error("preact/hooks still imports the bare 'preact' specifier");
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text);
console.log(readdirSync(out).join("\n"));
