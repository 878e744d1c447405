/**
 * The per-customer view a run publishes, kept in S3 next to the aggregate state as gzipped NDJSON, and the
 * diff between two views that decides which table items a run writes.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { z } from "zod";
import { amountOfCents, centsOfAmount, meanRounded } from "../engine/money";
import type { CustomerScores, SegmentationResult } from "../engine/types";
import { changeOf, entriesOf, type Histories, withEntry } from "../history/entries";
import { type CustomerView, customerViewSchema, type StoredSegmentSummary } from "../model";
import type { CustomerWrite, MembershipWrite } from "./ports";
import { PREDICTION_FIELDS, type TableView, tableViewOf, viewPredictions } from "./served-view";

/** Customer id -> canonical JSON of the view (stable key order, so equal views give equal strings). */
export type Outputs = Map<string, string>;

const round = (x: number, digits: number) => {
  const scale = 10 ** digits;
  return Math.round(x * scale) / scale;
};

/**
 * A customer's view. Keys are assigned one at a time in a fixed order (no spreads), so that every view of a
 * run shares one shape and its JSON is built fast; outputs-reference.ts builds the same view the simple way.
 */
export function viewOf(
  result: SegmentationResult,
  i: number,
  c: CustomerScores = result.customer(i),
): { id: string; view: CustomerView } {
  const predicted = c.probabilityAlive !== undefined;
  const inputs = predicted ? result.valueInputsOf?.(i) : undefined;
  const view: Omit<CustomerView, "segments"> & { segments?: string[] } = {
    firstPurchase: c.firstPurchase,
    lastPurchase: c.lastPurchase,
    frequency: c.frequency,
    monetary: c.monetary,
    r: c.r,
    f: c.f,
    m: c.m,
    rfm: c.rfm,
    lifecycle: c.lifecycle,
  };
  if (c.cluster !== undefined) view.cluster = c.cluster;
  // The predictions in their order, rounded as a reader rounds them (./served-view).
  Object.assign(view, viewPredictions(c));
  if (c.repeatPurchases !== undefined && predicted) view.repeatPurchases = c.repeatPurchases;
  if (c.nextBestCategory !== undefined) view.nextBestCategory = c.nextBestCategory;
  // What a reader predicts the customer from with the version's served model (./served-view).
  if (inputs !== undefined) view.valueInputs = inputs;
  view.segments = [...c.segments].sort();
  return { id: c.customerId, view: view as CustomerView };
}

export type SegmentProfile = NonNullable<StoredSegmentSummary["profile"]>;

interface ProfileSums {
  n: number;
  recency: number;
  frequency: number;
  /** Net spend of the members, in integer cents. */
  monetaryCents: number;
  rfm: Record<string, number>;
  lifecycle: Record<string, number>;
}

/** The per-customer views of a result, and the profile of every segment, in one pass over the customers. */
export function outputsOf(result: SegmentationResult): Outputs {
  return outputsAndProfiles(result).outputs;
}

export function outputsAndProfiles(result: SegmentationResult): {
  outputs: Outputs;
  profiles: Map<string, SegmentProfile>;
} {
  const outputs: Outputs = new Map();
  const sums = new Map<string, ProfileSums>();
  for (let i = 0; i < result.customerCount; i++) {
    const c = result.customer(i);
    const { id, view } = viewOf(result, i, c);
    outputs.set(id, JSON.stringify(view));
    const rfm = c.segments.find((s) => s.startsWith("rfm:"));
    const cents = centsOfAmount(c.monetary);
    for (const segment of c.segments) {
      let sum = sums.get(segment);
      if (!sum) {
        sum = { n: 0, recency: 0, frequency: 0, monetaryCents: 0, rfm: {}, lifecycle: {} };
        sums.set(segment, sum);
      }
      sum.n++;
      sum.recency += c.recencyDays;
      sum.frequency += c.frequency;
      sum.monetaryCents += cents;
      if (rfm) sum.rfm[rfm] = (sum.rfm[rfm] ?? 0) + 1;
      sum.lifecycle[c.lifecycle] = (sum.lifecycle[c.lifecycle] ?? 0) + 1;
    }
  }
  const profiles = new Map<string, SegmentProfile>();
  for (const summary of result.segments) {
    const sum = sums.get(summary.id);
    const mean = (total: number) => (sum && sum.n > 0 ? round(total / sum.n, 4) : null);
    profiles.set(summary.id, {
      meanRecencyDays: mean(sum?.recency ?? 0),
      meanFrequency: mean(sum?.frequency ?? 0),
      // To the cent, halves away from zero (money.ts).
      meanMonetary: sum && sum.n > 0 ? amountOfCents(meanRounded(sum.monetaryCents, sum.n)) : null,
      rfm: sum?.rfm ?? {},
      lifecycle: sum?.lifecycle ?? {},
    });
  }
  return { outputs, profiles };
}

