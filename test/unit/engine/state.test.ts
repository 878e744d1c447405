/**
 * The aggregate state: order de-duplication within and across uploads against a plain Map model, idempotent
 * re-uploads, append-then-replace equal to replace, serialization round trips, and rejection of damaged
 * bytes.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { dayNumber } from "../../../shared/engine/days";
import { StateError } from "../../../shared/engine/errors";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import { chunked, textSource } from "./byte-source";

const SEED = 42;
const FIXTURE = new URL("../../fixtures/engine/rfm-small.csv", import.meta.url);

async function ingest(state: AggregateState, text: string | Uint8Array) {
  const source = typeof text === "string" ? textSource(text) : chunked(text);
  return ingestTransactions(source, { format: "csv", onRowError: () => {} }, state);
}

async function ingestPeople(state: AggregateState, text: string) {
  return ingestCustomers(textSource(text), { format: "csv", onRowError: () => {} }, state);
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

// ---- random transaction files ------------------------------------------------------------------------------

interface Row {
  customer: string;
  order: string;
  day: number;
  cents: number;
  channel: string;
}

const rowArb = fc.record({
  customer: fc.constantFrom("a", "b", "c", "d", "é", "x y"),
  order: fc.integer({ min: 1, max: 25 }).map((n) => `o${n}`),
  day: fc.integer({ min: dayNumber("2023-01-01"), max: dayNumber("2024-12-31") }),
  cents: fc.integer({ min: -50_000, max: 500_000 }),
  channel: fc.constantFrom("", "web", "app", "store"),
});
const fileArb = fc.array(rowArb, { maxLength: 30 });

function csvOf(rows: readonly Row[]): string {
  const lines = rows.map((r) => {
    const sign = r.cents < 0 ? "-" : "";
    const abs = Math.abs(r.cents);
    const date = new Date(r.day * 86_400_000).toISOString().slice(0, 10);
    return `"${r.customer}",${r.order},${date},${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")},${r.channel}`;
  });
  return `customer_id,order_id,order_date,amount,channel\n${lines.join("\n")}\n`;
}

interface ModelOrder {
  customer: string;
  day: number;
  cents: number;
  channel: string;
}

/** What the state should hold: the dedup rules written plainly over a Map keyed by order id. */
function model(files: readonly (readonly Row[])[]): ModelOrder[] {
  const known = new Map<string, ModelOrder>();
  for (const rows of files) {
    const fresh = new Map<string, ModelOrder>();
    for (const r of rows) {
      if (known.has(r.order)) continue;
      const order = fresh.get(r.order);
      if (order === undefined)
        fresh.set(r.order, { customer: r.customer, day: r.day, cents: r.cents, channel: r.channel });
      else if (order.customer === r.customer) order.cents += r.cents;
    }
    for (const [id, order] of fresh) known.set(id, order);
  }
  return [...known.values()];
}

function ordersOf(state: AggregateState): ModelOrder[] {
  return Array.from({ length: state.orderCount }, (_, j) => ({
    customer: state.customerId(state.orderCustomer(j)),
    day: state.orderDay(j),
    cents: state.orderCents(j),
    channel: state.orderChannel(j) === 0 ? "" : state.channels.get(state.orderChannel(j) - 1),
  }));
}

