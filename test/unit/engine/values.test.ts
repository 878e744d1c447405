/**
 * Value parsers: day numbers against Date.UTC/Date.parse as the reference, exact amounts in cents, hashes
 * against published MurmurHash3 vectors.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dayNumber, isoDay, parseDay } from "../../../shared/engine/days";
import { parseCents, parseInteger } from "../../../shared/engine/fields";
import { HASH64, hash32, hash64 } from "../../../shared/engine/hash";

const SEED = 42;
const DAY_MS = 86_400_000;
const pad = (n: number, width = 2) => String(n).padStart(width, "0");
const cents = (text: string) => {
  const bytes = Buffer.from(text);
  return parseCents(bytes, 0, bytes.length);
};

describe("day numbers", () => {
  it("agree with Date.UTC for every day of years 1000..9999, both ways", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1000, 0, 1) / DAY_MS, max: Date.UTC(9999, 11, 31) / DAY_MS }),
        (n) => {
          const iso = new Date(n * DAY_MS).toISOString().slice(0, 10);
          expect(isoDay(n)).toBe(iso);
          expect(dayNumber(iso)).toBe(n);
        },
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("move date-times with an offset to their UTC day, like Date.parse, and keep the written date otherwise", () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date(Date.UTC(1900, 0, 2)),
          max: new Date(Date.UTC(2999, 11, 30)),
          noInvalidDate: true,
        }),
        fc.integer({ min: -14 * 60, max: 14 * 60 }),
        fc.constantFrom("T", " "),
        fc.constantFrom("", ":ss", ":ss.fff"),
        fc.constantFrom("offset", "Z", "none"),
        (date, offsetMinutes, sep, seconds, zone) => {
          const d = date;
          const local = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
          const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${seconds
            .replace("ss", pad(d.getUTCSeconds()))
            .replace("fff", pad(d.getUTCMilliseconds(), 3))}`;
          const sign = offsetMinutes < 0 ? "-" : "+";
          const abs = Math.abs(offsetMinutes);
          const offset =
            zone === "Z"
              ? "Z"
              : zone === "none"
                ? ""
                : `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
          const text = `${local}${sep}${time}${offset}`;
          const expected =
            zone === "none"
              ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) / DAY_MS
              : Math.floor(Date.parse(`${local}T${time}${offset}`) / DAY_MS);
          expect(parseDay(text)).toBe(expected);
        },
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("reject what is not an ISO date or date-time", () => {
    for (const bad of [
      "",
      "2024-02-30",
      "2023-02-29",
      "2024-13-01",
      "2024-00-10",
      "0999-12-31",
      "2024/01/01",
      "01/02/2024",
      "2024-1-01",
      "20240101",
      "2024-01-01T",
      "2024-01-01T24:00",
      "2024-01-01T10",
      "2024-01-01T10:60",
      "2024-01-01T10:00:61",
      "2024-01-01T10:00:00.",
      "2024-01-01T10:00:00.1234567890",
      "2024-01-01T10:00+25:00",
      "2024-01-01T10:00+01:",
      "2024-01-01T10:00Zx",
      "2024-01-01x",
    ]) {
      expect(parseDay(bad), bad).toBeUndefined();
    }
    expect(() => dayNumber("2024-02-30")).toThrow(RangeError);
  });

  it("accept the ISO variants exports use", () => {
    expect(parseDay("2024-02-29")).toBe(Date.UTC(2024, 1, 29) / DAY_MS);
    expect(parseDay("2024-03-01T00:30+01")).toBe(Date.UTC(2024, 1, 29) / DAY_MS);
    expect(parseDay("2024-03-01T23:30:00-0200")).toBe(Date.UTC(2024, 2, 2) / DAY_MS);
    expect(parseDay("2024-03-01t23:59:59z")).toBe(Date.UTC(2024, 2, 1) / DAY_MS);
    expect(parseDay("2024-03-01T23:59:59,5")).toBe(Date.UTC(2024, 2, 1) / DAY_MS);
    expect(parseDay("1969-12-31")).toBe(-1);
  });
});

describe("amounts", () => {
  it("parse exactly to integer cents", () => {
    expect(cents("0.1") + cents("0.2")).toBe(30);
    expect(cents("-5.5")).toBe(-550);
    expect(cents("12")).toBe(1200);
    expect(cents("12.34")).toBe(1234);
    expect(cents("007.05")).toBe(705);
    expect(cents("1.500")).toBe(150);
    expect(cents("9999999999999.99")).toBe(999999999999999);
    // Past the row limit too: ingestion, not the parser, rejects them (AMOUNT_TOO_LARGE).
    expect(cents("10000000000000.01")).toBe(1000000000000001);
    expect(cents("-99999999999999")).toBe(-9999999999999900);
    expect(Object.is(cents("-0.00"), 0)).toBe(true);
  });

  it("reject what is not a plain decimal with at most two decimal places", () => {
    for (const bad of [
      "",
      "-",
      "1e3",
      "1E3",
      "+5",
      ".5",
      "5.",
      "1,000.00",
      "1.234",
      "12.345",
      "1 000",
      "0x10",
      "NaN",
      "Infinity",
      "--1",
      "1.2.3",
    ]) {
      expect(Number.isNaN(cents(bad)), bad).toBe(true);
    }
  });

  it("agree with decimal arithmetic on random amounts", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n) + 1n, max: 10n ** 15n - 1n }),
        fc.boolean(),
        (value, oneDecimal) => {
          const negative = value < 0n;
          const abs = negative ? -value : value;
          const whole = abs / 100n;
          const fraction = abs % 100n;
          const text =
            oneDecimal && fraction % 10n === 0n
              ? `${negative ? "-" : ""}${whole}.${fraction / 10n}`
              : `${negative ? "-" : ""}${whole}.${String(fraction).padStart(2, "0")}`;
          expect(cents(text)).toBe(Number(value));
        },
      ),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it("integers parse and non-integers do not", () => {
    const int = (t: string) => parseInteger(Buffer.from(t), 0, t.length);
    expect(int("3")).toBe(3);
    expect(int("-2")).toBe(-2);
    expect(int("2.5")).toBeNaN();
    expect(int("")).toBeNaN();
    expect(int("1e2")).toBeNaN();
  });
});

describe("hashes", () => {
  const bytes = (s: string) => Buffer.from(s, "utf8");

  it("hash32 is MurmurHash3 x86_32 (published test vectors)", () => {
    expect(hash32(new Uint8Array(0), 0, 0, 0)).toBe(0);
    expect(hash32(new Uint8Array(0), 0, 0, 1)).toBe(0x514e28b7);
    expect(hash32(bytes("Hello, world!"), 0, 13, 1234)).toBe(0xfaf6cdb3);
    expect(hash32(bytes("The quick brown fox jumps over the lazy dog"), 0, 43, 0x9747b28c)).toBe(0x2fa826cd);
    const padded = bytes("xxaaaaxx");
    expect(hash32(padded, 2, 6, 0)).toBe(hash32(bytes("aaaa"), 0, 4, 0));
  });

  it("hash64 gives no collision among 200,000 similar order ids, and depends only on the bytes", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      const id = bytes(`O${String(i).padStart(9, "0")}`);
      hash64(id, 0, id.length);
      seen.add(`${HASH64[0]}:${HASH64[1]}`);
    }
    expect(seen.size).toBe(200_000);
    const a = bytes("..abc..");
    hash64(a, 2, 5);
    const first = [...HASH64];
    hash64(bytes("abc"), 0, 3);
    expect([...HASH64]).toEqual(first);
    hash64(bytes("abc\0"), 0, 4);
    expect([...HASH64]).not.toEqual(first);
  });
});
