/**
 * The value stage on a thread of its own (value-thread.ts, computeSegments' valueThread option) gives the
 * one-thread result bit for bit: the value summary (fits, log-likelihoods, validation record, selection), the
 * issues, and every prediction and interval column byte for byte, on the CDNOW demo file, on a synthetic file
 * of the benchmark's generator, and where the stage skips its holdout or cannot fit at all. Each comparison
 * also checks that the thread's answer was the one used (timings.valueThread), so a thread that silently gave
 * way to the calling thread cannot pass for one that works. A thread whose entry cannot load gives way to the
 * calling thread at once.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SPEC, syntheticFile } from "../../../scripts/bench/generate";
import { fitGammaGamma } from "../../../shared/engine/clv";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { parseDay } from "../../../shared/engine/days";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings } from "../../../shared/engine/types";
import { resolveValueSettings, valueInputs, valueStage } from "../../../shared/engine/value";
import { ValueThread } from "../../../shared/engine/value-thread";
import { textSource } from "./byte-source";

const CDNOW = "scripts/local/demo/cdnow-transactions.csv.gz";
const PREDICTION_COLUMNS = [
  "probabilityAlive",
  "expectedPurchases",
  "clv",
  "expectedPurchasesLow",
  "expectedPurchasesHigh",
  "clvLow",
  "clvHigh",
] as const;

async function stateOf(source: Parameters<typeof ingestTransactions>[0]): Promise<AggregateState> {
  const state = new AggregateState();
  await ingestTransactions(source, { format: "csv" }, state);
  return state;
}

function bytes(a: ArrayBufferView | undefined): Buffer | undefined {
  return a === undefined ? undefined : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Runs both ways and compares everything the value stage decides; returns the one-thread result. */
function expectSameBothWays(state: AggregateState, settings: ComputeSettings): ComputedSegmentation {
  const one = computeSegments(state, settings);
  const threaded = computeSegments(state, settings, { valueThread: true });
  expect(one.timings.valueThread).toBeUndefined();
  expect(threaded.timings.valueThread, "the thread's answer was used").toBeGreaterThanOrEqual(0);
  expect(JSON.stringify(threaded.value)).toBe(JSON.stringify(one.value));
  expect(threaded.value).toEqual(one.value);
  expect(threaded.issues).toEqual(one.issues);
  for (const name of PREDICTION_COLUMNS) {
    const a = bytes(one.columns[name]);
    const b = bytes(threaded.columns[name]);
    expect(b === undefined, name).toBe(a === undefined);
    if (a !== undefined && b !== undefined) expect(b.equals(a), name).toBe(true);
  }
  expect(threaded.customerCount).toBe(one.customerCount);
  for (const i of [0, 1, Math.floor(one.customerCount / 2), one.customerCount - 1]) {
    expect(threaded.customer(i)).toEqual(one.customer(i));
  }
  return one;
}

