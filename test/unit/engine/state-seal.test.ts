/**
 * A state whose orders are sealed (AggregateState.sealOrders: the order ids' hashes and tables let go) computes
 * what it computed before, byte for byte: the segmentation's columns, value summary and issues, the CLI's
 * per-customer CSV, the segment profiles and each customer's next best category; customers files can still be
 * read into it. Whatever needs the order ids afterwards fails with StateError ORDERS_SEALED rather than give a
 * wrong answer: adding, looking up or appending an order, a transactions read, serializing, handing the state
 * to another thread, verifying it, and the derived states that keep its orders.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mulberry32 as random } from "../../../scripts/random";
import { writeCustomers } from "../../../scripts/segment";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { StateError } from "../../../shared/engine/errors";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import { profilesOf } from "../../../shared/engine/profiles";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const TRANSACTIONS = "scripts/local/demo/cdnow-transactions.csv.gz";
const CUSTOMERS = "scripts/local/demo/cdnow-customers.csv.gz";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "state-seal-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function bytes(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function expectSameResult(sealed: ComputedSegmentation, open: ComputedSegmentation): void {
  expect(sealed.customerCount).toBe(open.customerCount);
  expect(JSON.stringify(sealed.value)).toBe(JSON.stringify(open.value));
  expect(sealed.issues).toEqual(open.issues);
  expect(sealed.clusters).toEqual(open.clusters);
  expect(JSON.stringify(sealed.nextBestCategory)).toBe(JSON.stringify(open.nextBestCategory));
  expect(Object.keys(sealed.columns).sort()).toEqual(Object.keys(open.columns).sort());
  for (const [name, column] of Object.entries(open.columns)) {
    const other = (sealed.columns as unknown as Record<string, unknown>)[name];
    if (ArrayBuffer.isView(column))
      expect(bytes(other as ArrayBufferView).equals(bytes(column)), name).toBe(true);
    else expect(other, name).toEqual(column);
  }
  for (let i = 0; i < open.customerCount; i++) {
    expect(sealed.nextBestCategoryOf(i)).toBe(open.nextBestCategoryOf(i));
  }
  expect(JSON.stringify(profilesOf(sealed))).toBe(JSON.stringify(profilesOf(open)));
}

/** The CLI's CSV of a result, as bytes. */
async function csvOf(result: ComputedSegmentation, name: string): Promise<Buffer> {
  const path = join(dir, name);
  await writeCustomers(result, path);
  return readFile(path);
}

