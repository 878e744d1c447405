/**
 * A customer's membership history as the customer item carries it (`hist`): compact entries, one per committed
 * version that changed the customer's segments, newest first, at most HISTORY_CAP of them. Each version also
 * keeps every customer's history in S3 (`history.ndjson.gz`, written and read as the outputs file is, by
 * pipeline/outputs.ts encodeOutputs/decodeOutputs), which the next run reads to prepend its entries without
 * reading the table. Pure: no AWS SDK.
 */
/** Entries a customer item keeps; older ones are dropped as newer ones come. */
export const HISTORY_CAP = 64;
/**
 * Bytes of JSON the entries may take: with the item's two views, far under DynamoDB's 400 KB item limit
 * however many segments a change names. Older entries are dropped first; the newest is always kept.
 */
export const HISTORY_MAX_BYTES = 128 * 1024;

/** One version's change of one customer: the segments entered (`e`) and left (`l`), each in id order. */
export interface StoredEntry {
  v: number;
  e: string[];
  l: string[];
}

/** Customer id -> JSON of the customer's entries (newest first); only customers with entries. */
export type Histories = Map<string, string>;

/** The segments entered and left between two memberships, each sorted. */
export function changeOf(
  before: Iterable<string>,
  after: Iterable<string>,
): { entered: string[]; left: string[] } {
  const was = new Set(before);
  const now = new Set(after);
  return {
    entered: [...now].filter((s) => !was.has(s)).sort(),
    left: [...was].filter((s) => !now.has(s)).sort(),
  };
}

/** The history with `entry` as its newest entry, capped at the newest HISTORY_CAP and HISTORY_MAX_BYTES. */
export function withEntry(prior: readonly StoredEntry[], entry: StoredEntry): StoredEntry[] {
  // A version is recorded once: an entry of the same or a newer version (none in a committed history) goes.
  const entries = [entry, ...prior.filter((p) => p.v < entry.v)].slice(0, HISTORY_CAP);
  let bytes = Buffer.byteLength(JSON.stringify(entries));
  while (bytes > HISTORY_MAX_BYTES && entries.length > 1) {
    // Each entry costs its own JSON and a comma.
    bytes -= Buffer.byteLength(JSON.stringify(entries.pop())) + 1;
  }
  return entries;
}

const ids = (x: unknown): string[] =>
  Array.isArray(x) ? x.filter((s): s is string => typeof s === "string") : [];

/** Entries as stored (a customer item's `hist`, a history file's line); malformed entries are left out. */
export function storedEntries(value: unknown): StoredEntry[] {
  if (!Array.isArray(value)) return [];
  const entries: StoredEntry[] = [];
  for (const item of value) {
    if (item === null || typeof item !== "object") continue;
    const { v, e, l } = item as Record<string, unknown>;
    if (typeof v !== "number" || !Number.isInteger(v)) continue;
    entries.push({ v, e: ids(e), l: ids(l) });
  }
  return entries;
}

/** A customer's entries from a history file's JSON, or none. */
export function entriesOf(json: string | undefined): StoredEntry[] {
  return json === undefined ? [] : storedEntries(JSON.parse(json));
}
