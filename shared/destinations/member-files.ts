/**
 * Member-list and audience files of s3 and audience destinations, written after each committed run.
 *
 * For each segment the destination follows, the segment's full member list of the run's version (read in the
 * order the API's member pages give it) goes to the destination's bucket as
 * `<prefix>/<datasetId>/<runId>/<segmentId>.csv|jsonl` (s3: customer ids, as CSV with the header
 * `customer_id` or as JSON lines `{"customer_id":…}`) or `<prefix>/<datasetId>/<runId>/<segmentId>.csv`
 * (audience: the platform's hashed upload file, ./audiences.ts). Then `manifest.json` beside them, written
 * last so that a reader who sees it sees every file it lists: the run, version and evaluation date, and per
 * file its segment, key, rows, bytes and SHA-256. Customers who opted out (./contacts.ts) are in no file
 * unless the destination says `includeOptedOut`.
 *
 * Writing the same run again writes the same files to the same keys (only the manifest's `writtenAt`
 * moves), so a retried run does no harm.
 *
 * Erasure: the service keeps, in its own bucket, which customer is on which line of each file of the last
 * MAX_RUNS_HELD runs it wrote for a destination: one record per run in MAX_RUNS_HELD slots used in turn
 * (`state/<tenant>/<dataset>/destinations/<destinationId>/slot-<n>.json`, beside the dataset's state, with the
 * same access; `index.json` says which run is in which slot). `eraseFromMemberFiles` rewrites those files
 * without the erased customer's line (an audience line is a hash, so its text is kept in the record: the line
 * is found through it, not by reading the file back) and rewrites their manifests; it finds the records by
 * listing, so the files of a destination deleted since are rewritten too.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { csvTextCell } from "../csv";
import type { RunRecord } from "../model";
import type { MemberPages } from "../pipeline/member-pages";
import type { BlobStore } from "../pipeline/ports";
import { AudienceFile, type AudiencePlatform } from "./audiences";

/** Runs whose files the service keeps track of (and rewrites on erasure) per destination. */
export const MAX_RUNS_HELD = 5;

/** Writes objects to buckets outside the service (the destinations' buckets). */
export interface ExternalBucketWriter {
  put(object: {
    bucket: string;
    key: string;
    body: string;
    contentType: string;
    /** The account that must own the bucket (S3 refuses the write otherwise). */
    expectedBucketOwner?: string;
  }): Promise<void>;
}

/** What the files need of a destination record (shared/destinations/model.ts). */
export interface FileDestination {
  tenantId: string;
  datasetId: string;
  destinationId: string;
  kind: "webhook" | "s3" | "audience";
  segments: string[];
  includeOptedOut: boolean;
  s3?: { bucket: string; prefix: string; format: "csv" | "jsonl"; expectedBucketOwner?: string | undefined };
  audience?: {
    platform: AudiencePlatform;
    bucket: string;
    prefix: string;
    expectedBucketOwner?: string | undefined;
  };
}

/** What the files need of the run's contacts (./contacts.ts). */
export interface FileContacts {
  optedOut(customerId: string): boolean;
  email(customerId: string): string | undefined;
  phone(customerId: string): string | undefined;
}

/** A segment's member ids, in the stable order of the API's member pages. */
export type MemberSource = (segmentId: string) => AsyncIterable<string>;

/** The members of a committed version, streamed from its member pages in the members route's order. */
export function committedMembers(
  members: Pick<MemberPages, "all">,
  tenantId: string,
  datasetId: string,
  version: number,
): MemberSource {
  return (segmentId: string) => members.all(tenantId, datasetId, version, segmentId);
}

export interface MemberFilesDeps {
  files: ExternalBucketWriter;
  /** The service's own bucket, where the line record for erasure is kept. */
  blobs: Pick<BlobStore, "get" | "put">;
  now?: () => Date;
}

