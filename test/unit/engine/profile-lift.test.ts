/**
 * Segment profiles with lift (shared/engine/profiles) on a ten-customer fixture worked out by hand: spend
 * shares and lifts with returns netted per value, categorical shares and lifts with "other", type-7 quartiles,
 * date buckets by month and by year, the reading lines, and k-suppression with its complementary cells.
 *
 * Fixture (positions 0..9):
 *   spend (cents)  p0 Jazz 1000, Rock 500   p1 Jazz 2000   p2 Jazz 300, Rock −100   p3 Pop 700
 *                  p4 Rock 1000   p5 Rock 1000   p6 Pop 500   p7 Jazz 200, unassigned 300   p8 Rock 400   p9 —
 *   region         north p0 p1 p4 p9 · south p2 p5 p6 · east p7 p8 · missing p3
 *   age            20 30 40 — 50 60 70 80 90 100
 *   signup         2024-01-10 2024-01-20 2024-03-05 — 2024-01-31 2024-02-29 2024-03-31 2024-02-01 2024-01-01 2024-03-15
 * Base spend: Jazz 3500 (4 buyers), Rock 2900 (4; p2's net −100 counts 0), Pop 1200 (2), unassigned 300 (1);
 * total 7900.
 */
import { describe, expect, it } from "vitest";
import { bitsetOf } from "../../../shared/engine/overlap";
import {
  attributeReading,
  type CategoricalProfile,
  type DateProfile,
  dateBucketsOf,
  liftText,
  type NumericProfile,
  type ProfileInput,
  profileSegments,
  quantileSorted,
  spendReading,
  suppressTable,
} from "../../../shared/engine/profiles";

const N = 10;
const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;

function fixture(segments: Record<string, number[]>): ProfileInput {
  // Codes: 0 unassigned, 1 Jazz, 2 Rock, 3 Pop.
  const rows: [number, number][][] = [
    [
      [1, 1000],
      [2, 500],
    ],
    [[1, 2000]],
    [
      [1, 300],
      [2, -100],
    ],
    [[3, 700]],
    [[2, 1000]],
    [[2, 1000]],
    [[3, 500]],
    [
      [1, 200],
      [0, 300],
    ],
    [[2, 400]],
    [],
  ];
  const offsets = new Uint32Array(N + 1);
  const codes: number[] = [];
  const net: number[] = [];
  rows.forEach((row, p) => {
    for (const [c, cents] of row) {
      codes.push(c);
      net.push(cents);
    }
    offsets[p + 1] = codes.length;
  });
  return {
    customerCount: N,
    segments: Object.entries(segments).map(([id, members]) => ({ id, members: bitsetOf(members, N) })),
    dimensions: [
      {
        dimension: "category",
        values: ["Jazz", "Rock", "Pop"],
        spend: { offsets, codes: Uint32Array.from(codes), net: Float64Array.from(net) },
      },
    ],
    attributes: [
      {
        kind: "categorical",
        name: "region",
        values: ["north", "south", "east"],
        codes: [1, 1, 2, 0, 1, 2, 2, 3, 3, 1],
      },
      { kind: "numeric", name: "age", values: [20, 30, 40, Number.NaN, 50, 60, 70, 80, 90, 100] },
      {
        kind: "date",
        name: "signup",
        days: [
          day("2024-01-10"),
          day("2024-01-20"),
          day("2024-03-05"),
          Number.NaN,
          day("2024-01-31"),
          day("2024-02-29"),
          day("2024-03-31"),
          day("2024-02-01"),
          day("2024-01-01"),
          day("2024-03-15"),
        ],
      },
    ],
  };
}

const attribute = <T>(profile: { attributes: unknown[] }, i: number) => profile.attributes[i] as T;

