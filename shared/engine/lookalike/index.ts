/**
 * Lookalike segments: the customers outside a seed segment who most resemble its members.
 *
 * Model: L2-regularised logistic regression (model.ts, λ = LOOKALIKE_LAMBDA on standardised features, the
 * intercept unpenalised), seed members (1) against every other customer (0), on the features of features.ts.
 * Split: a customer is held out when MurmurHash3 of its id (seed SPLIT_SEED) is 0 mod 5, so 20 % of seed and
 * of rest, the same customers in every run; the training rest is cut to at most MAX_TRAINING_ROWS rows in
 * all, keeping the rest rows with the smallest second hash (seed SAMPLE_SEED), each weighted by
 * (training rest) / (rest kept) so the class ratio is as in the data. AUC: Mann–Whitney on the held-out rows
 * (auc.ts). A seed of fewer than MIN_SEED members or MIN_HELD_OUT_SEED held out has no AUC: the model is
 * trained on everyone, and the issue LOOKALIKE_SEED_TOO_SMALL says so.
 * Segment: the top N (or X % of the non-seed customers, rounded down, at least 1 when X > 0) of the non-seed
 * customers by score, equal scores in position order.
 */

import type { ComputedSegmentation } from "../compute";
import { ComputeError } from "../errors";
import { hash32 } from "../hash";
import type { ResultTraits } from "../traits";
import type { ComputeIssue } from "../types";
import { rocAuc } from "./auc";
import { type FeatureSpace, featureSpace } from "./features";
import { fitLogistic } from "./model";

export { hanleyMcNeilSe, rocAuc } from "./auc";
export { type FeatureSpace, featureSpace } from "./features";
export { fitLogistic, type LogisticData, type LogisticFit, penalizedLogLikelihood } from "./model";

/** The L2 penalty on the standardised coefficients. */
export const LOOKALIKE_LAMBDA = 1;
export const MAX_TRAINING_ROWS = 100_000;
export const MIN_SEED = 20;
export const MIN_HELD_OUT_SEED = 5;
export const MAX_LOOKALIKE_ATTRIBUTES = 30;
/** Features reported, by |standardised weight|. */
export const REPORTED_FEATURES = 10;
const SPLIT_SEED = 0x6c6f6f6b;
const SAMPLE_SEED = 0x616c696b;

export type LookalikeSize = { top: number } | { percent: number };

/** One lookalike segment to compute. */
export interface LookalikeSettings {
  /** `lookalike:<slug>`. */
  id: string;
  name: string;
  description?: string;
  /** Any segment id of the result but a lookalike. */
  seed: string;
  size: LookalikeSize;
  /** Attributes to read; absent: every non-list attribute but `excludeAttributes`, the first 30 by name. */
  attributes?: readonly string[];
  excludeAttributes?: readonly string[];
}

/** What a lookalike segment's summary says of its model. */
export interface LookalikeReport {
  seed: string;
  seedSize: number;
  trained: { seed: number; rest: number };
  heldOut: { seed: number; rest: number };
  /** Out-of-sample AUC; null when the seed is too small to hold out (LOOKALIKE_SEED_TOO_SMALL). */
  auc: number | null;
  lambda: number;
  /** The features that weigh most, by |standardised weight|, sign kept. */
  features: { name: string; weight: number }[];
}

export interface LookalikeSegment {
  settings: LookalikeSettings;
  members: Uint8Array;
  report: LookalikeReport;
}

const ID = /^lookalike:[a-z0-9][a-z0-9-]{0,63}$/;

