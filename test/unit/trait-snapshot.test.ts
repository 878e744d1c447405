/**
 * The trait snapshot a run stores for dry runs (shared/pipeline/trait-snapshot.ts): every column and both
 * models come back exactly, whatever the byte offset the bytes arrive at; bytes that are not a snapshot are
 * refused with TraitSnapshotError, never another error.
 */
import { describe, expect, it } from "vitest";
import { ComputedSegmentation } from "../../shared/engine";
import {
  decodeTraitSnapshot,
  encodeTraitSnapshot,
  TraitSnapshotError,
} from "../../shared/pipeline/trait-snapshot";

const n = 5;
const columns = {
  stateIndex: Uint32Array.from([4, 0, 3, 1, 2]),
  cluster: Uint16Array.from([0, 1, 1, 0, 2]),
  probabilityAlive: Float64Array.from([0.1, 0.25, 1, Number.NaN, 0.999]),
  expectedPurchases: Float64Array.from([0, 1.5, 2.25, 3, 1e-9]),
  clv: Float64Array.from([0, 12.34, 1234.5, 99.99, 0.01]),
  monetaryCents: new Float64Array(n),
  frequency: new Uint32Array(n),
};
const clusters = { ids: ["cluster:c1", "cluster:c2", "cluster:c7"], k: 3 };
const value = { selectedModel: "bgNbd", horizonDays: 365 };
const result = new ComputedSegmentation(
  { customerId: () => "", attribute: () => undefined } as never,
  "2025-07-01",
  20_270,
  columns as never,
  { clusters: clusters as never, value: value as never },
);

describe("trait snapshots", () => {
  it("give back every column and both models, at any byte offset", () => {
    const bytes = encodeTraitSnapshot(result);
    for (const offset of [0, 1, 3, 7]) {
      const shifted = new Uint8Array(bytes.length + offset).subarray(offset);
      shifted.set(bytes);
      const back = decodeTraitSnapshot(shifted);
      expect(back.stateIndex).toEqual(columns.stateIndex);
      expect(back.cluster).toEqual(columns.cluster);
      expect(back.floats.probabilityAlive).toEqual(columns.probabilityAlive);
      expect(back.floats.expectedPurchases).toEqual(columns.expectedPurchases);
      expect(back.floats.clv).toEqual(columns.clv);
      expect(back.floats.clvLow).toBeUndefined();
      expect(back.clusters).toEqual(clusters);
      expect(back.value).toEqual(value);
    }
  });

  it("refuses bytes that are not a snapshot, or a cut one", () => {
    const bytes = encodeTraitSnapshot(result);
    const bad = [
      new Uint8Array(0),
      Buffer.from("TRS1"),
      Buffer.from("not a snapshot at all"),
      Buffer.concat([Buffer.from("TRS1"), Buffer.from([5, 0, 0, 0]), Buffer.from("{oops")]),
      bytes.subarray(0, bytes.length - 8),
    ];
    for (const b of bad) expect(() => decodeTraitSnapshot(b)).toThrow(TraitSnapshotError);
  });
});
