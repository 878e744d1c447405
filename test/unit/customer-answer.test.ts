/**
 * The predictions of a customer answer (shared/api/customer-answer.ts): intervals served, and churn risk
 * stated only where the selected model can tell. BG/NBD holds a customer without a repeat purchase alive with
 * probability 1 by construction, so that customer's churn risk is unknown, not 0.
 */
import { describe, expect, it } from "vitest";
import { customerAnswer } from "../../shared/api/customer-answer";
import { customerSchema } from "../../shared/api/schemas";

const version = (selectedModel?: string) => ({
  version: 2,
  runId: "run-2",
  asOf: "1998-07-01",
  segments: [{ id: "rfm:lost", family: "rfm", name: "Lost" }],
  value: { horizonDays: 365, ...(selectedModel ? { selectedModel } : {}) },
});

const oneTimeBuyer = {
  firstPurchase: "1997-01-01",
  lastPurchase: "1997-01-01",
  frequency: 1,
  monetary: 11.77,
  r: 1,
  f: 1,
  m: 1,
  rfm: "111",
  probabilityAlive: 1,
  expectedPurchases: 0.1236,
  expectedPurchasesLow: 0.1101,
  expectedPurchasesHigh: 0.1402,
  clv: 4.12,
  clvLow: 3.5,
  clvHigh: 4.9,
  repeatPurchases: 0,
  segments: ["rfm:lost"],
};

const answer = (model: string | undefined, view: typeof oneTimeBuyer | Record<string, unknown>) => {
  const body = customerAnswer("cdnow", "00001", version(model), view as typeof oneTimeBuyer);
  // What the route answers is what its contract states.
  expect(customerSchema.parse(JSON.parse(JSON.stringify(body)))).toEqual(JSON.parse(JSON.stringify(body)));
  return body;
};

describe("a customer's predictions", () => {
  it("do not state a churn risk of 0 for a one-time buyer under BG/NBD", () => {
    const p = answer("bgNbd", oneTimeBuyer).predictions;
    expect(p).toMatchObject({
      model: "bgNbd",
      probabilityAlive: null,
      churnRisk: null,
      churnRiskBasis: "unknown",
    });
    expect(p?.churnRiskNote).toMatch(/cannot tell/);
  });

  it("treat a version without a selected model as BG/NBD, and one purchase day as no repeat purchase", () => {
    const { repeatPurchases: _r, ...withoutCount } = oneTimeBuyer;
    const p = answer(undefined, withoutCount).predictions;
    expect(p).toMatchObject({ model: "bgNbd", churnRisk: null, churnRiskBasis: "unknown" });
  });

  it("state the churn risk of a repeat buyer under BG/NBD, and of everyone under Pareto/NBD", () => {
    const repeat = {
      ...oneTimeBuyer,
      lastPurchase: "1997-03-01",
      repeatPurchases: 1,
      probabilityAlive: 0.3125,
    };
    expect(answer("bgNbd", repeat).predictions).toMatchObject({
      probabilityAlive: 0.3125,
      churnRisk: 0.6875,
      churnRiskBasis: "model",
    });
    const pareto = answer("paretoNbd", { ...oneTimeBuyer, probabilityAlive: 0.2 }).predictions;
    expect(pareto).toMatchObject({
      model: "paretoNbd",
      probabilityAlive: 0.2,
      churnRisk: 0.8,
      churnRiskBasis: "model",
    });
    expect(pareto?.churnRiskNote).toMatch(/Pareto\/NBD/);
  });

  it("carry the 80% intervals of expected purchases and CLV, or null without them", () => {
    const p = answer("paretoNbd", oneTimeBuyer).predictions;
    expect(p?.expectedPurchasesInterval).toEqual({ low: 0.1101, high: 0.1402 });
    expect(p?.clvInterval).toEqual({ low: 3.5, high: 4.9 });
    expect(p?.horizonDays).toBe(365);
    const { clvLow: _l, clvHigh: _h, expectedPurchasesLow: _el, ...noIntervals } = oneTimeBuyer;
    const q = answer("paretoNbd", noIntervals).predictions;
    expect(q?.clvInterval).toBeNull();
    expect(q?.expectedPurchasesInterval).toBeNull();
  });
});
