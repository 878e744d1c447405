/**
 * What the table stores of a customer's view, and the view a reader serves from it. A run writes a customer
 * item only when what the table stores changes; `tableViewOf` is that stored form of a full view.
 *
 * Predictions are evaluated when read. The table view is the view without its seven predictions
 * (probabilityAlive, expectedPurchases and its interval, clv and its interval), keeping the customer's
 * value-model inputs (`valueInputs`), which move only when the customer's orders do; the committed version
 * carries the served value model (`current.servedValue`, engine/clv/served.ts). A reader composes the served
 * view: the table view with the predictions of that model at the version's asOf, rounded as `viewOf`
 * (./outputs) rounds them, so it equals the version's outputs file to the last digit. A stored view that
 * carries predictions itself (written before predictions were evaluated when read) is served as stored.
 *
 * Small on purpose: the lookup function bundles this module, the prediction code and nothing else of the
 * pipeline.
 */
import { predictCustomer, type ServedValueModel, servedValueModelOf } from "../engine/clv/served";
import { dayNumber } from "../engine/days";
import { roundToCent } from "../engine/money";
import type { CustomerView } from "../model";

/** The stored form of a customer view: no predictions. */
export type TableView = Omit<CustomerView, PredictionField>;

/** The seven prediction fields of a view. */
export const PREDICTION_FIELDS = [
  "probabilityAlive",
  "expectedPurchases",
  "expectedPurchasesLow",
  "expectedPurchasesHigh",
  "clv",
  "clvLow",
  "clvHigh",
] as const;
type PredictionField = (typeof PREDICTION_FIELDS)[number];

/** A view's predictions, as the view holds them (rounded). */
export type ViewPredictions = Pick<CustomerView, PredictionField>;

const round = (x: number, digits: number) => {
  const scale = 10 ** digits;
  return Math.round(x * scale) / scale;
};

/**
 * The predictions of a view from a customer's scores (engine CustomerScores: clv and its bounds already to
 * the cent), rounded as views hold them: probability and purchases to 4 decimals, money to the cent.
 */
export function viewPredictions(c: {
  probabilityAlive?: number | undefined;
  expectedPurchases?: number | undefined;
  expectedPurchasesLow?: number | undefined;
  expectedPurchasesHigh?: number | undefined;
  clv?: number | undefined;
  clvLow?: number | undefined;
  clvHigh?: number | undefined;
}): ViewPredictions {
  // Assigned one by one in the view's key order: no intermediate objects (this runs for every customer).
  const p: ViewPredictions = {};
  if (c.probabilityAlive !== undefined) p.probabilityAlive = round(c.probabilityAlive, 4);
  if (c.expectedPurchases !== undefined) p.expectedPurchases = round(c.expectedPurchases, 4);
  if (c.expectedPurchasesLow !== undefined) p.expectedPurchasesLow = round(c.expectedPurchasesLow, 4);
  if (c.expectedPurchasesHigh !== undefined) p.expectedPurchasesHigh = round(c.expectedPurchasesHigh, 4);
  if (c.clv !== undefined) p.clv = roundToCent(c.clv);
  if (c.clvLow !== undefined) p.clvLow = roundToCent(c.clvLow);
  if (c.clvHigh !== undefined) p.clvHigh = roundToCent(c.clvHigh);
  return p;
}

/**
 * What the table stores for a full view: the view without its predictions, the other keys in their order. A
 * view with predictions but no inputs to predict them from (a version computed before predictions were
 * evaluated when read: its outputs file) is stored whole, so a reader still serves its predictions, as an
 * item's `prev` must while the run that replaces that version has not committed.
 */
export function tableViewOf(view: CustomerView): TableView {
  if (view.valueInputs === undefined) return view;
  const {
    probabilityAlive: _p,
    expectedPurchases: _e,
    expectedPurchasesLow: _el,
    expectedPurchasesHigh: _eh,
    clv: _c,
    clvLow: _cl,
    clvHigh: _ch,
    ...table
  } = view;
  return table;
}

/** The served value model of a committed version's `servedValue` text, or null when it has none or a bad one. */
export function parseServedValue(text: unknown): ServedValueModel | null {
  if (typeof text !== "string") return null;
  try {
    return servedValueModelOf(JSON.parse(text));
  } catch {
    return null;
  }
}

/**
 * The view a reader serves for a stored view at a committed version whose served value model is `model`
 * (null: none) and evaluation date `asOf` (see the module header). The result never holds `valueInputs`.
 */
export function servedViewOf(
  stored: CustomerView,
  model: ServedValueModel | null,
  asOf: string,
): CustomerView {
  const { valueInputs, ...view } = stored;
  // Written before predictions were evaluated when read: its own predictions are the version's.
  if (stored.probabilityAlive !== undefined || valueInputs === undefined || model === null) return view;
  const p = predictCustomer(model, valueInputs, dayNumber(asOf));
  // As the engine gives a customer's scores (clv and its bounds to the cent), then as viewOf rounds them.
  const predictions = viewPredictions({
    probabilityAlive: p.probabilityAlive,
    expectedPurchases: p.expectedPurchases,
    clv: roundToCent(p.clv),
    ...(p.intervals === undefined
      ? {}
      : {
          expectedPurchasesLow: p.intervals.expectedPurchasesLow,
          expectedPurchasesHigh: p.intervals.expectedPurchasesHigh,
          clvLow: roundToCent(p.intervals.clvLow),
          clvHigh: roundToCent(p.intervals.clvHigh),
        }),
  });
  // The keys in viewOf's order: the scores, the predictions, then the rest.
  const { repeatPurchases, nextBestCategory, segments, ...scores } = view;
  return {
    ...scores,
    ...predictions,
    ...(repeatPurchases !== undefined ? { repeatPurchases } : {}),
    ...(nextBestCategory !== undefined ? { nextBestCategory } : {}),
    segments,
  };
}