export const manifestFileSchema = z.object({
  segment: z.string(),
  key: z.string(),
  count: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  /** Members left out because they opted out. */
  optedOut: z.number().int().nonnegative(),
  /** Audience files: members left out for want of a usable email or phone. */
  withoutContact: z.number().int().nonnegative().optional(),
});
export const manifestSchema = z.object({
  destinationId: z.string(),
  kind: z.enum(["s3", "audience"]),
  datasetId: z.string(),
  runId: z.string(),
  version: z.number().int(),
  asOf: z.string(),
  writtenAt: z.string(),
  format: z.enum(["csv", "jsonl"]).optional(),
  platform: z.enum(["google", "meta"]).optional(),
  files: z.array(manifestFileSchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

const heldRunSchema = z.object({
  runId: z.string(),
  bucket: z.string(),
  expectedBucketOwner: z.string().optional(),
  manifestKey: z.string(),
  manifest: manifestSchema,
  /**
   * Per file (in the manifest's order): its header line, the customer on each data line, and for audience
   * files each line's text (hashes that only this record ties to a customer; s3 lines follow from the id).
   */
  files: z.array(
    z.object({
      header: z.string().optional(),
      ids: z.array(z.string()),
      lines: z.array(z.string()).optional(),
    }),
  ),
});
type HeldRun = z.infer<typeof heldRunSchema>;
/** Which run is in which slot, newest first. */
const heldIndexSchema = z.object({ runs: z.array(z.object({ runId: z.string(), slot: z.number().int() })) });

/** Where the service keeps the line record of a dataset's destinations. */
export function heldFilesPrefix(tenantId: string, datasetId: string): string {
  return `state/${tenantId}/${datasetId}/destinations/`;
}

function heldKey(tenantId: string, datasetId: string, destinationId: string, name: string): string {
  return `${heldFilesPrefix(tenantId, datasetId)}${destinationId}/${name}`;
}
const SLOT_KEY = /\/slot-\d+\.json$/;

/** A data line of an s3 file, from the customer id. */
function s3Line(jsonl: boolean, id: string): string {
  return jsonl ? JSON.stringify({ customer_id: id }) : csvTextCell(id);
}

function target(destination: FileDestination) {
  const spec = destination.kind === "s3" ? destination.s3 : destination.audience;
  if (!spec) throw new Error(`Destination ${destination.destinationId} has no ${destination.kind} settings`);
  return spec;
}

/** The folder of one run's files: `<prefix>/<datasetId>/<runId>/`, the prefix's own slashes trimmed. */
export function runFolder(prefix: string, datasetId: string, runId: string): string {
  const clean = prefix.replace(/^\/+|\/+$/g, "");
  return `${clean === "" ? "" : `${clean}/`}${datasetId}/${runId}/`;
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

interface BuiltFile {
  segment: string;
  key: string;
  /** Header line, then one line per customer in `ids`. */
  header: string | undefined;
  lines: string[];
  ids: string[];
  optedOut: number;
  withoutContact?: number;
}

function fileText(file: Pick<BuiltFile, "header" | "lines">, kind: FileDestination["kind"]): string {
  const all = file.header === undefined ? file.lines : [file.header, ...file.lines];
  if (all.length === 0) return "";
  // CSV lines end in CRLF (RFC 4180), JSON lines in LF.
  const eol = kind === "s3" && file.header === undefined ? "\n" : "\r\n";
  return `${all.join(eol)}${eol}`;
}

function contentTypeOf(kind: FileDestination["kind"], jsonl: boolean): string {
  return kind === "s3" && jsonl ? "application/x-ndjson; charset=utf-8" : "text/csv; charset=utf-8";
}

function contentType(destination: FileDestination): string {
  return contentTypeOf(destination.kind, destination.s3?.format === "jsonl");
}

function manifestEntry(file: BuiltFile, kind: FileDestination["kind"]): Manifest["files"][number] {
  const text = fileText(file, kind);
  return {
    segment: file.segment,
    key: file.key,
    count: file.ids.length,
    bytes: Buffer.byteLength(text, "utf8"),
    sha256: sha256(text),
    optedOut: file.optedOut,
    ...(file.withoutContact === undefined ? {} : { withoutContact: file.withoutContact }),
  };
}

async function buildFile(
  destination: FileDestination,
  folder: string,
  segment: string,
  members: MemberSource,
  contacts: FileContacts,
): Promise<BuiltFile> {
  const s3 = destination.kind === "s3" ? destination.s3 : undefined;
  const extension = s3?.format === "jsonl" ? "jsonl" : "csv";
  const key = `${folder}${segment}.${extension}`;
  const ids: string[] = [];
  const lines: string[] = [];
  let optedOut = 0;
  const audience =
    destination.audience && destination.kind === "audience"
      ? new AudienceFile(destination.audience.platform)
      : undefined;
  for await (const id of members(segment)) {
    if (!destination.includeOptedOut && contacts.optedOut(id)) {
      optedOut += 1;
      continue;
    }
    if (audience) {
      const line = audience.line({ email: contacts.email(id), phone: contacts.phone(id) });
      if (line === undefined) continue;
      lines.push(line);
    } else {
      lines.push(s3Line(s3?.format === "jsonl", id));
    }
    ids.push(id);
  }
  if (audience) {
    return {
      segment,
      key,
      header: audience.header,
      lines,
      ids,
      optedOut,
      withoutContact: audience.withoutContact,
    };
  }
  return { segment, key, header: s3?.format === "jsonl" ? undefined : "customer_id", lines, ids, optedOut };
}

async function readJson<T>(deps: MemberFilesDeps, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
  const bytes = await deps.blobs.get(key);
  return bytes ? schema.parse(JSON.parse(Buffer.from(bytes).toString("utf8"))) : undefined;
}

/**
 * Writes the run's files and manifest for an s3 or audience destination; answers the manifest. Webhook
 * destinations have no files (an error to ask).
 */
export async function writeMemberFiles(
  deps: MemberFilesDeps,
  destination: FileDestination,
  input: {
    run: Pick<RunRecord, "runId" | "version" | "asOf">;
    members: MemberSource;
    contacts: FileContacts;
  },
): Promise<Manifest> {
  if (destination.kind === "webhook") throw new Error("A webhook destination has no member files");
  const { run } = input;
  if (run.version === undefined || run.asOf === undefined) {
    throw new Error(`Run ${run.runId} has not committed a version`);
  }
  const spec = target(destination);
  const owner = spec.expectedBucketOwner;
  const folder = runFolder(spec.prefix, destination.datasetId, run.runId);
  const built: BuiltFile[] = [];
  for (const segment of destination.segments) {
    const file = await buildFile(destination, folder, segment, input.members, input.contacts);
    await deps.files.put({
      bucket: spec.bucket,
      key: file.key,
      body: fileText(file, destination.kind),
      contentType: contentType(destination),
      ...(owner ? { expectedBucketOwner: owner } : {}),
    });
    built.push(file);
  }
  const manifest: Manifest = {
    destinationId: destination.destinationId,
    kind: destination.kind,
    datasetId: destination.datasetId,
    runId: run.runId,
    version: run.version,
    asOf: run.asOf,
    writtenAt: (deps.now ?? (() => new Date()))().toISOString(),
    ...(destination.kind === "s3" ? { format: destination.s3?.format ?? "csv" } : {}),
    ...(destination.kind === "audience" ? { platform: destination.audience?.platform ?? "google" } : {}),
    files: built.map((file) => manifestEntry(file, destination.kind)),
  };
  // The line record first: a file the service wrote must be findable by an erasure even if the manifest
  // write fails after it. The run takes its own slot again, else a free one, else the oldest run's.
  const { tenantId, datasetId, destinationId } = destination;
  const indexKey = heldKey(tenantId, datasetId, destinationId, "index.json");
  const index = (await readJson(deps, indexKey, heldIndexSchema)) ?? { runs: [] };
  const taken = new Set(index.runs.map((r) => r.slot));
  const slot =
    index.runs.find((r) => r.runId === run.runId)?.slot ??
    [...Array(MAX_RUNS_HELD).keys()].find((n) => !taken.has(n)) ??
    index.runs.at(-1)?.slot ??
    0;
  const manifestKey = `${folder}manifest.json`;
  const record: HeldRun = {
    runId: run.runId,
    bucket: spec.bucket,
    ...(owner ? { expectedBucketOwner: owner } : {}),
    manifestKey,
    manifest,
    files: built.map((f) => ({
      ...(f.header === undefined ? {} : { header: f.header }),
      ids: f.ids,
      ...(destination.kind === "audience" ? { lines: f.lines } : {}),
    })),
  };
  await deps.blobs.put(
    heldKey(tenantId, datasetId, destinationId, `slot-${slot}.json`),
    JSON.stringify(record),
    "application/json",
  );
  const runs = [{ runId: run.runId, slot }, ...index.runs.filter((r) => r.slot !== slot)].slice(
    0,
    MAX_RUNS_HELD,
  );
  await deps.blobs.put(indexKey, JSON.stringify({ runs }), "application/json");
  await deps.files.put({
    bucket: spec.bucket,
    key: manifestKey,
    body: `${JSON.stringify(manifest, null, 2)}\n`,
    contentType: "application/json",
    ...(owner ? { expectedBucketOwner: owner } : {}),
  });
  return manifest;
}

/**
 * Rewrites every file the service holds for the dataset's s3 and audience destinations (the last
 * MAX_RUNS_HELD runs of each) without the customer's line, and their manifests; answers how many files were
 * rewritten. A file without the customer is left as it is; running it again finds nothing to do.
 */
export async function eraseFromMemberFiles(
  deps: MemberFilesDeps & { blobs: Pick<BlobStore, "list"> },
  tenantId: string,
  datasetId: string,
  customerId: string,
): Promise<number> {
  let rewritten = 0;
  for (const key of await deps.blobs.list(heldFilesPrefix(tenantId, datasetId))) {
    if (SLOT_KEY.test(key)) rewritten += await eraseFromHeld(deps, key, customerId);
  }
  return rewritten;
}

async function eraseFromHeld(deps: MemberFilesDeps, key: string, customerId: string): Promise<number> {
  const run = await readJson(deps, key, heldRunSchema);
  if (!run) return 0;
  const kind = run.manifest.kind;
  const jsonl = run.manifest.format === "jsonl";
  const owner = run.expectedBucketOwner;
  let rewritten = 0;
  const files = run.files.map((file, i) => {
    const at = file.ids.indexOf(customerId);
    const entry = run.manifest.files[i];
    if (at < 0 || !entry) return { file, entry };
    const ids = file.ids.filter((_, j) => j !== at);
    const lines = file.lines?.filter((_, j) => j !== at);
    const built: BuiltFile = {
      segment: entry.segment,
      key: entry.key,
      header: file.header,
      lines: lines ?? ids.map((id) => s3Line(jsonl, id)),
      ids,
      optedOut: entry.optedOut,
      ...(entry.withoutContact === undefined ? {} : { withoutContact: entry.withoutContact }),
    };
    return { file: { ...file, ids, ...(lines ? { lines } : {}) }, entry: manifestEntry(built, kind), built };
  });
  for (const { built } of files) {
    if (!built) continue;
    await deps.files.put({
      bucket: run.bucket,
      key: built.key,
      body: fileText(built, kind),
      contentType: contentTypeOf(kind, jsonl),
      ...(owner ? { expectedBucketOwner: owner } : {}),
    });
    rewritten += 1;
  }
  if (rewritten === 0) return 0;
  const manifest = { ...run.manifest, files: files.map((f) => f.entry).filter((e) => e !== undefined) };
  await deps.files.put({
    bucket: run.bucket,
    key: run.manifestKey,
    body: `${JSON.stringify(manifest, null, 2)}\n`,
    contentType: "application/json",
    ...(owner ? { expectedBucketOwner: owner } : {}),
  });
  await deps.blobs.put(
    key,
    JSON.stringify({ ...run, manifest, files: files.map((f) => f.file) }),
    "application/json",
  );
  return rewritten;
}
