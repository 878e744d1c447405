/**
 * The parallel read's sorted keys (shared/engine/parallel/keys.ts): sortKeys against Array#sort (stable, keys
 * as unsigned), and forEachShared against a brute-force search for the first holder, on lists whose 32-bit
 * keys collide often while their entries differ (the caller's `same` tells them apart), for two lists (the
 * merge walk) and for more (the walk over every list's head).
 */
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../../scripts/random";
import { forEachShared, type SortedKeys, sortKeys } from "../../../shared/engine/parallel/keys";

const random = mulberry32;

describe("sortKeys", () => {
  it("sorts unsigned keys with their entry numbers, equal keys in entry order", () => {
    const next = random(1);
    for (const [n, spread] of [
      [0, 1],
      [1, 1],
      [5000, 7],
      [20000, 2 ** 32],
      [3000, 2 ** 12],
    ] as const) {
      const keys = Uint32Array.from({ length: n }, () =>
        spread === 2 ** 32 ? Math.floor(next() * spread) : 0xfffff000 + Math.floor(next() * spread),
      );
      const expected = Array.from({ length: n }, (_, i) => i).sort(
        (a, b) => (keys[a] as number) - (keys[b] as number) || a - b,
      );
      const sorted = sortKeys(keys.slice());
      expect(Array.from(sorted.entries)).toEqual(expected);
      expect(Array.from(sorted.keys)).toEqual(expected.map((i) => keys[i]));
    }
  });
});

describe("forEachShared", () => {
  /**
   * Lists of entries, each an identity (what `same` compares) with a key derived from it that many other
   * identities share; within a list identities are distinct.
   */
  function lists(seed: number, count: number, size: number, identities: number, keySpace: number) {
    const next = random(seed);
    return Array.from({ length: count }, () => {
      const ids = new Set<number>();
      while (ids.size < size) ids.add(Math.floor(next() * identities));
      const identity = [...ids];
      const keyOf = (id: number) => (Math.imul(id, 0x9e3779b1) >>> 0) % keySpace;
      return { identity, sorted: sortKeys(Uint32Array.from(identity, keyOf)) as SortedKeys };
    });
  }

  for (const count of [2, 3, 5]) {
    it(`finds the first holder of every shared entry, ${count} lists`, () => {
      for (const seed of [1, 2, 3]) {
        const data = lists(seed * 10 + count, count, 400, 1500, 97);
        const found: string[] = [];
        let asked = 0;
        forEachShared(
          data.map((d) => d.sorted),
          (qa, a, qb, b) => {
            asked++;
            expect(qa).toBeLessThan(qb);
            return data[qa]?.identity[a] === data[qb]?.identity[b];
          },
          (r, e, q, f) => found.push(`${r}:${e}<-${q}:${f}`),
        );
        const expected: string[] = [];
        data.forEach((d, r) => {
          d.identity.forEach((id, e) => {
            for (let q = 0; q < r; q++) {
              const f = data[q]?.identity.indexOf(id) ?? -1;
              if (f >= 0) {
                expected.push(`${r}:${e}<-${q}:${f}`);
                break;
              }
            }
          });
        });
        expect(expected.length).toBeGreaterThan(50);
        expect(found.sort()).toEqual(expected.sort());
        // Keys collide (97 of them for 1,500 identities): `same` was asked about unequal entries too.
        expect(asked).toBeGreaterThan(expected.length);
      }
    });
  }
});
