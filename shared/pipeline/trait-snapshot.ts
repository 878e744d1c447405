/**
 * The model values of one committed version, stored next to its aggregate state
 * (`state/<tenant>/<dataset>/v<n>/traits.bin`): each scored customer's cluster and value predictions
 * (P(alive), expected purchases, CLV and its interval) with the cluster and value models they came from.
 * Dry runs read them instead of fitting the models again inside a request (shared/api/dry-run.ts); the
 * traits that need no model (recency, RFM, lifecycle, shares, attributes) they compute from the state.
 *
 * Layout: "TRS1", a u32 header length, the JSON header (count, models, which columns follow), zero padding to
 * 8 bytes, then each column's bytes in the header's order, each padded to 8 bytes. Little-endian.
 */
import type { ComputedSegmentation, ValueModelSummary } from "../engine";
import type { ClusterModel } from "../engine/kmeans";
import { objectKeys } from "../store/keys";
import type { BlobStore } from "./ports";

const MAGIC = "TRS1";

/** The stored columns, by their names in the engine's CustomerColumns. */
const FLOAT_COLUMNS = ["probabilityAlive", "expectedPurchases", "clv", "clvLow", "clvHigh"] as const;
type FloatColumn = (typeof FLOAT_COLUMNS)[number];

export interface TraitSnapshot {
  /** The result position's customer index in the state; the same order as the version's result. */
  stateIndex: Uint32Array;
  cluster?: Uint16Array;
  floats: Partial<Record<FloatColumn, Float64Array>>;
  clusters: ClusterModel | null;
  value: ValueModelSummary | null;
}

interface Header {
  count: number;
  columns: string[];
  clusters: ClusterModel | null;
  value: ValueModelSummary | null;
}

const pad8 = (n: number) => (n + 7) & ~7;

/** The snapshot of a computed result, as bytes. */
export function encodeTraitSnapshot(result: ComputedSegmentation): Uint8Array {
  const c = result.columns;
  const parts: [string, ArrayBufferView][] = [["stateIndex", c.stateIndex]];
  if (c.cluster !== undefined) parts.push(["cluster", c.cluster]);
  for (const name of FLOAT_COLUMNS) {
    const column = c[name];
    if (column !== undefined) parts.push([name, column]);
  }
  const header: Header = {
    count: result.customerCount,
    columns: parts.map(([name]) => name),
    clusters: result.clusters ?? null,
    value: result.value ?? null,
  };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  let size = pad8(8 + json.length);
  for (const [, view] of parts) size += pad8(view.byteLength);
  const out = Buffer.alloc(size);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(json.length, 4);
  json.copy(out, 8);
  let at = pad8(8 + json.length);
  for (const [, view] of parts) {
    out.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), at);
    at += pad8(view.byteLength);
  }
  return out;
}

export class TraitSnapshotError extends Error {}

/** Reads a snapshot; throws TraitSnapshotError for bytes that are not one. */
export function decodeTraitSnapshot(bytes: Uint8Array): TraitSnapshot {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < 8 || buffer.toString("latin1", 0, 4) !== MAGIC) {
    throw new TraitSnapshotError("not a trait snapshot");
  }
  const length = buffer.readUInt32LE(4);
  if (8 + length > buffer.length) throw new TraitSnapshotError("truncated header");
  let header: Header;
  try {
    header = JSON.parse(buffer.toString("utf8", 8, 8 + length)) as Header;
  } catch {
    throw new TraitSnapshotError("bad header");
  }
  if (!Number.isSafeInteger(header.count) || header.count < 0 || !Array.isArray(header.columns)) {
    throw new TraitSnapshotError("bad header");
  }
  const n = header.count;
  let at = pad8(8 + length);
  // Copies, so that every array is aligned whatever the offset of the bytes it came in.
  const take = (width: number): ArrayBuffer => {
    const end = at + width * n;
    if (end > buffer.length) throw new TraitSnapshotError("truncated column");
    const copy = new Uint8Array(width * n);
    copy.set(buffer.subarray(at, end));
    at += pad8(width * n);
    return copy.buffer;
  };
  let stateIndex: Uint32Array | undefined;
  let cluster: Uint16Array | undefined;
  const floats: TraitSnapshot["floats"] = {};
  for (const name of header.columns) {
    if (name === "stateIndex") stateIndex = new Uint32Array(take(4));
    else if (name === "cluster") cluster = new Uint16Array(take(2));
    else if ((FLOAT_COLUMNS as readonly string[]).includes(name))
      floats[name as FloatColumn] = new Float64Array(take(8));
    else throw new TraitSnapshotError(`unknown column ${name}`);
  }
  if (stateIndex === undefined) throw new TraitSnapshotError("no stateIndex column");
  return {
    stateIndex,
    ...(cluster !== undefined ? { cluster } : {}),
    floats,
    clusters: header.clusters,
    value: header.value,
  };
}

/** Stores a committed version's snapshot next to its state; the run calls it with the state's write. */
export async function writeTraitSnapshot(
  blobs: Pick<BlobStore, "put">,
  tenantId: string,
  datasetId: string,
  version: number,
  result: ComputedSegmentation,
): Promise<void> {
  await blobs.put(
    objectKeys.traits(tenantId, datasetId, version),
    encodeTraitSnapshot(result),
    "application/octet-stream",
  );
}