describe("spend by category", () => {
  it("shares, lifts and buyers, returns netted per value (k = 1, top 2)", () => {
    const [a] = profileSegments(fixture({ A: [0, 1, 2, 3] }), { k: 1, top: 2 });
    const spend = a?.spend[0];
    // Segment A: Jazz 1000 + 2000 + 300 = 3300 (3 buyers), Pop 700 (1), Rock 500 (p2's −100 counts 0; 1 buyer).
    expect(spend?.totalCents).toBe(4500);
    expect(spend?.items).toEqual([
      {
        value: "Jazz",
        suppressed: false,
        buyers: 3,
        netCents: 3300,
        share: 0.7333, // 3300 / 4500
        baseShare: 0.443, // 3500 / 7900 = 0.44304
        lift: 1.6552, // 3300·7900 / (4500·3500) = 1.655238
        reading: "put 1.7× the average customer's share of their spend into Jazz",
      },
      {
        value: "Pop",
        suppressed: false,
        buyers: 1,
        netCents: 700,
        share: 0.1556, // 700 / 4500
        baseShare: 0.1519, // 1200 / 7900
        lift: 1.0241, // 700·7900 / (4500·1200) = 1.024074
        reading: "put about the average customer's share of their spend into Pop",
      },
    ]);
    // Rock is the rest: 500 / 4500 against 2900 / 7900, lift 500·7900 / (4500·2900) = 0.302682.
    expect(spend?.other).toEqual({
      value: "other",
      suppressed: false,
      buyers: null,
      netCents: 500,
      share: 0.1111,
      baseShare: 0.3671,
      lift: 0.3027,
    });
    expect(spend?.unassigned).toBeUndefined();
  });

  it("hides a value bought by fewer than k, and the listed value that would give it away (k = 2)", () => {
    const [a] = profileSegments(fixture({ A: [0, 1, 2, 3] }), { k: 2, top: 2 });
    // Only Jazz has ≥ 2 buyers; the rest (Rock, Pop: one buyer each) is "other", hidden; Jazz's share would
    // give other's as 1 − share, so Jazz is hidden too. The total stays: 4 members spent (p0..p3).
    expect(a?.spend[0]?.items).toEqual([{ value: "Jazz", suppressed: true }]);
    expect(a?.spend[0]?.other).toEqual({ value: "other", suppressed: true });
    expect(a?.spend[0]?.totalCents).toBe(4500);
  });

  it("shows the unassigned orders and hides the total of a segment with fewer than k spenders", () => {
    const [b] = profileSegments(fixture({ B: [7, 9] }), { k: 2 });
    expect(b?.spend[0]?.totalCents).toBeNull();
    expect(b?.spend[0]?.unassigned).toEqual({ value: "unassigned", suppressed: true });
    const [c] = profileSegments(fixture({ C: [7] }), { k: 1 });
    expect(c?.spend[0]?.unassigned).toMatchObject({
      suppressed: false,
      buyers: 1,
      netCents: 300,
      share: 0.6,
    });
  });
});

describe("categorical attributes", () => {
  it("top values with share and lift, the rest as other (k = 2, top 1)", () => {
    const [b] = profileSegments(fixture({ B: [0, 1, 2, 4, 5, 6, 9] }), { k: 2, top: 1 });
    const region = attribute<CategoricalProfile>(b as never, 0);
    // B: north 4 (p0 p1 p4 p9), south 3 (p2 p5 p6) of 7; base north 4/10, other (south + east) 5/10.
    expect(region.items).toEqual([
      {
        value: "north",
        suppressed: false,
        count: 4,
        share: 0.5714,
        baseShare: 0.4,
        lift: 1.4286, // (4/7) / (4/10)
        reading: "are 1.4× as likely as the average customer to have region north",
      },
    ]);
    expect(region.other).toEqual({
      value: "other",
      suppressed: false,
      count: 3,
      share: 0.4286,
      baseShare: 0.5,
      lift: 0.8571,
    });
    // The base has a missing region (p3), so the row is there, with B's count of 0 and no reading.
    expect(region.missing).toEqual({
      value: "missing",
      suppressed: false,
      count: 0,
      share: 0,
      baseShare: 0.1,
      lift: 0,
    });
  });

  it("complementary suppression: other has 1 member, so the smallest shown value is hidden too", () => {
    const [c] = profileSegments(fixture({ C: [0, 1, 2, 4, 7, 8, 9] }), { k: 2 });
    const region = attribute<CategoricalProfile>(c as never, 0);
    // C: north 4, east 2 (p7 p8), south 1 (p2) → other. 7 − 4 = 3 = east + other, split unknown.
    expect(region.items).toEqual([
      expect.objectContaining({ value: "north", suppressed: false, count: 4 }),
      { value: "east", suppressed: true },
    ]);
    expect(region.other).toEqual({ value: "other", suppressed: true });
  });
});

