// Bundles src/main.ts with esbuild and copies the page into the Python package's static
// directory, which `parley serve` serves at `/`.
import { build } from "esbuild";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, "../src/parley/apps/web/static");
await mkdir(out, { recursive: true });
await build({
  entryPoints: [path.join(here, "src/main.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  outfile: path.join(out, "app.js"),
  logLevel: "warning",
});
for (const file of ["index.html", "style.css"]) {
  await copyFile(path.join(here, "public", file), path.join(out, file));
}
// The stamp scripts/build-web compares with the sources to skip an up-to-date build.
await writeFile(path.join(out, ".built"), new Date().toISOString() + "\n");
