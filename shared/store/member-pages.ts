/**
 * The S3 adapter of `MemberPages` (format in ../pipeline/member-pages.ts): a page is found by a binary search
 * of the version's index for the last mark at or before the cursor, and read with one ranged GET from there
 * over as many marked stretches as the page can need (a second when ids at or before the cursor fill too
 * much of the first). Indexes never change once a version is written, so a warm function keeps the last few
 * it read, by tenant, dataset and version.
 */
import { RetryableError } from "../errors";
import { type MemberIndex, type MemberPages, memberIndexSchema } from "../pipeline/member-pages";
import { compareUtf8 } from "../pipeline/membership";
import type { BlobStore, Page } from "../pipeline/ports";
import { objectKeys } from "./keys";

/** Indexes a warm function keeps; past this, the least recently used goes. */
export const CACHED_INDEXES = 64;

type Entry = MemberIndex["segments"][string];

async function bytesOf(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The ids of whole lines of `text`, blank (erased) lines skipped. */
function idsOf(text: string): string[] {
  const ids: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const id: unknown = JSON.parse(line);
    if (typeof id !== "string") throw new Error("A member page holds a line that is no id");
    ids.push(id);
  }
  return ids;
}

/** How many marks have an id at or before `after` (byte order). */
function marksUpTo(marks: Entry["marks"], after: string): number {
  let lo = 0;
  let hi = marks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareUtf8((marks[mid] as [string, number])[0], after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class S3MemberPages implements MemberPages {
  private readonly indexes = new Map<string, MemberIndex>();

  constructor(
    private readonly blobs: Pick<BlobStore, "get" | "stream" | "streamRange">,
    private readonly cacheSize = CACHED_INDEXES,
  ) {}

  /** The version's index, from the cache or read (and cached); undefined when the version has none. */
  private async indexOf(
    tenantId: string,
    datasetId: string,
    version: number,
  ): Promise<MemberIndex | undefined> {
    const key = objectKeys.memberIndex(tenantId, datasetId, version);
    const cached = this.indexes.get(key);
    if (cached) {
      this.indexes.delete(key);
      this.indexes.set(key, cached);
      return cached;
    }
    const bytes = await this.blobs.get(key);
    if (!bytes) return undefined;
    const index = memberIndexSchema.parse(JSON.parse(Buffer.from(bytes).toString("utf8")));
    this.indexes.set(key, index);
    if (this.indexes.size > this.cacheSize) {
      const oldest = this.indexes.keys().next().value;
      if (oldest !== undefined) this.indexes.delete(oldest);
    }
    return index;
  }

  async list(
    tenantId: string,
    datasetId: string,
    version: number,
    segmentId: string,
    limit: number,
    after?: string,
  ): Promise<Page<string> | undefined> {
    const index = await this.indexOf(tenantId, datasetId, version);
    if (!index) return undefined;
    const entry = index.segments[segmentId];
    if (!entry || entry.count === 0) return { items: [] };
    const { marks } = entry;
    const key = objectKeys.memberPage(tenantId, datasetId, version, segmentId);
    // Stretches (from one mark to the next) per read: a page and the id that tells whether one follows.
    const stretches = Math.ceil((limit + 1) / index.markEvery);
    // The last mark at or before the cursor; -1 for the object's start when no mark is (an erasure may have
    // taken the first line's mark away).
    const upTo = after === undefined ? 0 : marksUpTo(marks, after);
    let mark = upTo > 0 ? upTo - 1 : marks[0]?.[1] === 0 ? 0 : -1;
    const found: string[] = [];
    let start = mark < 0 ? 0 : (marks[mark] as [string, number])[1];
    while (found.length <= limit && start < entry.bytes) {
      const last = mark + stretches;
      const end = last < marks.length ? (marks[last] as [string, number])[1] : entry.bytes;
      const stream = await this.blobs.streamRange(key, start, end);
      if (!stream) return undefined;
      for (const id of idsOf((await bytesOf(stream)).toString("utf8"))) {
        if (after !== undefined && compareUtf8(id, after) <= 0) continue;
        found.push(id);
        if (found.length > limit) break;
      }
      mark = last;
      start = end;
    }
    if (found.length > limit) {
      const items = found.slice(0, limit);
      return { items, next: items[items.length - 1] as string };
    }
    return { items: found };
  }

  async *all(tenantId: string, datasetId: string, version: number, segmentId: string): AsyncIterable<string> {
    const index = await this.indexOf(tenantId, datasetId, version);
    const stream = index
      ? index.segments[segmentId]
        ? await this.blobs.stream(objectKeys.memberPage(tenantId, datasetId, version, segmentId))
        : (async function* () {})()
      : undefined;
    if (!stream) {
      throw new RetryableError(
        "MEMBER_PAGES_MISSING",
        `Version ${version} has no member pages of ${segmentId}`,
      );
    }
    let rest = "";
    const decoder = new TextDecoder("utf-8");
    for await (const chunk of stream) {
      const text = rest + decoder.decode(chunk, { stream: true });
      const cut = text.lastIndexOf("\n");
      rest = text.slice(cut + 1);
      if (cut >= 0) yield* idsOf(text.slice(0, cut));
    }
    const tail = rest + decoder.decode();
    if (tail.trim() !== "") yield* idsOf(tail);
  }
}
