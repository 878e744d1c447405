/**
 * compressSummary against a Map keyed by the (x, t_x, T) triple: triples in order of first occurrence, summed
 * weights, and every customer's triple, for a few or many thousands of distinct triples (the table grows).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compressSummary } from "../../../shared/engine/clv";

function model(x: number[], tx: number[], T: number[], weight?: number[]) {
  const groups = new Map<string, { x: number; tx: number; T: number; weight: number; id: number }>();
  const index: number[] = [];
  x.forEach((xi, i) => {
    const key = `${xi}|${tx[i]}|${T[i]}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { x: xi, tx: tx[i] as number, T: T[i] as number, weight: 0, id: groups.size };
      groups.set(key, group);
    }
    group.weight += weight === undefined ? 1 : (weight[i] as number);
    index.push(group.id);
  });
  const list = [...groups.values()];
  return {
    x: list.map((g) => g.x),
    tx: list.map((g) => g.tx),
    T: list.map((g) => g.T),
    weight: list.map((g) => g.weight),
    index,
  };
}

describe("compressSummary", () => {
  it("groups equal triples in order of first occurrence, however many there are", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30_000 }),
        fc.integer({ min: 1, max: 400 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (n, spread, weighted, seed) => {
          let s = seed;
          const next = () => {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0;
            return s / 4294967296;
          };
          const x: number[] = [];
          const tx: number[] = [];
          const T: number[] = [];
          const weight: number[] = [];
          for (let i = 0; i < n; i++) {
            const xi = Math.floor(next() * 10);
            const Ti = Math.floor(next() * spread) + 1;
            x.push(xi);
            T.push(Ti);
            tx.push(xi === 0 ? 0 : Math.floor(next() * Ti));
            weight.push(Math.floor(next() * 3) + 0.5);
          }
          const expected = model(x, tx, T, weighted ? weight : undefined);
          const c = compressSummary(
            { x: Float64Array.from(x), tx: Float64Array.from(tx), T: Float64Array.from(T) },
            weighted ? weight : undefined,
          );
          expect(Array.from(c.x)).toEqual(expected.x);
          expect(Array.from(c.tx)).toEqual(expected.tx);
          expect(Array.from(c.T)).toEqual(expected.T);
          expect(Array.from(c.weight)).toEqual(expected.weight);
          expect(Array.from(c.index)).toEqual(expected.index);
        },
      ),
      { seed: 5, numRuns: 30 },
    );
  });
});
