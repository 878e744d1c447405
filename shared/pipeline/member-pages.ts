/**
 * Every segment's members of one version as immutable objects beside the version's other state, which the
 * members route and destinations page through (the S3 adapter of `MemberPages` is ../store/member-pages.ts):
 *
 *   state/<t>/<d>/v<n>/members/<fileSafeId(segment)>.ndjson   the segment's member ids, one per line as
 *                                                             `JSON.stringify(id)`, sorted by their UTF-8
 *                                                             bytes (DynamoDB's order of sort keys)
 *   state/<t>/<d>/v<n>/members/index.json                     per segment: members, object bytes, and every
 *                                                             MARK_EVERY-th id with its byte offset
 *
 * A page is then one ranged GET from the mark at or before the cursor (two when it crosses the next mark),
 * with the small index read once per version. Runs write the objects before they commit, from the version's
 * membership object (./membership.ts), which is built from the outputs the table holds, so pages, overlaps
 * and customer views cannot disagree; nothing rewrites them afterwards, but for the one exception of an
 * erasure on a sharded dataset, which keeps its version: it blanks the customer's line with spaces
 * (`eraseFromMemberPages`), so every offset a reader knows stays right, and readers skip blank lines.
 */
import { z } from "zod";
import { fileSafeId } from "../engine/segment-ids";
import { objectKeys } from "../store/keys";
import { encodeMembership, Membership } from "./membership";
import type { Outputs } from "./outputs";
import type { BlobStore, Page } from "./ports";

/** One id in every this many of a segment's members is in the index, with its offset. */
export const MARK_EVERY = 1000;
/** Objects written at once. */
const PUT_CONCURRENCY = 16;

/** Pages of a version's segment members (the S3 adapter: shared/store/member-pages.ts). */
export interface MemberPages {
  /**
   * Up to `limit` members of the segment in `version`, in the UTF-8 byte order of their ids, after `after`
   * (an id, present or not); `next` is the last id when more follow. A segment the version has no members
   * of gives an empty page. Undefined when the version has no member pages: committed before runs wrote
   * them, or deleted since (an erasure deletes the objects of the versions before its own).
   */
  list(
    tenantId: string,
    datasetId: string,
    version: number,
    segmentId: string,
    limit: number,
    after?: string,
  ): Promise<Page<string> | undefined>;
  /**
   * Every member of the segment in `version`, in the same order, streamed; a version without member pages
   * fails with MEMBER_PAGES_MISSING.
   */
  all(tenantId: string, datasetId: string, version: number, segmentId: string): AsyncIterable<string>;
}

export const memberIndexSchema = z.object({
  version: z.number().int().nonnegative(),
  markEvery: z.number().int().positive(),
  segments: z.record(
    z.string(),
    z.object({
      /** Members in the object. */
      count: z.number().int().nonnegative(),
      /** Byte length of the object. */
      bytes: z.number().int().nonnegative(),
      /** [id, byte offset of its line], in order: the first member, then every markEvery-th. */
      marks: z.array(z.tuple([z.string(), z.number().int().nonnegative()])),
    }),
  ),
});
export type MemberIndex = z.infer<typeof memberIndexSchema>;

/** The member objects of a version (by segment) and its index, from its membership object. */
export function encodeMemberPages(
  membership: Membership,
  version: number,
): { objects: Map<string, Buffer>; index: MemberIndex } {
  // Each customer's line once, in position order (positions are the customers in UTF-8 byte order).
  const count = membership.count;
  const starts = new Uint32Array(count + 1);
  const parts: string[] = new Array(count);
  let total = 0;
  for (let p = 0; p < count; p++) {
    const line = `${JSON.stringify(membership.id(p))}\n`;
    parts[p] = line;
    starts[p] = total;
    total += Buffer.byteLength(line, "utf8");
  }
  starts[count] = total;
  const lines = Buffer.from(parts.join(""), "utf8");

  const objects = new Map<string, Buffer>();
  const index: MemberIndex = { version, markEvery: MARK_EVERY, segments: {} };
  const names = new Map<string, string>();
  for (const segmentId of membership.segmentIds) {
    const name = fileSafeId(segmentId);
    const other = names.get(name);
    if (other !== undefined) throw new Error(`Segments ${other} and ${segmentId} share an object name`);
    names.set(name, segmentId);
    const words = membership.bits(segmentId) as Uint32Array;
    let bytes = 0;
    let members = 0;
    for (let w = 0; w < words.length; w++) {
      let word = words[w] as number;
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word);
        word &= word - 1;
        const p = w * 32 + bit;
        bytes += (starts[p + 1] as number) - (starts[p] as number);
        members++;
      }
    }
    const out = Buffer.allocUnsafe(bytes);
    const marks: Array<[string, number]> = [];
    let at = 0;
    let k = 0;
    for (let w = 0; w < words.length; w++) {
      let word = words[w] as number;
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word);
        word &= word - 1;
        const p = w * 32 + bit;
        if (k % MARK_EVERY === 0) marks.push([membership.id(p), at]);
        at += lines.copy(out, at, starts[p] as number, starts[p + 1] as number);
        k++;
      }
    }
    objects.set(segmentId, out);
    index.segments[segmentId] = { count: members, bytes, marks };
  }
  return { objects, index };
}