/** Checks lookalike settings (ComputeError naming the first bad one). */
export function checkLookalikeSettings(
  settings: readonly LookalikeSettings[] | undefined,
): LookalikeSettings[] {
  if (settings === undefined) return [];
  if (!Array.isArray(settings))
    throw new ComputeError("BAD_LOOKALIKE", "lookalikes must be a list", "lookalikes");
  const seen = new Set<string>();
  settings.forEach((l: LookalikeSettings, k) => {
    const at = `lookalikes[${k}]`;
    if (typeof l?.id !== "string" || !ID.test(l.id))
      throw new ComputeError("BAD_LOOKALIKE", "a lookalike id is lookalike:<slug>", `${at}.id`);
    if (seen.has(l.id))
      throw new ComputeError("BAD_LOOKALIKE", `lookalike ${l.id} is given twice`, `${at}.id`);
    seen.add(l.id);
    if (typeof l.seed !== "string" || l.seed.startsWith("lookalike:"))
      throw new ComputeError(
        "BAD_LOOKALIKE",
        "a lookalike's seed is a segment id that is no lookalike",
        `${at}.seed`,
      );
    const size = l.size as Partial<{ top: number; percent: number }>;
    const top = size?.top;
    const percent = size?.percent;
    const okTop = typeof top === "number" && Number.isInteger(top) && top >= 1;
    const okPercent = typeof percent === "number" && percent > 0 && percent <= 100;
    if (okTop === okPercent)
      throw new ComputeError(
        "BAD_LOOKALIKE",
        "size is { top: N ≥ 1 } or { percent: (0, 100] }",
        `${at}.size`,
      );
  });
  return [...settings];
}

/** How many non-seed customers a lookalike of `size` takes out of `candidates`. */
export function lookalikeCount(size: LookalikeSize, candidates: number): number {
  if ("top" in size) return Math.min(size.top, candidates);
  if (candidates === 0 || !(size.percent > 0)) return 0;
  // Rounded to 12 significant digits first, so that 10 % of 30 is 3 and not 2 from 2.9999999999999996.
  const exact = Number(((candidates * size.percent) / 100).toPrecision(12));
  return Math.min(candidates, Math.max(1, Math.floor(exact)));
}

/**
 * The `count` positions with the highest scores among those with candidate[i] === 1, equal scores in
 * position order, as 0/1 flags.
 */
export function topByScore(scores: Float64Array, candidate: Uint8Array, count: number): Uint8Array {
  const members = new Uint8Array(scores.length);
  if (count <= 0) return members;
  const pool: number[] = [];
  for (let i = 0; i < scores.length; i++) if (candidate[i] === 1) pool.push(scores[i] as number);
  const sorted = Float64Array.from(pool).sort();
  const threshold = sorted[sorted.length - count] as number;
  let above = 0;
  for (let i = 0; i < scores.length; i++) {
    if (candidate[i] === 1 && (scores[i] as number) > threshold) {
      members[i] = 1;
      above++;
    }
  }
  let left = count - above;
  for (let i = 0; i < scores.length && left > 0; i++) {
    if (candidate[i] === 1 && scores[i] === threshold) {
      members[i] = 1;
      left--;
    }
  }
  return members;
}

/** The attribute names a lookalike reads. */
function attributesOf(result: ComputedSegmentation, traits: ResultTraits, l: LookalikeSettings): string[] {
  if (l.attributes !== undefined) return l.attributes.slice(0, MAX_LOOKALIKE_ATTRIBUTES);
  const exclude = new Set(l.excludeAttributes ?? []);
  return [...result.source.attributeNames()]
    .filter((name) => !exclude.has(name) && traits.attributeType(name) !== undefined)
    .filter((name) => traits.attributeType(name) !== "list")
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, MAX_LOOKALIKE_ATTRIBUTES);
}

/** Per position: 2 bits of the split hash (held out?) and the sampling hash. */
function hashesOf(result: ComputedSegmentation): { heldOut: Uint8Array; rank: Uint32Array } {
  const n = result.customerCount;
  const heldOut = new Uint8Array(n);
  const rank = new Uint32Array(n);
  const encoder = new TextEncoder();
  for (let i = 0; i < n; i++) {
    const bytes = encoder.encode(result.customerId(i));
    heldOut[i] = Number(hash32(bytes, 0, bytes.length, SPLIT_SEED) % 5 === 0);
    rank[i] = hash32(bytes, 0, bytes.length, SAMPLE_SEED);
  }
  return { heldOut, rank };
}

