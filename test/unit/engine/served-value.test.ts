/**
 * One customer predicted from the served value model (clv/served.ts) gives exactly the batch's doubles: for
 * every customer of the CDNOW master file (the model the holdout selects, with intervals) and of a simulated
 * file with each repeat model named in the settings, the prediction from the model and the customer's inputs,
 * both taken through JSON as a reader gets them, equals the result's columns bit for bit (Object.is). The
 * paths a pipeline run rarely takes are compared with predictAll called directly on the same inputs: no
 * intervals, no Gamma-Gamma with the customer's own order value, and the pooled fallback.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SPEC, syntheticFile } from "../../../scripts/bench/generate";
import { predictAll } from "../../../shared/engine/clv";
import { pooledOrderValue } from "../../../shared/engine/clv/horizon";
import { REPEAT_MODELS } from "../../../shared/engine/clv/models";
import {
  type CustomerValueInputs,
  predictCustomer,
  type ServedValueModel,
  servedValueModelOf,
} from "../../../shared/engine/clv/served";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import { valueInputs } from "../../../shared/engine/value";
import { sharedData } from "../../support/shared-data";
import { chunked, everyN } from "./byte-source";

const through = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

async function stateOf(bytes: Buffer): Promise<AggregateState> {
  const state = new AggregateState();
  await ingestTransactions(chunked(bytes, everyN(bytes.length, 65_536)), { format: "csv" }, state);
  return state;
}

/** Every customer's single prediction against the result's columns; returns how many were compared. */
function compareAll(result: ComputedSegmentation): { customers: number; withIntervals: boolean } {
  const stored = result.servedValue;
  expect(stored).toBeDefined();
  const model = servedValueModelOf(through(stored)) as ServedValueModel;
  expect(model).not.toBeNull();
  const c = result.columns;
  const { probabilityAlive, expectedPurchases, clv } = c;
  if (!probabilityAlive || !expectedPurchases || !clv) throw new Error("no predictions");
  let mismatches = 0;
  const first: string[] = [];
  for (let i = 0; i < result.customerCount; i++) {
    const inputs = through(result.valueInputsOf(i) as CustomerValueInputs);
    const p = predictCustomer(model, inputs, result.asOfDay);
    const pairs: Array<[string, number, number | undefined]> = [
      ["probabilityAlive", p.probabilityAlive, probabilityAlive[i]],
      ["expectedPurchases", p.expectedPurchases, expectedPurchases[i]],
      ["clv", p.clv, clv[i]],
      ["expectedPurchasesLow", p.intervals?.expectedPurchasesLow ?? Number.NaN, c.expectedPurchasesLow?.[i]],
      [
        "expectedPurchasesHigh",
        p.intervals?.expectedPurchasesHigh ?? Number.NaN,
        c.expectedPurchasesHigh?.[i],
      ],
      ["clvLow", p.intervals?.clvLow ?? Number.NaN, c.clvLow?.[i]],
      ["clvHigh", p.intervals?.clvHigh ?? Number.NaN, c.clvHigh?.[i]],
    ];
    for (const [field, single, batch] of pairs) {
      if (batch === undefined && Number.isNaN(single)) continue;
      if (!Object.is(single, batch)) {
        mismatches++;
        if (first.length < 5) first.push(`${result.customerId(i)} ${field}: ${single} vs ${batch}`);
      }
    }
  }
  expect(first).toEqual([]);
  expect(mismatches).toBe(0);
  return { customers: result.customerCount, withIntervals: c.clvLow !== undefined };
}