/** Runs `tasks` with at most `limit` in flight. */
async function inTurn(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await (tasks[next++] as () => Promise<void>)();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

/** Writes a version's member pages and their index, several objects at once. */
export async function writeMemberPages(
  blobs: Pick<BlobStore, "put">,
  tenantId: string,
  datasetId: string,
  version: number,
  membership: Membership,
): Promise<number> {
  const { objects, index } = encodeMemberPages(membership, version);
  const tasks = [...objects].map(
    ([segmentId, body]) =>
      () =>
        blobs.put(
          objectKeys.memberPage(tenantId, datasetId, version, segmentId),
          body,
          "application/x-ndjson",
        ),
  );
  tasks.push(() =>
    blobs.put(
      objectKeys.memberIndex(tenantId, datasetId, version),
      JSON.stringify(index),
      "application/json",
    ),
  );
  await inTurn(tasks, PUT_CONCURRENCY);
  return tasks.length;
}

/**
 * Stores a version's membership object (overlaps) and its member pages, both from one encoding of the
 * outputs; the runs call it with the outputs' write, before they commit.
 */
export async function writeMembershipAndPages(
  blobs: Pick<BlobStore, "put">,
  tenantId: string,
  datasetId: string,
  version: number,
  outputs: Outputs,
  segmentIds: readonly string[],
): Promise<void> {
  const bytes = encodeMembership(outputs, segmentIds);
  await Promise.all([
    blobs.put(objectKeys.membership(tenantId, datasetId, version), bytes, "application/octet-stream"),
    writeMemberPages(blobs, tenantId, datasetId, version, new Membership(bytes)),
  ]);
}

/**
 * Blanks a customer's line in each of `segmentIds`' pages of `version` (spaces, the newline kept, so every
 * offset stays right) and rewrites the index without them: one fewer member, and a mark on their line moved
 * to the next line of its stretch (or dropped when the stretch holds no other). For an erasure of a sharded
 * dataset, which keeps its version; a line already blank, or a version without pages, is left as it is.
 * Returns the objects rewritten.
 */
export async function eraseFromMemberPages(
  blobs: Pick<BlobStore, "get" | "put">,
  tenantId: string,
  datasetId: string,
  version: number,
  customerId: string,
  segmentIds: readonly string[],
): Promise<number> {
  const indexBytes = await blobs.get(objectKeys.memberIndex(tenantId, datasetId, version));
  if (!indexBytes) return 0;
  const index = memberIndexSchema.parse(JSON.parse(Buffer.from(indexBytes).toString("utf8")));
  const line = Buffer.from(`${JSON.stringify(customerId)}\n`, "utf8");
  let rewritten = 0;
  for (const segmentId of new Set(segmentIds)) {
    const entry = index.segments[segmentId];
    const key = objectKeys.memberPage(tenantId, datasetId, version, segmentId);
    const bytes = entry ? await blobs.get(key) : undefined;
    if (!entry || !bytes) continue;
    const body = Buffer.from(bytes);
    let at = -1;
    for (let from = 0; from <= body.length - line.length; ) {
      const found = body.indexOf(line, from);
      if (found < 0) break;
      if (found === 0 || body[found - 1] === 0x0a) {
        at = found;
        break;
      }
      from = found + 1;
    }
    if (at < 0) continue;
    body.fill(0x20, at, at + line.length - 1);
    await blobs.put(key, body, "application/x-ndjson");
    rewritten++;
    entry.count--;
    const m = entry.marks.findIndex(([, offset]) => offset === at);
    if (m >= 0) {
      const end = entry.marks[m + 1]?.[1] ?? entry.bytes;
      let next = at + line.length;
      while (next < end && body[next] === 0x20) next = body.indexOf(0x0a, next) + 1;
      if (next < end) {
        const stop = body.indexOf(0x0a, next);
        entry.marks[m] = [JSON.parse(body.toString("utf8", next, stop)) as string, next];
      } else {
        entry.marks.splice(m, 1);
      }
    }
  }
  if (rewritten > 0) {
    await blobs.put(
      objectKeys.memberIndex(tenantId, datasetId, version),
      JSON.stringify(index),
      "application/json",
    );
    rewritten++;
  }
  return rewritten;
}
