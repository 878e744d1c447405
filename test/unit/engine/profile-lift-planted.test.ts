/**
 * Segment profiles on generated customers with planted structure, where the right lift is known from the model:
 * a segment whose members buy Jazz three times as often as the average customer (lift 3), and a region twice
 * as common among the best customers (top fifth by spend) as among all (lift 2). Each estimate must lie within
 * four standard errors of the planted value, the error worked out from the model by the delta method:
 * lift = (X / m) / (T / N) with X ~ Bin(m, q) the members with the trait, T = X + Bin(N − m, p0), so
 * Var(ln lift) ≈ Var X / E[X]² + Var T / E[T]² − 2 Var X / (E[X] E[T]).
 * (Measuring against the non-members instead, a common slip, gives 3.86 and 2.67: far outside those bounds.)
 */
import { describe, expect, it } from "vitest";
import { mulberry32 as random } from "../../../scripts/random";
import { bitsetOf } from "../../../shared/engine/overlap";
import {
  type CategoricalProfile,
  type NumericProfile,
  profileSegments,
} from "../../../shared/engine/profiles";

/** Standard error of ln(lift) under the model above. */
function logLiftSe(m: number, q: number, rest: number, p0: number): number {
  const ex = m * q;
  const vx = m * q * (1 - q);
  const et = ex + rest * p0;
  const vt = vx + rest * p0 * (1 - p0);
  return Math.sqrt(vx / ex ** 2 + vt / et ** 2 - (2 * vx) / (ex * et));
}

describe("planted structure", () => {
  it("a segment that buys Jazz three times as often has lift ≈ 3; uniform ages give quartiles ≈ ¼ ½ ¾", () => {
    const N = 100_000;
    const f = 0.1;
    const q = 0.3; // P(Jazz) for a member
    const p0 = (q * (1 - 3 * f)) / (3 * (1 - f)); // P(Jazz) for the others, so that q / (f q + (1 − f) p0) = 3
    const next = random(14);
    const members: number[] = [];
    const offsets = new Uint32Array(N + 1);
    const codes = new Uint32Array(N);
    const net = new Float64Array(N);
    const ages = new Float64Array(N);
    let jazzMembers = 0;
    for (let p = 0; p < N; p++) {
      const member = next() < f;
      if (member) members.push(p);
      // One order of 25.00 each: Jazz (1) with the planted probability, else Rock, Pop or Folk alike.
      const jazz = next() < (member ? q : p0);
      codes[p] = jazz ? 1 : 2 + Math.floor(next() * 3);
      if (jazz && member) jazzMembers++;
      net[p] = 2500;
      offsets[p + 1] = p + 1;
      ages[p] = next();
    }
    const [profile] = profileSegments(
      {
        customerCount: N,
        segments: [{ id: "planted", members: bitsetOf(members, N) }],
        dimensions: [
          { dimension: "category", values: ["Jazz", "Rock", "Pop", "Folk"], spend: { offsets, codes, net } },
        ],
        attributes: [{ kind: "numeric", name: "score", values: ages }],
      },
      { k: 10, top: 4 },
    );
    const jazz = profile?.spend[0]?.items[0];
    expect(jazz).toMatchObject({
      value: "Jazz",
      suppressed: false,
      buyers: jazzMembers,
      netCents: jazzMembers * 2500,
    });
    if (jazz === undefined || jazz.suppressed || jazz.lift === null) throw new Error("Jazz missing");
    const se = logLiftSe(members.length, q, N - members.length, p0);
    expect(Math.abs(Math.log(jazz.lift / 3))).toBeLessThan(4 * se);
    expect(jazz.reading).toMatch(
      /^put (2\.[89]|3\.[012])× the average customer's share of their spend into Jazz$/,
    );

    // Quartiles of a uniform: SE of the p-quantile is √(p(1 − p) / m) (density 1).
    const score = profile?.attributes[0] as NumericProfile | undefined;
    const m = members.length;
    for (const [got, p] of [
      [score?.segment?.q1, 0.25],
      [score?.segment?.median, 0.5],
      [score?.segment?.q3, 0.75],
      [score?.segment?.mean, 0.5],
    ] as const) {
      expect(Math.abs((got ?? Number.NaN) - p)).toBeLessThan(4 * Math.sqrt(0.1875 / m));
    }
  });

  it("a region twice as common among the best customers has lift ≈ 2", () => {
    const N = 50_000;
    const f = 0.2;
    const r = 0.4; // P(north) among the best
    const p0 = (r / 2 - f * r) / (1 - f); // among the others, so that r / (f r + (1 − f) p0) = 2
    const next = random(2);
    // Spend drawn from an exponential; the best customers are the top fifth by spend.
    const spend = Array.from({ length: N }, () => Math.round(-Math.log(1 - next()) * 10_000) + 1);
    const order = spend.map((s, p) => [s, p] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const best = new Uint8Array(N);
    for (let i = 0; i < N * f; i++) best[(order[i] as readonly [number, number])[1]] = 1;
    const region = new Uint32Array(N);
    let northBest = 0;
    for (let p = 0; p < N; p++) {
      const north = next() < (best[p] === 1 ? r : p0);
      region[p] = north ? 1 : 2 + Math.floor(next() * 3);
      if (north && best[p] === 1) northBest++;
    }
    const bestPositions = [...best.keys()].filter((p) => best[p] === 1);
    const [profile] = profileSegments({
      customerCount: N,
      segments: [{ id: "best", members: bitsetOf(bestPositions, N) }],
      attributes: [
        { kind: "categorical", name: "region", values: ["north", "south", "east", "west"], codes: region },
      ],
    });
    const north = (profile?.attributes[0] as CategoricalProfile | undefined)?.items[0];
    expect(north).toMatchObject({ value: "north", suppressed: false, count: northBest });
    if (north === undefined || north.suppressed || north.lift === null) throw new Error("north missing");
    const se = logLiftSe(bestPositions.length, r, N - bestPositions.length, p0);
    expect(Math.abs(Math.log(north.lift / 2))).toBeLessThan(4 * se);
  });
});
