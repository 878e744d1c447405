/**
 * Scale and seed of property-based tests. `npm test` runs each property with its own modest number of cases
 * and a fixed seed, so a run is quick and repeatable; `npm run fuzz` (vitest.fuzz.config.ts) sets
 * FUZZ_SCALE to multiply every count and FUZZ_SEED to a seed it prints, so a failure found there can be
 * replayed with `FUZZ_SEED=<seed> npm run fuzz`.
 */

/** The seed of `npm test`. */
export const DEFAULT_SEED = 42;

function positiveNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number, not "${raw}"`);
  return value;
}

/** How many cases a property runs: `base` times FUZZ_SCALE (1 unless set). */
export function fuzzRuns(base: number): number {
  return Math.max(1, Math.round(base * (positiveNumber("FUZZ_SCALE") ?? 1)));
}

/** The seed for fast-check: FUZZ_SEED when set, else `fallback`. */
export function fuzzSeed(fallback = DEFAULT_SEED): number {
  const raw = process.env.FUZZ_SEED;
  if (raw === undefined || raw === "") return fallback;
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not "${raw}"`);
  return seed;
}

/** True under `npm run fuzz`, where tests may take minutes. */
export function fuzzing(): boolean {
  return (positiveNumber("FUZZ_SCALE") ?? 1) > 1;
}
