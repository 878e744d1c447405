/** The RFM grid and the value histogram, on values worked out by hand. */
import { describe, expect, it } from "vitest";
import { rfmGrid, valueHistogram } from "../../../shared/engine";

describe("rfmGrid", () => {
  it("counts customers per recency × frequency-and-monetary cell", () => {
    // fm = floor((f + m + 1) / 2): (1,1) → 1, (5,5) → 5, (5,4) → 5, (2,3) → 3, (1,2) → 2
    const r = Uint8Array.from([1, 5, 5, 3, 3]);
    const f = Uint8Array.from([1, 5, 5, 2, 1]);
    const m = Uint8Array.from([1, 5, 4, 3, 2]);
    expect(rfmGrid(r, f, m)).toEqual([
      [1, 0, 0, 0, 0],
      [0, 0, 0, 0, 0],
      [0, 1, 1, 0, 0],
      [0, 0, 0, 0, 0],
      [0, 0, 0, 0, 2],
    ]);
  });
});

describe("valueHistogram", () => {
  it("bins on 1-2-5 edges up to the first edge at or above the largest value", () => {
    const h = valueHistogram(Float64Array.from([0, 0.5, 1, 3, 7, 20, 49.99]));
    expect(h.edges).toEqual([0, 1, 2, 5, 10, 20, 50]);
    // [0,1): 0, 0.5 · [1,2): 1 · [2,5): 3 · [5,10): 7 · [10,20): none · [20,50]: 20, 49.99
    expect(h.counts).toEqual([2, 1, 1, 1, 0, 2]);
  });

  it("puts a value on the top edge in the last bin, and negatives in the first", () => {
    const h = valueHistogram(Float64Array.from([-3, 100, 150, 200]));
    expect(h.edges).toEqual([0, 1, 2, 5, 10, 20, 50, 100, 200]);
    expect(h.counts).toEqual([1, 0, 0, 0, 0, 0, 0, 3]);
  });

  it("has one empty bin for no values", () => {
    expect(valueHistogram(new Float64Array(0))).toEqual({ edges: [0, 1], counts: [0] });
  });
});