function emptyReport(seed: string, seedSize: number): LookalikeReport {
  return {
    seed,
    seedSize,
    trained: { seed: 0, rest: 0 },
    heldOut: { seed: 0, rest: 0 },
    auc: null,
    lambda: LOOKALIKE_LAMBDA,
    features: [],
  };
}

/** Computes every lookalike after the other families (their members known to traits); issues appended. */
export function lookalikeSegments(
  result: ComputedSegmentation,
  traits: ResultTraits,
  lookalikes: readonly LookalikeSettings[],
  issues: ComputeIssue[],
): LookalikeSegment[] {
  const n = result.customerCount;
  const spaces = new Map<string, FeatureSpace>();
  let hashes: ReturnType<typeof hashesOf> | undefined;
  const out: LookalikeSegment[] = [];
  for (const l of lookalikes) {
    const seed = l.seed.startsWith("lookalike:") ? undefined : traits.membership(l.seed);
    if (seed === undefined) {
      issues.push({
        code: "LOOKALIKE_UNKNOWN_SEED",
        message: `the seed ${l.seed} is no segment of this version; the lookalike is empty`,
        stage: "lookalikes",
        segment: l.id,
      });
      out.push({ settings: l, members: new Uint8Array(n), report: emptyReport(l.seed, 0) });
      continue;
    }
    let seedSize = 0;
    for (let i = 0; i < n; i++) seedSize += seed[i] === 1 ? 1 : 0;
    if (seedSize === 0 || seedSize === n) {
      issues.push({
        code: "LOOKALIKE_SEED_TOO_SMALL",
        message:
          seedSize === 0
            ? `the seed ${l.seed} has no member; the lookalike is empty`
            : `every customer is in the seed ${l.seed}; no one is left to rank`,
        stage: "lookalikes",
        segment: l.id,
      });
      out.push({ settings: l, members: new Uint8Array(n), report: emptyReport(l.seed, seedSize) });
      continue;
    }
    hashes ??= hashesOf(result);
    const attributes = attributesOf(result, traits, l);
    const key = JSON.stringify(attributes);
    let space = spaces.get(key);
    if (space === undefined) {
      space = featureSpace(result, traits, attributes);
      spaces.set(key, space);
    }
    out.push(fitOne(result, space, l, seed, seedSize, hashes, issues));
  }
  return out;
}

