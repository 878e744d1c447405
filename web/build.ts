/**
 * Builds the dashboard into a folder of static files: index.html, styles.css and one bundled app.js (the
 * typed API client and Chart.js included, nothing loaded from elsewhere). The local service serves the
 * result and the CDK app deploys it; both call this function. config.json, which tells the page where the
 * API is, is written only when `apiUrl` is given: the local service answers it itself.
 */
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));

export interface BuildWebOptions {
  /** Written to config.json; empty means the API is on the page's own origin. */
  apiUrl?: string;
  /** Smaller files without source maps (default true). */
  minify?: boolean;
}

export async function buildWeb(outDir: string, options: BuildWebOptions = {}): Promise<void> {
  const out = resolve(outDir);
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: [join(here, "src/main.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022", "chrome110", "firefox115", "safari16"],
    minify: options.minify ?? true,
    sourcemap: false,
    legalComments: "linked",
    outfile: join(out, "app.js"),
    logLevel: "silent",
  });
  await Promise.all([
    copyFile(join(here, "index.html"), join(out, "index.html")),
    copyFile(join(here, "styles.css"), join(out, "styles.css")),
  ]);
  if (options.apiUrl !== undefined)
    await writeFile(join(out, "config.json"), `${JSON.stringify({ apiUrl: options.apiUrl })}\n`);
}