/** What computeSegments hands the value thread on the CDNOW demo file, from a one-thread result's own columns. */
async function cdnowInputs() {
  const state = await stateOf(createReadStream(CDNOW));
  const one = computeSegments(state, { asOf: "1998-07-01", clusters: false });
  const settings = resolveValueSettings({});
  const asOfDay = parseDay("1998-07-01") as number;
  const columns = one.columns as unknown as Parameters<typeof valueInputs>[0] & {
    stateIndex: Uint32Array;
    purchaseDays: Uint32Array;
  };
  return { settings, asOfDay, columns, inputs: valueInputs(columns, columns.purchaseDays, asOfDay) };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "value-thread-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the value stage on its own thread", () => {
  it("gives the one-thread result on the CDNOW demo file (holdout validation, intervals)", async () => {
    const state = await stateOf(createReadStream(CDNOW));
    const one = expectSameBothWays(state, { asOf: "1998-07-01", clusters: { k: 4 } });
    expect(one.value?.selection).toBe("holdout");
    expect(one.columns.clvLow).toBeDefined();
  });

  it("gives the one-thread result on a synthetic file, with a model and horizon set", async () => {
    const data = syntheticFile(dir, { ...DEFAULT_SPEC, customers: 3000 });
    const state = await stateOf(createReadStream(data.path));
    expectSameBothWays(state, { asOf: data.asOf, clusters: { k: 3 } });
    const one = expectSameBothWays(state, {
      asOf: data.asOf,
      clusters: false,
      value: { model: "paretoNbd", horizonDays: 200, holdoutDays: 60 },
    });
    expect(one.value?.selectedModel).toBe("paretoNbd");
  });

  it("gives the one-thread issues where the holdout is skipped or nothing can be fitted", async () => {
    // Three weeks of history: a default holdout of 5 days, too short to validate on.
    const lines = ["customer_id,order_id,order_date,amount"];
    for (let c = 0; c < 40; c++) {
      for (let d = 0; d < 1 + (c % 4); d++) {
        lines.push(
          `c${c},o${c}-${d},2024-03-${String(1 + ((c + 5 * d) % 20)).padStart(2, "0")},${10 + c}.50`,
        );
      }
    }
    const short = await stateOf(textSource(`${lines.join("\n")}\n`));
    const one = expectSameBothWays(short, { asOf: "2024-03-22", clusters: false });
    expect(one.value?.validationSkipped?.code).toBe("VALUE_HOLDOUT_TOO_SHORT");
    // Five customers: too few for the models.
    const few = await stateOf(
      textSource(`customer_id,order_id,order_date,amount\n${lines.slice(1, 9).join("\n")}\n`),
    );
    const none = expectSameBothWays(few, { asOf: "2024-03-22", clusters: false });
    expect(none.value).toBeUndefined();
    expect(none.issues.map((i) => i.code)).toContain("VALUE_TOO_FEW_CUSTOMERS");
  });

  it("gives way to the calling thread when the thread's entry cannot load", async () => {
    const { settings, asOfDay, columns, inputs } = await cdnowInputs();
    const broken = ValueThread.start(
      inputs,
      settings,
      { asOfDay: asOfDay, columns },
      new URL("./no-such-entry.ts", import.meta.url),
    );
    expect(broken).toBeDefined();
    expect(broken?.join()).toBeUndefined();
    // The same inputs on a working thread: the answer of valueStage in this thread.
    const working = ValueThread.start(inputs, settings, { asOfDay: asOfDay, columns });
    const joined = working?.join();
    const here = valueStage(inputs, settings, { asOfDay: asOfDay, columns });
    expect(joined?.stage).toEqual(here);
  });

  describe("with the Gamma-Gamma fit from the calling thread", () => {
    const setup = async () => {
      const { settings, asOfDay, columns, inputs } = await cdnowInputs();
      const context = { asOfDay, columns };
      const threaded = (give: (thread: ValueThread) => void) => {
        const thread = ValueThread.start(inputs, settings, context, undefined, {
          data: "copy",
          gammaGamma: true,
        }) as ValueThread;
        expect(thread).toBeDefined();
        give(thread);
        const joined = thread.join();
        expect(joined, "the thread answered").toBeDefined();
        return joined?.stage;
      };
      return { inputs, settings, context, threaded };
    };

    it("gives the stage the thread gives fitting it itself", async () => {
      const { inputs, settings, context, threaded } = await setup();
      const here = valueStage(inputs, settings, context);
      expect(here.ok).toBe(true);
      expect(threaded((thread) => thread.fitGammaGamma(inputs.x, inputs.mx))).toEqual(here);
    });

    it("passes on the fit's ClvFitError, early or late, and fits it in the thread after any other error", async () => {
      const { inputs, settings, context, threaded } = await setup();
      // No positive order value: fitGammaGamma's CLV_NO_MONETARY_DATA, on the thread as in this thread.
      const zeros = new Float64Array(inputs.mx.length);
      const failing = threaded((thread) => thread.fitGammaGamma(inputs.x, zeros));
      const here = valueStage(inputs, settings, context, () => fitGammaGamma(inputs.x, zeros));
      expect(failing).toEqual(here);
      expect(here.issues.map((i) => i.code)).toContain("VALUE_NO_MONETARY_DATA");
      // Handed over late: the thread has been waiting for it (fitting it itself would find no such error).
      const late = threaded((thread) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
        thread.fitGammaGamma(inputs.x, zeros);
      });
      expect(late).toEqual(here);
      // Inputs the fit refuses (lengths that differ): the thread fits on its own inputs instead.
      const refused = threaded((thread) => thread.fitGammaGamma(inputs.x, inputs.mx.subarray(1)));
      expect(refused).toEqual(valueStage(inputs, settings, context));
    });
  });
});