function fitOne(
  result: ComputedSegmentation,
  space: FeatureSpace,
  l: LookalikeSettings,
  seed: Uint8Array,
  seedSize: number,
  hashes: { heldOut: Uint8Array; rank: Uint32Array },
  issues: ComputeIssue[],
): LookalikeSegment {
  const n = result.customerCount;
  let heldSeed = 0;
  for (let i = 0; i < n; i++) if (seed[i] === 1 && hashes.heldOut[i] === 1) heldSeed++;
  const heldRest = restSplit(hashes.heldOut, seed, n);
  // An AUC needs enough seed held out, and a training part with both classes.
  const validated =
    seedSize >= MIN_SEED &&
    heldSeed >= MIN_HELD_OUT_SEED &&
    heldSeed < seedSize &&
    heldRest.trainingRest > 0 &&
    heldRest.heldRest > 0;
  if (!validated) {
    issues.push({
      code: "LOOKALIKE_SEED_TOO_SMALL",
      message: `the seed ${l.seed} has ${seedSize} member${seedSize === 1 ? "" : "s"}, ${heldSeed} of them held out; an AUC needs at least ${MIN_SEED} and ${MIN_HELD_OUT_SEED} held out, so the model is trained on everyone and has no AUC`,
      stage: "lookalikes",
      segment: l.id,
    });
  }
  const inTraining = (i: number) => !validated || hashes.heldOut[i] === 0;
  const seedRows: number[] = [];
  const restRows: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!inTraining(i)) continue;
    (seed[i] === 1 ? seedRows : restRows).push(i);
  }
  // Seed rows all kept (up to half the budget); the rest cut to what the budget leaves, smallest hash first.
  const seedKept = takeSmallest(
    seedRows,
    hashes.rank,
    Math.max(MAX_TRAINING_ROWS - restRows.length, MAX_TRAINING_ROWS / 2),
  );
  const restKept = takeSmallest(restRows, hashes.rank, MAX_TRAINING_ROWS - seedKept.length);
  const seedWeight = seedRows.length / seedKept.length;
  const restWeight = restRows.length / restKept.length;
  const p = space.names.length;
  const rows = seedKept.length + restKept.length;
  const x = new Float64Array(rows * p);
  const y = new Uint8Array(rows);
  const weights = new Float64Array(rows);
  const row = new Float64Array(p);
  let r = 0;
  for (const [list, label, weight] of [
    [seedKept, 1, seedWeight],
    [restKept, 0, restWeight],
  ] as const) {
    for (const i of list) {
      space.fill(i, row);
      x.set(row, r * p);
      y[r] = label;
      weights[r] = weight;
      r++;
    }
  }
  const fit = fitLogistic({ x, rows, features: p, y, weights }, LOOKALIKE_LAMBDA);
  const beta = fit.coefficients;
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    space.fill(i, row);
    let z = beta[0] as number;
    for (let j = 0; j < p; j++) z += (beta[j + 1] as number) * (row[j] as number);
    scores[i] = z;
  }
  let auc: number | null = null;
  let held = { seed: 0, rest: 0 };
  if (validated) {
    const positives: number[] = [];
    const negatives: number[] = [];
    for (let i = 0; i < n; i++) {
      if (hashes.heldOut[i] !== 1) continue;
      (seed[i] === 1 ? positives : negatives).push(scores[i] as number);
    }
    auc = rocAuc(positives, negatives);
    held = { seed: positives.length, rest: negatives.length };
  }
  const candidate = new Uint8Array(n);
  for (let i = 0; i < n; i++) candidate[i] = seed[i] === 1 ? 0 : 1;
  const members = topByScore(scores, candidate, lookalikeCount(l.size, n - seedSize));
  const features = space.names
    .map((name, j) => ({ name, weight: beta[j + 1] as number }))
    .sort(
      (a, b) => Math.abs(b.weight) - Math.abs(a.weight) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    )
    .slice(0, REPORTED_FEATURES)
    .map(({ name, weight }) => ({ name, weight: Math.round(weight * 1e6) / 1e6 }));
  return {
    settings: l,
    members,
    report: {
      seed: l.seed,
      seedSize,
      trained: { seed: seedKept.length, rest: restKept.length },
      heldOut: held,
      auc: auc === null ? null : Math.round(auc * 1e6) / 1e6,
      lambda: LOOKALIKE_LAMBDA,
      features,
    },
  };
}

/** Rest customers in training and held out by the split. */
function restSplit(
  heldOut: Uint8Array,
  seed: Uint8Array,
  n: number,
): { trainingRest: number; heldRest: number } {
  let trainingRest = 0;
  let heldRest = 0;
  for (let i = 0; i < n; i++) {
    if (seed[i] === 1) continue;
    if (heldOut[i] === 1) heldRest++;
    else trainingRest++;
  }
  return { trainingRest, heldRest };
}

/** The `count` rows with the smallest rank (ties by position), in position order; all when fewer. */
function takeSmallest(rows: number[], rank: Uint32Array, count: number): number[] {
  if (rows.length <= count) return rows;
  if (count <= 0) return [];
  const ranks = Uint32Array.from(rows, (i) => rank[i] as number).sort();
  const threshold = ranks[count - 1] as number;
  let below = 0;
  for (const i of rows) if ((rank[i] as number) < threshold) below++;
  let ties = count - below;
  const out: number[] = [];
  for (const i of rows) {
    const r = rank[i] as number;
    if (r < threshold) out.push(i);
    else if (r === threshold && ties > 0) {
      out.push(i);
      ties--;
    }
  }
  return out;
}
