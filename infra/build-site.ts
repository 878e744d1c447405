/**
 * Builds the dashboard into the directory named by the first argument. The CDK app runs it at synth, in a
 * process of its own, because asset bundling is synchronous and the build is not.
 *
 *   tsx infra/build-site.ts <output directory>
 */
import { buildWeb } from "../web/build";

const outDir = process.argv[2];
if (!outDir) {
  process.stderr.write("usage: tsx infra/build-site.ts <output directory>\n");
  process.exit(2);
}
await buildWeb(outDir);
