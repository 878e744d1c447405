/**
 * The per-customer view a run publishes, kept in S3 next to the aggregate state as gzipped NDJSON, and the
 * diff between two views that decides which table items a run writes.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import type { SegmentationResult } from "../engine/types";
import { type CustomerView, customerViewSchema } from "../model";
import type { CustomerWrite, MembershipWrite } from "./ports";

/** Customer id -> canonical JSON of the view (stable key order, so equal views give equal strings). */
export type Outputs = Map<string, string>;

export function viewOf(result: SegmentationResult, i: number): { id: string; view: CustomerView } {
  const c = result.customer(i);
  const view: CustomerView = {
    firstPurchase: c.firstPurchase,
    lastPurchase: c.lastPurchase,
    frequency: c.frequency,
    monetary: c.monetary,
    r: c.r,
    f: c.f,
    m: c.m,
    rfm: c.rfm,
    segments: [...c.segments].sort(),
  };
  return { id: c.customerId, view };
}

export function outputsOf(result: SegmentationResult): Outputs {
  const outputs: Outputs = new Map();
  for (let i = 0; i < result.customerCount; i++) {
    const { id, view } = viewOf(result, i);
    outputs.set(id, JSON.stringify(view));
  }
  return outputs;
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

const parseView = (json: string | undefined): CustomerView | null =>
  json === undefined ? null : customerViewSchema.parse(JSON.parse(json));

export interface Diff {
  customers: CustomerWrite[];
  memberships: MembershipWrite[];
}

/**
 * What a run must write to move readers from `committed` to `next`. Customers an aborted run (`aborted`)
 * touched are rewritten even when unchanged, which undoes whatever that run left behind.
 */
export function diffOutputs(committed: Outputs, next: Outputs, aborted?: Outputs): Diff {
  const touched = new Set<string>();
  if (aborted) {
    for (const [id, json] of aborted) if (committed.get(id) !== json) touched.add(id);
    for (const id of committed.keys()) if (!aborted.has(id)) touched.add(id);
  }
  const ids = new Set<string>(next.keys());
  for (const id of committed.keys()) ids.add(id);
  for (const id of touched) ids.add(id);

  const customers: CustomerWrite[] = [];
  const memberships: MembershipWrite[] = [];
  for (const id of ids) {
    const before = committed.get(id);
    const after = next.get(id);
    const repair = touched.has(id);
    if (before === after && !repair) continue;
    const previous = parseView(before);
    const view = parseView(after);
    customers.push({ customerId: id, view, previous });

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
  return { customers, memberships };
}
