/**
 * `npm run fuzz`: the fuzz tests (every HTTP route, test/fuzz) and the file reader's property tests at a
 * larger scale. FUZZ_SCALE multiplies each property's case count (default 33: about 100,000 HTTP requests);
 * FUZZ_SEED fixes the seed, else a random one is drawn and printed so that a failure can be replayed.
 */
import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

const seed = process.env.FUZZ_SEED || String(Math.floor(Math.random() * 2 ** 31));
const scale = process.env.FUZZ_SCALE || "33";
console.log(`fuzz: FUZZ_SEED=${seed} FUZZ_SCALE=${scale} (replay with FUZZ_SEED=${seed} npm run fuzz)`);

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ["test/fuzz/**/*.test.ts", "test/unit/engine/reader.test.ts"],
    env: { ...base.test?.env, FUZZ_SEED: seed, FUZZ_SCALE: scale },
    testTimeout: 6 * 60 * 60_000,
  },
});