/** Orders of 400 customers over 2024 in five categories and two channels, some of them returns. */
function ordersWithCategories(): string {
  const next = random(11);
  const lines = ["customer_id,order_id,order_date,amount,channel,category"];
  let order = 0;
  for (let c = 0; c < 400; c++) {
    const orders = 1 + Math.floor(next() * 8);
    for (let o = 0; o < orders; o++) {
      const day = new Date(Date.UTC(2024, 0, 1) + Math.floor(next() * 366) * 86_400_000);
      const cents = (next() < 0.1 ? -1 : 1) * (100 + Math.floor(next() * 20_000));
      const category = `cat${Math.floor(next() * next() * 5)}`;
      const channel = next() < 0.5 ? "web" : "app";
      lines.push(
        `C${c},O${order++},${day.toISOString().slice(0, 10)},${(cents / 100).toFixed(2)},${channel},${category}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

describe("a sealed state", () => {
  it("gives the same segmentation, CSV and profiles on the CDNOW demo files (customers read before sealing)", async () => {
    const state = new AggregateState();
    await ingestTransactions(createReadStream(TRANSACTIONS), { format: "csv", compression: "auto" }, state);
    await ingestCustomers(createReadStream(CUSTOMERS), { format: "csv", compression: "auto" }, state);
    const settings: ComputeSettings = { asOf: "1998-07-01", clusters: { k: 4 } };
    const open = computeSegments(state, settings);
    const openCsv = await csvOf(open, "open.csv");
    state.sealOrders();
    expect(state.ordersSealed).toBe(true);
    const sealed = computeSegments(state, settings);
    expect(sealed.value?.validation).toBeDefined();
    expectSameResult(sealed, open);
    const threaded = computeSegments(state, settings, { valueThread: true });
    expectSameResult(threaded, open);
    expect((await csvOf(sealed, "sealed.csv")).equals(openCsv)).toBe(true);
  });

  it("gives the same next best categories, and still reads a customers file", async () => {
    const text = ordersWithCategories();
    const state = new AggregateState();
    await ingestTransactions(textSource(text), { format: "csv" }, state);
    const settings: ComputeSettings = { asOf: "2025-01-01", clusters: { k: 3 } };
    const open = computeSegments(state, settings);
    expect(open.nextBestCategory).toHaveProperty("hitRate");
    let recommended = 0;
    for (let i = 0; i < open.customerCount; i++) if (open.nextBestCategoryOf(i) !== undefined) recommended++;
    expect(recommended).toBeGreaterThan(0);
    state.sealOrders();
    expectSameResult(computeSegments(state, settings), open);

    const customers = "customer_id,tier\nC1,gold\nC2,silver\nNEW,gold\n";
    const report = await ingestCustomers(textSource(customers), { format: "csv" }, state);
    expect(report.rowsAccepted).toBe(3);
    expect(state.attribute("tier")?.value(state.findCustomer("C1"))).toBe("gold");
    expect(state.findCustomer("NEW")).toBe(400);
  });

  it("refuses whatever needs the order ids with StateError ORDERS_SEALED", async () => {
    const text = "customer_id,order_id,order_date,amount\nA,1,2024-01-02,10.00\nB,2,2024-02-03,20.00\n";
    const state = new AggregateState();
    await ingestTransactions(textSource(text), { format: "csv" }, state);
    const other = new AggregateState();
    await ingestTransactions(textSource(text), { format: "csv" }, other);
    state.sealOrders();
    const sealedError = { name: "StateError", code: "ORDERS_SEALED" };
    const expectSealed = (what: string, f: () => unknown) => {
      let thrown: unknown;
      try {
        f();
      } catch (error) {
        thrown = error;
      }
      expect(thrown, what).toBeInstanceOf(StateError);
      expect(thrown, what).toMatchObject(sealedError);
    };
    expectSealed("addOrder", () => state.addOrder(3, 3, 0, 19_800, 500, 0, 0));
    expectSealed("lookupOrder", () => state.lookupOrder(1, 1));
    expectSealed("reserveOrders", () => state.reserveOrders(10));
    expectSealed("serialize", () => state.serialize());
    expectSealed("toParts", () => state.toParts());
    expectSealed("verify", () => state.verify());
    expectSealed("withoutCustomers", () => state.withoutCustomers(["A"]));
    expectSealed("withoutAttributes", () => state.withoutAttributes());
    const none = new Int32Array(16);
    expectSealed("appendOrders into it", () => state.appendOrders(other, 0, 1, none, none, none));
    expectSealed("appendOrders from it", () => other.appendOrders(state, 0, 1, none, none, none));
    await expect(
      ingestTransactions(
        textSource("customer_id,order_id,order_date,amount\nC,9,2024-03-04,5.00\n"),
        { format: "csv" },
        state,
      ),
    ).rejects.toMatchObject(sealedError);
    // Nothing was added, and what needs no order id still works.
    expect(state.orderCount).toBe(2);
    expect(state.customerCount).toBe(2);
    expect(state.withoutOrders().orderCount).toBe(0);
    expect(computeSegments(state, { asOf: "2024-03-01", clusters: false, value: false }).customerCount).toBe(
      2,
    );
  });
});

describe("computeSegments with releaseOrders", () => {
  const released = { name: "StateError", code: "ORDERS_RELEASED" };

  it("gives the same segmentation and CSV, and the orders are gone afterwards (CDNOW, value stage on its thread)", async () => {
    const read = async () => {
      const state = new AggregateState();
      await ingestTransactions(createReadStream(TRANSACTIONS), { format: "csv", compression: "auto" }, state);
      await ingestCustomers(createReadStream(CUSTOMERS), { format: "csv", compression: "auto" }, state);
      state.sealOrders();
      return state;
    };
    const settings: ComputeSettings = { asOf: "1998-07-01", clusters: { k: 4 } };
    const kept = await read();
    const open = computeSegments(kept, settings, { valueThread: true });
    expect(kept.ordersReleased).toBe(false);
    const openCsv = await csvOf(open, "kept.csv");
    for (const valueThread of [true, false]) {
      const state = await read();
      const orders = state.orderCount;
      const result = computeSegments(state, settings, { valueThread, releaseOrders: true });
      expect(result.value?.validation).toBeDefined();
      expect(state.ordersReleased).toBe(true);
      // The count, the customers and their attributes stay; what reads an order says the orders are gone.
      expect(state.orderCount).toBe(orders);
      expect(state.customerId(0)).toBe(kept.customerId(0));
      expect(state.attributeNames()).toEqual(kept.attributeNames());
      expect(() => state.orderBlocks).toThrow(expect.objectContaining(released));
      expect(() => state.orderDay(0)).toThrow(expect.objectContaining(released));
      expect(() => state.serialize()).toThrow(expect.objectContaining(released));
      expect(() => result.customerOrders()).toThrow(expect.objectContaining(released));
      expect(() => computeSegments(state, settings)).toThrow(expect.objectContaining(released));
      expect((await csvOf(result, `released-${valueThread}.csv`)).equals(openCsv)).toBe(true);
      expect(result.customerCount).toBe(open.customerCount);
      expect(JSON.stringify(result.value)).toBe(JSON.stringify(open.value));
      expect(result.clusters).toEqual(open.clusters);
      expect(result.issues).toEqual(open.issues);
      // Releasing again changes nothing.
      state.releaseOrders();
      expect(state.ordersReleased).toBe(true);
    }
  });

  it("keeps the orders for the next best category, which reads them, and lets them go after it", async () => {
    const text = ordersWithCategories();
    const settings: ComputeSettings = { asOf: "2025-01-01", clusters: { k: 3 } };
    const kept = new AggregateState();
    await ingestTransactions(textSource(text), { format: "csv" }, kept);
    const open = computeSegments(kept, settings);
    expect(open.nextBestCategory).toHaveProperty("hitRate");
    const state = new AggregateState();
    await ingestTransactions(textSource(text), { format: "csv" }, state);
    const result = computeSegments(state, settings, { releaseOrders: true });
    expect(state.ordersReleased).toBe(true);
    expect(JSON.stringify(result.nextBestCategory)).toBe(JSON.stringify(open.nextBestCategory));
    for (let i = 0; i < open.customerCount; i++) {
      expect(result.nextBestCategoryOf(i)).toBe(open.nextBestCategoryOf(i));
    }
    expect(JSON.stringify(result.value)).toBe(JSON.stringify(open.value));
  });
});
