/**
 * Properties of segment profiles on random small datasets, checked against counts made here with plain loops:
 * - a segment holding every customer has lift exactly 1 in every shown cell, and the base's quartiles;
 * - every shown count, buyer count and net spend is the true one, and no shown cell covers 1..k−1 customers;
 * - quartiles read from counts per value equal those from sorted values;
 * - suppressed cells never leak through totals: in a count table of a segment with ≥ k members, the cells
 *   hidden with members in them are none or at least two, one of which holds ≥ k (so size − Σ shown is a sum
 *   over several hidden cells spread over ≥ k customers), or the table is withheld whole; in a spend table with a hidden cell, one hidden cell
 *   has ≥ k true buyers (for "other", the members buying any of its values), or no cell with spend is shown.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bitsetOf } from "../../../shared/engine/overlap";
import {
  type CategoricalProfile,
  type CountItem,
  type DateProfile,
  dateBucketsOf,
  type NumericProfile,
  type ProfileInput,
  profileSegments,
  type SpendItem,
} from "../../../shared/engine/profiles";

const VALUES = ["a", "b", "c", "d", "e"];

const dataset = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    // Per customer: net cents per code 0..3 (0 = none; 0 cents means no orders in it).
    spend: fc.array(fc.array(fc.integer({ min: -300, max: 900 }), { minLength: 4, maxLength: 4 }), {
      minLength: n,
      maxLength: n,
    }),
    region: fc.array(fc.integer({ min: 0, max: VALUES.length }), { minLength: n, maxLength: n }),
    age: fc.array(fc.oneof(fc.constant(Number.NaN), fc.integer({ min: 0, max: 90 })), {
      minLength: n,
      maxLength: n,
    }),
    day: fc.array(fc.oneof(fc.constant(Number.NaN), fc.integer({ min: 19_000, max: 19_200 })), {
      minLength: n,
      maxLength: n,
    }),
    segments: fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), {
      minLength: 1,
      maxLength: 3,
    }),
    k: fc.integer({ min: 1, max: 5 }),
    top: fc.integer({ min: 0, max: 3 }),
  }),
);
type Dataset = typeof dataset extends fc.Arbitrary<infer T> ? T : never;

function inputOf(d: Dataset): ProfileInput {
  const offsets = new Uint32Array(d.n + 1);
  const codes: number[] = [];
  const net: number[] = [];
  for (let p = 0; p < d.n; p++) {
    (d.spend[p] as number[]).forEach((cents, code) => {
      if (cents === 0) return;
      codes.push(code);
      net.push(cents);
    });
    offsets[p + 1] = codes.length;
  }
  const all = [...Array(d.n).keys()];
  return {
    customerCount: d.n,
    segments: [
      { id: "all", members: bitsetOf(all, d.n) },
      ...d.segments.map((flags, i) => ({
        id: `s${i}`,
        members: bitsetOf(
          all.filter((p) => flags[p]),
          d.n,
        ),
      })),
    ],
    dimensions: [
      {
        dimension: "category",
        values: ["x", "y", "z"],
        spend: { offsets, codes: Uint32Array.from(codes), net: Float64Array.from(net) },
      },
    ],
    attributes: [
      { kind: "categorical", name: "region", values: VALUES, codes: d.region },
      { kind: "numeric", name: "age", values: d.age },
      { kind: "date", name: "signup", days: d.day },
    ],
  };
}

const shown = <T extends { suppressed: boolean }>(item: T | undefined): item is T & { suppressed: false } =>
  item !== undefined && !item.suppressed;

/** Checks a count table against the true counts of its cells (label → count). */
function checkCounts(cells: [CountItem | undefined, number][], size: number, k: number): void {
  const withheld = cells.every(([item]) => item === undefined || item.suppressed);
  const hiddenPositive: number[] = [];
  for (const [item, truth] of cells) {
    if (item === undefined) {
      expect(truth).toBe(0);
    } else if (shown(item)) {
      expect(item.count).toBe(truth);
      expect(truth === 0 || truth >= k).toBe(true);
    } else if (truth > 0) hiddenPositive.push(truth);
  }
  // A withheld table (no cell reaches k) hides its empty cells too, so its hidden cells are not known to hold anyone.
  if (size >= k && hiddenPositive.length > 0 && !withheld) {
    expect(hiddenPositive.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...hiddenPositive)).toBeGreaterThanOrEqual(k);
  }
}

