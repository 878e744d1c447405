/**
 * The engine's two hash tables against Map models: the ByteSet interner (short entries kept in the table
 * slot, long ones in the arena, lengths around the boundaries, zero bytes, equal hashes) and the order_id
 * table of the state (orders whose hashes share the probe start or the tag bits), through growth, release
 * and rebuild, prefetching, and serialization.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ByteSet } from "../../../shared/engine/byteset";
import { AggregateState } from "../../../shared/engine/state";

const SEED = 11;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** Byte strings of the lengths that matter: empty, up to 8 (kept in the slot), 9 and more, 255 and more. */
const bytesArb = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 10 }),
  fc.uint8Array({ minLength: 7, maxLength: 9 }),
  fc.uint8Array({ minLength: 250, maxLength: 260 }),
  fc.constantFrom(
    Uint8Array.of(),
    Uint8Array.of(0),
    Uint8Array.of(0, 0),
    Uint8Array.of(97),
    Uint8Array.of(97, 0),
    Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
    Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 0),
  ),
);

describe("ByteSet", () => {
  it("finds what was interned, at its first index, through growth, release and rebuild", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("intern", "find", "release", "touch"), bytesArb), {
          maxLength: 400,
          size: "max",
        }),
        (ops) => {
          const set = new ByteSet();
          const model = new Map<string, number>();
          const entries: Uint8Array[] = [];
          for (const [op, bytes] of ops) {
            // The bytes sit inside a larger buffer, as field bytes do in a record.
            const buf = new Uint8Array(bytes.length + 6).fill(0xab);
            buf.set(bytes, 3);
            const key = hex(bytes);
            if (op === "intern") {
              const expected = model.get(key) ?? model.size;
              if (!model.has(key)) {
                model.set(key, expected);
                entries.push(bytes);
              }
              expect(set.intern(buf, 3, 3 + bytes.length)).toBe(expected);
            } else if (op === "find") {
              expect(set.find(buf, 3, 3 + bytes.length)).toBe(model.get(key) ?? -1);
            } else if (op === "release") {
              set.releaseTable();
            } else {
              const before = set.size;
              set.touch(Int32Array.of(1, 2, -1), 3);
              expect(set.size).toBe(before);
            }
          }
          expect(set.size).toBe(model.size);
          entries.forEach((bytes, i) => {
            expect(hex(set.bytes(i))).toBe(hex(bytes));
            expect(set.byteLengthOf(i)).toBe(bytes.length);
            expect(set.equals(i, bytes, 0, bytes.length)).toBe(true);
            expect(set.find(bytes, 0, bytes.length)).toBe(i);
          });
          const { ends, arena } = set.parts();
          const copy = ByteSet.fromParts(Uint32Array.from(ends), Uint8Array.from(arena)) as ByteSet;
          expect(copy.hasDistinctEntries()).toBe(true);
          entries.forEach((bytes, i) => {
            expect(copy.find(bytes, 0, bytes.length)).toBe(i);
          });
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("tells entries apart that share a hash, whatever their length", () => {
    // With a fixed hash passed in, only the bytes and lengths can tell the entries apart.
    const set = new ByteSet();
    const values = [
      "",
      "a",
      "a\0",
      "ab",
      "abcdefgh",
      "abcdefgh\0",
      "abcdefghi",
      "x".repeat(300),
      "x".repeat(301),
    ];
    const bytes = values.map((v) => Buffer.from(v, "latin1"));
    bytes.forEach((b, i) => {
      expect(set.find(b, 0, b.length, 42)).toBe(-1);
      expect(set.append(b, 0, b.length, 42)).toBe(i);
    });
    bytes.forEach((b, i) => {
      expect(set.find(b, 0, b.length, 42)).toBe(i);
      expect(set.intern(b, 0, b.length, 42)).toBe(i);
    });
    expect(set.find(Buffer.from("abcdefgX"), 0, 8, 42)).toBe(-1);
    expect(set.find(Buffer.from("x".repeat(299)), 0, 299, 42)).toBe(-1);
  });

  it("reports repeated entries of a loaded set, and still finds the first of them", () => {
    const a = Buffer.from("same");
    const b = Buffer.from("other id, longer than eight bytes");
    const arena = Buffer.concat([Uint8Array.of(4), a, Uint8Array.of(b.length), b, Uint8Array.of(4), a]);
    const ends = Uint32Array.of(5, 6 + b.length, 11 + b.length);
    const set = ByteSet.fromParts(ends, arena) as ByteSet;
    expect(set.find(a, 0, a.length)).toBe(0);
    expect(set.find(b, 0, b.length)).toBe(1);
    expect(set.hasDistinctEntries()).toBe(false);
  });
});

describe("the order_id table", () => {
  /** Hashes drawn from few values per lane, so that probe starts and tag bits collide often. */
  const hashArb = fc.tuple(
    fc.oneof(
      fc.integer({ min: 0, max: 7 }),
      fc.nat().map((n) => (n * 2654435761) >>> 0),
    ),
    fc.oneof(
      fc.integer({ min: 0, max: 3 }).map((n) => n << 28),
      fc.integer({ min: 0, max: 0xffffffff }),
    ),
  );

  it("finds every order by its hash, through growth, release, reservation and a round trip", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("add", "add", "add", "release", "reserve"), hashArb), {
          minLength: 500,
          maxLength: 2000,
          size: "max",
        }),
        (ops) => {
          let state = new AggregateState();
          const model = new Map<string, number>();
          const customer = state.customers.append(Buffer.from("c"), 0, 1);
          for (const [op, [hi, lo]] of ops) {
            if (op === "release") state.releaseTables();
            else if (op === "reserve") state.reserveOrders(state.orderCount + (hi % 5000));
            else {
              const key = `${hi}:${lo}`;
              const found = state.lookupOrder(hi, lo);
              expect(found).toBe(model.get(key) ?? -1);
              if (found < 0) {
                model.set(key, state.orderCount);
                state.addOrder(hi, lo, customer, 19000, 100, 0, 0);
              }
            }
          }
          state.touchOrders(Int32Array.of(0, 1, -2), 3);
          for (const [key, order] of model) {
            const [hi, lo] = key.split(":").map(Number) as [number, number];
            expect(state.lookupOrder(hi, lo)).toBe(order);
          }
          state = AggregateState.deserialize(state.serialize());
          state.verify();
          for (const [key, order] of model) {
            const [hi, lo] = key.split(":").map(Number) as [number, number];
            expect(state.lookupOrder(hi, lo)).toBe(order);
          }
          expect(state.lookupOrder(123456789, 987654321)).toBe(model.get("123456789:987654321") ?? -1);
        },
      ),
      { seed: SEED, numRuns: 25 },
    );
  });
});