describe("orders", () => {
  it("follow the de-duplication rules over any sequence of uploads", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fileArb, { minLength: 1, maxLength: 4 }), async (files) => {
        const state = new AggregateState();
        for (const rows of files) await ingest(state, csvOf(rows));
        expect(ordersOf(state)).toEqual(model(files));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it("a re-upload changes nothing, byte for byte, and the state survives a round trip", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fileArb, { minLength: 1, maxLength: 3 }), fc.nat(), async (files, pick) => {
        const state = new AggregateState();
        for (const rows of files) await ingest(state, csvOf(rows));
        const before = state.serialize();
        const again = files[pick % files.length] as Row[];
        const report = await ingest(state, csvOf(again));
        expect(report.ordersAdded).toBe(0);
        expect(report.ordersDuplicate).toBe(new Set(again.map((r) => r.order)).size);
        expect(hex(state.serialize())).toBe(hex(before));
        const back = AggregateState.deserialize(before);
        expect(hex(back.serialize())).toBe(hex(before));
        expect(ordersOf(back)).toEqual(ordersOf(state));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it("append then replace equals one replace, attributes kept", async () => {
    await fc.assert(
      fc.asyncProperty(fileArb, fileArb, fc.boolean(), async (first, second, withPeople) => {
        const people = "customer_id,tier\nb,gold\nzz,silver\n";
        const appended = new AggregateState();
        if (withPeople) await ingestPeople(appended, people);
        await ingest(appended, csvOf(first));
        const replaced = appended.withoutOrders();
        await ingest(replaced, csvOf(second));

        const fresh = new AggregateState();
        if (withPeople) await ingestPeople(fresh, people);
        await ingest(fresh, csvOf(second));
        expect(hex(replaced.serialize())).toBe(hex(fresh.serialize()));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe("the fixture", () => {
  const bytes = readFileSync(FIXTURE);

  it("uploaded twice gives the same bytes, and the second upload reports every order as a duplicate", async () => {
    const state = new AggregateState();
    await ingest(state, bytes);
    const once = state.serialize();
    const report = await ingest(state, bytes);
    expect(report).toEqual({
      rowsRead: 26,
      rowsAccepted: 25,
      rowsRejected: 1,
      ordersAdded: 0,
      ordersDuplicate: 21,
      orderLinesMerged: 0,
    });
    expect(hex(state.serialize())).toBe(hex(once));
  });

  it("a loaded state de-duplicates against what it was saved with", async () => {
    const state = new AggregateState();
    await ingest(state, bytes);
    const loaded = AggregateState.deserialize(state.serialize());
    const report = await ingest(loaded, bytes);
    expect(report.ordersAdded).toBe(0);
    expect(hex(loaded.serialize())).toBe(hex(state.serialize()));
  });

  it("round-trips with attributes, channels, a currency and large amounts, and computes the same after", async () => {
    const state = new AggregateState();
    await ingestPeople(state, "customer_id,country,tier\nC01,DE,gold\nP9,FR,\n");
    await ingest(state, bytes);
    await ingest(
      state,
      "customer_id,order_id,order_date,amount,currency,category\nC02,B1,2024-06-01,99999999.99,eur,vinyl\n",
    );
    const back = AggregateState.deserialize(state.serialize());
    back.verify();
    expect(back.currency).toBe("EUR");
    expect(back.attributesOf(back.findCustomer("C01"))).toEqual({ country: "DE", tier: "gold" });
    expect(back.attributesOf(back.findCustomer("P9"))).toEqual({ country: "FR" });
    expect(ordersOf(back)).toEqual(ordersOf(state));
    expect(back.categories.get(back.orderCategory(back.orderCount - 1) - 1)).toBe("vinyl");
    const a = computeSegments(state, { asOf: "2024-07-01" });
    const b = computeSegments(back, { asOf: "2024-07-01" });
    expect(b.segments).toEqual(a.segments);
    expect(Array.from({ length: b.customerCount }, (_, i) => b.customer(i))).toEqual(
      Array.from({ length: a.customerCount }, (_, i) => a.customer(i)),
    );
  });

  it("erasing a customer removes its id, orders and attributes", async () => {
    const state = new AggregateState();
    await ingestPeople(state, "customer_id,email\nC05,someone@example.com\n");
    await ingest(state, bytes);
    const erased = state.withoutCustomers(["C05"]);
    const serialized = Buffer.from(erased.serialize());
    expect(serialized.includes(Buffer.from("C05"))).toBe(false);
    expect(serialized.includes(Buffer.from("someone@example.com"))).toBe(false);
    expect(erased.orderCount).toBe(state.orderCount - 4);
    expect(erased.findCustomer("C05")).toBe(-1);
    expect(ordersOf(erased)).toEqual(ordersOf(state).filter((o) => o.customer !== "C05"));
  });
});

describe("damaged state bytes", () => {
  const stateError = (bytes: Uint8Array) => {
    try {
      AggregateState.deserialize(bytes);
    } catch (error) {
      expect(error).toBeInstanceOf(StateError);
      return (error as StateError).code;
    }
    return "accepted";
  };

  it("are rejected with a StateError: garbage, empty, truncated, flipped bits, another version", async () => {
    const state = new AggregateState();
    await ingest(state, readFileSync(FIXTURE));
    const good = state.serialize();
    expect(stateError(new Uint8Array(0))).toBe("BAD_STATE");
    expect(stateError(Buffer.from("customer_id,order_id\n"))).toBe("BAD_STATE");
    for (const cut of [10, 16, 40, good.length - 1])
      expect(stateError(good.subarray(0, cut))).toBe("BAD_STATE");
    const version = Uint8Array.from(good);
    version[8] = 99;
    expect(stateError(version)).toBe("UNSUPPORTED_STATE_VERSION");
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: good.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, mask) => {
          const flipped = Uint8Array.from(good);
          flipped[at] = (flipped[at] as number) ^ mask;
          expect(stateError(flipped)).toBe("BAD_STATE");
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(stateError(bytes)).toBe("BAD_STATE");
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