export function encodeOutputs(outputs: Outputs): Uint8Array {
  const lines: string[] = [];
  for (const [id, view] of outputs) lines.push(`${JSON.stringify(id)}\t${view}`);
  return gzipSync(Buffer.from(lines.join("\n"), "utf8"));
}

export function decodeOutputs(bytes: Uint8Array): Outputs {
  const outputs: Outputs = new Map();
  const text = gunzipSync(bytes).toString("utf8");
  if (text === "") return outputs;
  for (const line of text.split("\n")) {
    const tab = line.indexOf("\t");
    const id: unknown = JSON.parse(line.slice(0, tab));
    if (typeof id !== "string") throw new Error("Corrupt outputs file");
    outputs.set(id, line.slice(tab + 1));
  }
  return outputs;
}

/** The view's keys in the schema's order, which is the order zod gives a parsed view and viewOf writes. */
const VIEW_SHAPE = customerViewSchema.shape;
const VIEW_KEYS = Object.keys(VIEW_SHAPE) as Array<keyof CustomerView>;
const unwrapped = (schema: z.ZodType): unknown =>
  schema instanceof z.ZodOptional ? schema.unwrap() : schema;
const REQUIRED_KEYS = VIEW_KEYS.filter((key) => !(VIEW_SHAPE[key] instanceof z.ZodOptional));
const STRING_KEYS = new Set<string>(
  VIEW_KEYS.filter((key) => unwrapped(VIEW_SHAPE[key]) instanceof z.ZodString),
);
const VALUE_INPUT_KEYS = Object.keys(VIEW_SHAPE.valueInputs.unwrap().shape);

const finite = (x: unknown): boolean => typeof x === "number" && Number.isFinite(x);

function sameKeys(value: object, keys: readonly string[]): boolean {
  let k = 0;
  for (const key in value) if (key !== keys[k++]) return false;
  return k === keys.length;
}

/**
 * True when a parsed view is exactly what the schema's parse gives back for it: valid, no other keys, its keys
 * (and its value inputs' keys) already in the schema's order. Such a view is used as parsed.
 */
function isCanonicalView(value: unknown): value is CustomerView {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  let k = 0;
  for (const key in record) {
    while (k < VIEW_KEYS.length && VIEW_KEYS[k] !== key) k++;
    if (k === VIEW_KEYS.length) return false;
    k++;
    const x = record[key];
    if (STRING_KEYS.has(key)) {
      if (typeof x !== "string") return false;
    } else if (key === "segments") {
      if (!Array.isArray(x) || !x.every((s) => typeof s === "string")) return false;
    } else if (key === "valueInputs") {
      if (typeof x !== "object" || x === null || Array.isArray(x) || !sameKeys(x, VALUE_INPUT_KEYS))
        return false;
      for (const name of VALUE_INPUT_KEYS) if (!finite((x as Record<string, unknown>)[name])) return false;
    } else if (!finite(x)) return false;
  }
  for (const key of REQUIRED_KEYS) if (!Object.hasOwn(record, key)) return false;
  return true;
}

/** A stored view's JSON parsed and validated; a view in the shape runs write skips the schema's copy. */
const parseView = (json: string | undefined): CustomerView | null => {
  if (json === undefined) return null;
  const value: unknown = JSON.parse(json);
  return isCanonicalView(value) ? value : customerViewSchema.parse(value);
};

/** A prediction key wherever it is (global; one scan finds them all). */
const PREDICTION_KEY = new RegExp(`,"(?:${PREDICTION_FIELDS.join("|")})":`, "g");
/** A number as JSON.stringify writes one, at a position (sticky). */
const NUMBER = /-?\d+(?:\.\d+)?(?:e[+-]?\d+)?/y;
const VALUE_INPUTS = '"valueInputs"';

/**
 * Where a view's JSON holds what tableViewOf leaves out, as [start, end): nothing ([0, 0]) when the view has
 * no value inputs (stored whole), else its prediction keys, which views hold next to each other with number
 * values. Undefined when the text is in any other shape. Outside strings, `,"key":` can only be a key: a
 * quote inside a JSON string is escaped.
 */
function predictionSpan(json: string): [number, number] | undefined {
  const inputs = json.indexOf(VALUE_INPUTS);
  if (inputs < 0) return [0, 0];
  if (json[inputs - 1] !== "," || !json.startsWith(":{", inputs + VALUE_INPUTS.length)) return undefined;
  PREDICTION_KEY.lastIndex = 0;
  let start = -1;
  let end = -1;
  let keys = 0;
  for (let m = PREDICTION_KEY.exec(json); m !== null; m = PREDICTION_KEY.exec(json)) {
    // One run of keys, each once, each with a number.
    if (start < 0) start = m.index;
    else if (m.index !== end) return undefined;
    if (++keys > PREDICTION_FIELDS.length) return undefined;
    NUMBER.lastIndex = PREDICTION_KEY.lastIndex;
    if (!NUMBER.test(json)) return undefined;
    end = NUMBER.lastIndex;
    if (json[end] !== "," && json[end] !== "}") return undefined;
    PREDICTION_KEY.lastIndex = end;
  }
  return start < 0 ? [0, 0] : [start, end];
}