describe("numeric attributes", () => {
  it("type-7 quartiles and mean against the base's", () => {
    const [b] = profileSegments(fixture({ B: [0, 1, 2, 4, 5, 6, 9] }), { k: 2 });
    const age = attribute<NumericProfile>(b as never, 1);
    // B's ages sorted: 20 30 40 50 60 70 100; positions 1.5, 3, 4.5 of 0..6.
    expect(age.segment).toEqual({ q1: 35, median: 50, q3: 65, mean: 52.8571 }); // mean 370 / 7
    // Base: 20 30 … 100 without p3: positions 2, 4, 6 of 0..8; mean 540 / 9.
    expect(age.base).toEqual({ q1: 40, median: 60, q3: 80, mean: 60 });
    expect(age.reading).toBe("median age 50 against 60 for all customers");
    expect(age.present).toMatchObject({ suppressed: false, count: 7 });
  });

  it("no quartiles for fewer than k members with a value; the missing count and its complement hidden", () => {
    const [a] = profileSegments(fixture({ A: [0, 1, 2, 3] }), { k: 4 });
    const age = attribute<NumericProfile>(a as never, 1);
    expect(age.segment).toBeNull();
    expect(age.reading).toBeUndefined();
    expect(age.base).toEqual({ q1: 40, median: 60, q3: 80, mean: 60 });
    expect(age.present).toEqual({ value: "present", suppressed: true });
    expect(age.missing).toEqual({ value: "missing", suppressed: true });
  });

  it("quantileSorted interpolates between order statistics", () => {
    expect(quantileSorted([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([7], 0.75)).toBe(7);
    expect(quantileSorted([], 0.5)).toBeNaN();
  });
});

describe("dates", () => {
  it("by month when the span is short; buckets under k hidden with a complement", () => {
    const [b] = profileSegments(fixture({ B: [0, 1, 2, 4, 5, 6, 9] }), { k: 2 });
    const signup = attribute<DateProfile>(b as never, 2);
    expect(signup.bucket).toBe("month");
    // B: 2024-01 p0 p1 p4 = 3; 2024-02 p5 = 1 (hidden); 2024-03 p2 p6 p9 = 3, the later of the two smallest
    // shown, hidden as its complement. Base: 4, 2, 3 of 10.
    expect(signup.items).toEqual([
      {
        value: "2024-01",
        suppressed: false,
        count: 3,
        share: 0.4286,
        baseShare: 0.4,
        lift: 1.0714,
        reading: "are 1.1× as likely as the average customer to have signup in 2024-01",
      },
      { value: "2024-02", suppressed: true },
      { value: "2024-03", suppressed: true },
    ]);
  });

  it("by year beyond 36 months, by month up to them", () => {
    const months36 = dateBucketsOf([day("2022-01-31"), day("2024-12-01")], 2);
    expect(months36.unit).toBe("month");
    expect(months36.labels.length).toBe(36);
    expect(Array.from(months36.codes)).toEqual([1, 36]);
    const months37 = dateBucketsOf([day("2022-01-31"), Number.NaN, day("2025-01-01")], 3);
    expect(months37.unit).toBe("year");
    expect(months37.labels).toEqual(["2022", "2023", "2024", "2025"]);
    expect(Array.from(months37.codes)).toEqual([1, 0, 4]);
    expect(dateBucketsOf([day("1969-12-31")], 1).labels).toEqual(["1969-12"]);
  });
});

describe("suppressTable", () => {
  it("hides cells under k and one complement that covers k", () => {
    expect(suppressTable([], 10)).toEqual([]);
    expect(suppressTable([50, 20, 12, 3], 10)).toEqual([false, false, true, true]);
    expect(suppressTable([50, 0, 3], 10)).toEqual([true, false, true]);
    expect(suppressTable([12, 12, 3], 10)).toEqual([false, true, true]);
    expect(suppressTable([5, 12, 3], 10)).toEqual([true, true, true]);
    expect(suppressTable([4, 4], 10)).toEqual([true, true]);
    // No cell reaches k: the table is withheld, its empty cells too.
    expect(suppressTable([4, 0, 3], 10)).toEqual([true, true, true]);
    // Two small cells together over k still need a complement: a cell of ≥ k among the hidden.
    expect(suppressTable([30, 6, 6], 10)).toEqual([true, true, true]);
    expect(suppressTable([30, 20], 10)).toEqual([false, false]);
    // A forced cell counts as small whatever its count.
    expect(suppressTable([30, 20, 15], 10, [false, false, true])).toEqual([false, true, true]);
  });
});

describe("readings", () => {
  it("rounds the lift as documented", () => {
    expect(liftText(2.349)).toBe("2.3×");
    expect(liftText(2.35)).toBe("2.4×");
    expect(liftText(9.94)).toBe("9.9×");
    expect(liftText(9.96)).toBe("10×");
    expect(liftText(14.5)).toBe("15×");
    expect(liftText(0.431)).toBe("0.43×");
    expect(liftText(0.996)).toBe("1.0×");
    expect(spendReading("category", "Jazz", 2.31)).toBe(
      "put 2.3× the average customer's share of their spend into Jazz",
    );
    expect(spendReading("channel", "web", 0.5)).toBe(
      "put 0.50× the average customer's share of their spend through web",
    );
    expect(attributeReading("country", "NO", 2)).toBe(
      "are 2.0× as likely as the average customer to have country NO",
    );
  });
});