describe("one customer from the served value model", () => {
  let cdnow: ComputedSegmentation;
  let simulated: AggregateState;
  let simulatedAsOf: string;
  let dir: string;

  beforeAll(async () => {
    cdnow = computeSegments(await stateOf(readFileSync(sharedData("cdnow/cdnow-master-transactions.csv"))), {
      asOf: "1998-07-01",
    });
    dir = mkdtempSync(join(tmpdir(), "served-value-"));
    const file = syntheticFile(dir, { ...DEFAULT_SPEC, customers: 2_000 });
    simulated = await stateOf(readFileSync(file.path));
    simulatedAsOf = file.asOf;
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("equals the batch for every CDNOW customer, intervals included", () => {
    expect(compareAll(cdnow)).toEqual({ customers: 23_570, withIntervals: true });
    // The served model's parameters are the fitted ones the summary reports.
    const selected = cdnow.value?.selectedModel as string;
    expect(cdnow.servedValue?.repeat.model).toBe(selected);
    expect(cdnow.servedValue?.repeat.params).toEqual(cdnow.value?.models[selected as "bgNbd"]?.params);
  });

  for (const model of ["bgNbd", "paretoNbd", "mbgNbd"] as const) {
    it(`equals the batch for every simulated customer with ${model} named in the settings`, () => {
      const result = computeSegments(simulated, { asOf: simulatedAsOf, value: { model } });
      expect(result.servedValue?.repeat.model).toBe(model);
      expect(result.value?.selection).toBe("setting");
      expect(compareAll(result)).toEqual({ customers: 2_000, withIntervals: true });
      // A day later the same model and inputs still agree with a batch at that day.
      const day = result.asOfDay + 1;
      const data = valueInputs(result.columns, result.columns.purchaseDays, day);
      const served = result.servedValue as ServedValueModel;
      const batch = predictAll(
        data,
        {
          bgNbd: null,
          gammaGamma: served.gammaGamma,
          repeat: { model: REPEAT_MODELS[model], params: served.repeat.params },
        },
        {
          ...served.clv,
          ...(served.covariances === null
            ? {}
            : {
                covariances: {
                  repeat: Float64Array.from(served.covariances.repeat),
                  gammaGamma:
                    served.covariances.gammaGamma === null
                      ? null
                      : Float64Array.from(served.covariances.gammaGamma),
                },
              }),
        },
      );
      for (let i = 0; i < result.customerCount; i += 7) {
        const p = predictCustomer(served, result.valueInputsOf(i) as CustomerValueInputs, day);
        expect(Object.is(p.clv, batch.clv[i])).toBe(true);
        expect(Object.is(p.probabilityAlive, batch.probabilityAlive[i])).toBe(true);
        expect(Object.is(p.intervals?.clvHigh, batch.intervals?.clvHigh[i])).toBe(true);
      }
    });
  }

  it("equals predictAll without intervals, without Gamma-Gamma, and on the pooled fallback", () => {
    const served = cdnow.servedValue as ServedValueModel;
    const data = valueInputs(cdnow.columns, cdnow.columns.purchaseDays, cdnow.asOfDay);
    // Every third customer without an own order value: the pooled mean of everyone stands in.
    const fallback = Float64Array.from(data.fallbackOrderValue, (v, i) => (i % 3 === 0 ? Number.NaN : v));
    const inputs = { ...data, fallbackOrderValue: fallback };
    const plain: ServedValueModel = {
      ...served,
      gammaGamma: null,
      covariances: null,
      pooledOrderValue: pooledOrderValue(data.x, data.mx),
    };
    const batch = predictAll(
      inputs,
      {
        bgNbd: null,
        gammaGamma: null,
        repeat: { model: REPEAT_MODELS[served.repeat.model], params: served.repeat.params },
      },
      served.clv,
    );
    expect(batch.intervals).toBeUndefined();
    let pooledUsed = 0;
    for (let i = 0; i < cdnow.customerCount; i++) {
      const own = cdnow.valueInputsOf(i) as CustomerValueInputs;
      const p = predictCustomer(
        through(plain),
        { ...own, fallbackOrderValue: fallback[i] as number },
        cdnow.asOfDay,
      );
      expect(p.intervals).toBeUndefined();
      expect(p.valueFromModel).toBe(false);
      if (!Object.is(p.expectedValue, batch.expectedValue[i]) || !Object.is(p.clv, batch.clv[i])) {
        throw new Error(
          `customer ${i}: ${p.expectedValue}/${p.clv} vs ${batch.expectedValue[i]}/${batch.clv[i]}`,
        );
      }
      if (Number.isNaN(fallback[i] as number) && !(own.x > 0 && own.mx > 0)) {
        expect(p.expectedValue).toBe(plain.pooledOrderValue);
        pooledUsed++;
      }
    }
    expect(pooledUsed).toBeGreaterThan(1000);
  });

  it("refuses what is not a served model", () => {
    const served = through(cdnow.servedValue) as ServedValueModel;
    expect(servedValueModelOf(served)).toEqual(served);
    expect(servedValueModelOf(null)).toBeNull();
    expect(servedValueModelOf({ ...served, timeUnit: "week" })).toBeNull();
    expect(servedValueModelOf({ ...served, repeat: { model: "nope", params: {} } })).toBeNull();
    expect(servedValueModelOf({ ...served, repeat: { ...served.repeat, params: { r: 1 } } })).toBeNull();
    expect(servedValueModelOf({ ...served, covariances: { repeat: [1], gammaGamma: null } })).toBeNull();
    expect(servedValueModelOf({ ...served, clv: { ...served.clv, margin: "1" } })).toBeNull();
  });
});