/**
 * What the table stores of a stored view (tableViewOf of the parsed view): for the views runs write, parsed
 * from the text without its predictions, which are never read.
 */
function parseTableView(json: string | undefined): TableView | null {
  if (json === undefined) return null;
  const span = predictionSpan(json);
  if (span !== undefined) {
    const value: unknown = JSON.parse(
      span[0] === span[1] ? json : json.slice(0, span[0]) + json.slice(span[1]),
    );
    if (isCanonicalView(value)) return value;
  }
  return tableViewOf(parseView(json) as CustomerView);
}

/**
 * True when two stored views' JSON texts hold the same table view character for character (then their
 * parsed table views are equal too); false when they differ or either is in another shape.
 */
function sameTableText(a: string, b: string): boolean {
  const x = predictionSpan(a);
  const y = predictionSpan(b);
  if (x === undefined || y === undefined) return false;
  const [x0, x1] = x;
  const [y0, y1] = y;
  return (
    a.length - (x1 - x0) === b.length - (y1 - y0) &&
    a.slice(0, x0) === b.slice(0, y0) &&
    a.slice(x1) === b.slice(y1)
  );
}

export interface Diff {
  customers: CustomerWrite[];
  memberships: MembershipWrite[];
  /** Every customer's history at the new version, as its history file keeps it (with `history` only). */
  history: Histories;
  /** Customers given a new history entry: those whose segments changed (with `history` only). */
  historyEntries: number;
}

/** The history a diff continues: the committed version's, and the version the run writes. */
export interface DiffHistory {
  version: number;
  committed: Histories;
  /** Customers whose history ends with this version (an erasure's): no line in its history file. */
  forget?: ReadonlySet<string>;
}

const sameTableView = (a: TableView | null, b: TableView | null): boolean =>
  a === null || b === null ? a === b : JSON.stringify(a) === JSON.stringify(b);

/**
 * What a run must write to move readers from `committed` to `next`: the customers whose stored item changes
 * (its table view, or its history when its segments changed), with the history the item carries. Customers
 * an aborted run (`aborted`) touched are rewritten even when unchanged, with their committed history, which
 * undoes whatever that run left behind. Without `history`, no entry is made and items carry none.
 */
export function diffOutputs(
  committed: Outputs,
  next: Outputs,
  aborted?: Outputs,
  history?: DiffHistory,
): Diff {
  const touched = new Set<string>();
  if (aborted) {
    for (const [id, json] of aborted) if (committed.get(id) !== json) touched.add(id);
    for (const id of committed.keys()) if (!aborted.has(id)) touched.add(id);
  }
  // Every id once: the new views', then the committed ones gone from them, then the aborted run's others.
  function* allIds(): Generator<string> {
    yield* next.keys();
    for (const id of committed.keys()) if (!next.has(id)) yield id;
    for (const id of touched) if (!next.has(id) && !committed.has(id)) yield id;
  }

  const customers: CustomerWrite[] = [];
  const memberships: MembershipWrite[] = [];
  const histories: Histories = new Map(history?.committed ?? []);
  let historyEntries = 0;
  for (const id of allIds()) {
    const before = committed.get(id);
    const after = next.get(id);
    const repair = touched.has(id);
    if (before === after && !repair) continue;
    // Same table view (predictions alone moved): same segments, nothing to write. Told from the texts.
    if (before !== undefined && after !== undefined && !repair && sameTableText(before, after)) continue;
    const previous = parseTableView(before);
    const view = parseTableView(after);

    const { entered, left } = changeOf(previous?.segments ?? [], view?.segments ?? []);
    const moved = entered.length > 0 || left.length > 0;
    let entries = history ? entriesOf(history.committed.get(id)) : [];
    if (history && moved) {
      entries = withEntry(entries, { v: history.version, e: entered, l: left });
      histories.set(id, JSON.stringify(entries));
      historyEntries++;
    }
    if (moved || repair || !sameTableView(previous, view)) {
      customers.push({
        customerId: id,
        view,
        previous,
        ...(entries.length > 0 ? { history: entries } : {}),
      });
    }

    const was = new Set(previous?.segments ?? []);
    const now = new Set(view?.segments ?? []);
    const segments = new Set([...was, ...now]);
    if (repair) for (const s of parseView(aborted?.get(id))?.segments ?? []) segments.add(s);
    for (const segmentId of segments) {
      const member = now.has(segmentId);
      const prior = was.has(segmentId);
      if (member !== prior || repair)
        memberships.push({ segmentId, customerId: id, member, previous: prior });
    }
  }
  for (const id of history?.forget ?? []) histories.delete(id);
  return { customers, memberships, history: histories, historyEntries };
}