describe("profile properties", () => {
  it("lift 1 for the whole base; true counts; nothing under k shown or recoverable from totals", () => {
    fc.assert(
      fc.property(dataset, (d) => {
        const input = inputOf(d);
        const profiles = profileSegments(input, { k: d.k, top: d.top });
        // Quartiles from counts per value (the default here) and from sorted values agree.
        expect(profileSegments(input, { k: d.k, top: d.top, histogramLimit: 0 })).toEqual(profiles);
        const buckets = dateBucketsOf(d.day, d.n);
        profiles.forEach((profile, s) => {
          const flags = s === 0 ? Array<boolean>(d.n).fill(true) : (d.segments[s - 1] as boolean[]);
          const members = [...Array(d.n).keys()].filter((p) => flags[p]);
          const size = members.length;
          expect(profile.size).toBe(size);
          const whole = s === 0;
          const liftOne = (
            item: { suppressed: boolean; lift?: number | null; baseShare?: number } | undefined,
          ) => {
            if (whole && item !== undefined && !item.suppressed && (item.baseShare ?? 0) > 0) {
              expect(item.lift).toBe(1);
            }
          };

          // Spend: true buyers and cents per code over the members.
          const spend = profile.spend[0];
          if (spend === undefined) throw new Error("no spend table");
          const buyers = (code: number) =>
            members.filter((p) => ((d.spend[p] as number[])[code] as number) > 0);
          const cents = (code: number) =>
            members.reduce((sum, p) => sum + Math.max(0, (d.spend[p] as number[])[code] as number), 0);
          const names = ["x", "y", "z"];
          const listed = new Set<number>();
          const hiddenCover: number[] = [];
          let shownSpend = false;
          const visit = (item: SpendItem | undefined, trueBuyers: number, trueCents: number) => {
            if (item === undefined) return;
            liftOne(item);
            if (shown(item)) {
              if (item.buyers !== null) {
                expect(item.buyers).toBe(trueBuyers);
                expect(item.buyers).toBeGreaterThanOrEqual(d.k);
              }
              expect(item.netCents).toBe(trueCents);
              if (trueCents > 0) shownSpend = true;
            } else hiddenCover.push(trueBuyers);
          };
          for (const item of spend.items) {
            const code = names.indexOf(item.value) + 1;
            listed.add(code);
            visit(item, buyers(code).length, cents(code));
          }
          const otherCodes = [1, 2, 3].filter((c) => !listed.has(c));
          const otherBuyers = new Set(otherCodes.flatMap(buyers)).size;
          visit(
            spend.other,
            otherBuyers,
            otherCodes.reduce((sum, c) => sum + cents(c), 0),
          );
          visit(spend.unassigned, buyers(0).length, cents(0));
          if (hiddenCover.length > 0 && shownSpend)
            expect(Math.max(...hiddenCover)).toBeGreaterThanOrEqual(d.k);
          const spenders = members.filter((p) => (d.spend[p] as number[]).some((c) => c > 0)).length;
          expect(spend.totalCents).toBe(
            spenders >= d.k ? [0, 1, 2, 3].reduce((sum, c) => sum + cents(c), 0) : null,
          );

          // Region: the listed values, other and missing.
          const region = profile.attributes[0] as CategoricalProfile;
          const count = (code: number) => members.filter((p) => d.region[p] === code).length;
          const listedCodes = region.items.map((item) => VALUES.indexOf(item.value) + 1);
          const other = size - count(0) - listedCodes.reduce((sum, c) => sum + count(c), 0);
          for (const item of [...region.items, region.other, region.missing]) liftOne(item);
          checkCounts(
            [
              ...region.items.map(
                (item, i) => [item, count(listedCodes[i] as number)] as [CountItem, number],
              ),
              [region.other, other],
              [region.missing, count(0)],
            ],
            size,
            d.k,
          );

          // Dates: every bucket and missing.
          const signup = profile.attributes[2] as DateProfile;
          for (const item of [...signup.items, signup.missing]) liftOne(item);
          const inBucket = (b: number) => members.filter((p) => buckets.codes[p] === b).length;
          checkCounts(
            [
              ...signup.items.map((item, i) => [item, inBucket(i + 1)] as [CountItem, number]),
              [signup.missing, inBucket(0)],
            ],
            size,
            d.k,
          );

          // Ages: quartiles only with ≥ k values; the whole base's equal the base's.
          const age = profile.attributes[1] as NumericProfile;
          const present = members.filter((p) => !Number.isNaN(d.age[p] as number)).length;
          expect(age.segment === null).toBe(present < d.k);
          checkCounts(
            [
              [age.present, present],
              [age.missing, size - present],
            ],
            size,
            d.k,
          );
          if (whole) expect(age.segment).toEqual(age.base);
        });
      }),
      { numRuns: 300, seed: 1414 },
    );
  });
});
