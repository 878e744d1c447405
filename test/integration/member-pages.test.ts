/**
 * Member pages in S3 (shared/pipeline/member-pages.ts, read by shared/store/member-pages.ts) on the S3 server,
 * and the members route over them with DynamoDB Local:
 *  - pages of every size (1, 7, 999, 1,000) concatenate to the segment's members in the UTF-8 byte order of
 *    their ids, the order worked out here a second way (Buffer.compare over each id's bytes), across the
 *    index's marks; a cursor between two ids, before the first, past the last and on a mark id starts
 *    right after it; ids with a newline, a quote, a backslash, é and 😀 come back as they went in, and
 *    U+FF5A sorts before 😀 (UTF-16 order has them the other way round);
 *  - a whole segment streams in the same order;
 *  - an erasure's blanked line (sharded datasets keep their version) is skipped and offsets stay right;
 *  - a page requested while a new version commits is wholly the version it read META at; its cursor is
 *    stale afterwards; a version without pages answers 409 MEMBER_PAGES_MISSING;
 *  - a run writes no membership item (`#S#`) to the table, and its member pages equal its outputs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { memberRoutes } from "../../shared/api/members";
import type { ApiRequest } from "../../shared/http/api";
import { CursorCodec } from "../../shared/http/cursor";
import {
  eraseFromMemberPages,
  MARK_EVERY,
  memberIndexSchema,
  writeMembershipAndPages,
} from "../../shared/pipeline/member-pages";
import { decodeOutputs, type Outputs } from "../../shared/pipeline/outputs";
import { runUpload } from "../../shared/pipeline/run";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { objectKeys } from "../../shared/store/keys";
import { S3MemberPages } from "../../shared/store/member-pages";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { stageUpload } from "../support/uploads";

const T = "t";
const FIXTURE = join(import.meta.dirname, "../fixtures/e2e/transactions.csv");
const AS_OF = "2025-10-01";
/** The segment the second upload's new customer joins. */
const RACED = "lifecycle:new";

let s3: S3Client;
let bucket: string;
let table: string;
let doc: DynamoDBDocumentClient;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  bucket = await createTestBucket(clients.s3, uniqueName("member-pages"));
  table = await createTestTable(clients.dynamo, uniqueName("member-pages"));
  doc = DynamoDBDocumentClient.from(clients.dynamo);
  store = new DynamoDatasetStore(doc, table);
  blobs = new S3BlobStore(clients.s3, bucket);
});

/** Byte order of UTF-8, worked out on the bytes themselves. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

const ODD_IDS = ["a\nb", 'q"uote', "back\\slash", "é", "e\u0301", "😀", "\uff5a", "tab\there", " lead"];

/** 2,600 customers: generated ids and the odd ones; every customer in rfm:all, one in ten in rfm:some. */
function syntheticOutputs(): { outputs: Outputs; all: string[]; some: string[] } {
  const ids = [...ODD_IDS];
  for (let i = 0; i < 2600 - ODD_IDS.length; i++) ids.push(`c${((i * 7919) % 100_000).toString(36)}-${i}`);
  const outputs: Outputs = new Map();
  const some: string[] = [];
  ids.forEach((id, i) => {
    const segments = i % 10 === 0 ? ["rfm:all", "rfm:some"] : ["rfm:all"];
    if (i % 10 === 0) some.push(id);
    outputs.set(id, JSON.stringify({ rfm: "111", segments }));
  });
  return { outputs, all: [...ids].sort(byBytes), some: some.sort(byBytes) };
}

async function pageAll(pages: S3MemberPages, dataset: string, segment: string, limit: number) {
  const ids: string[] = [];
  let after: string | undefined;
  let calls = 0;
  for (;;) {
    const page = await pages.list(T, dataset, 1, segment, limit, after);
    if (!page) throw new Error("no pages");
    calls++;
    expect(page.items.length).toBeLessThanOrEqual(limit);
    ids.push(...page.items);
    if (page.next === undefined) break;
    expect(page.items).toHaveLength(limit);
    expect(page.next).toBe(page.items.at(-1));
    after = page.next;
  }
  return { ids, calls };
}

describe("member pages", () => {
  it("page a segment in UTF-8 byte order at every page size, from any cursor, with any id", async () => {
    const { outputs, all, some } = syntheticOutputs();
    await writeMembershipAndPages(blobs, T, "synthetic", 1, outputs, ["rfm:all", "rfm:some", "rfm:none"]);
    const pages = new S3MemberPages(blobs);

    // The byte order differs from UTF-16's here: U+FF5A before 😀, which JavaScript's sort puts first.
    expect(all.indexOf("\uff5a")).toBeLessThan(all.indexOf("😀"));
    expect([...all].sort().indexOf("\uff5a")).toBeGreaterThan([...all].sort().indexOf("😀"));

    // The index: 3 marks over 2,600 members, each at its id's line.
    const index = memberIndexSchema.parse(
      JSON.parse(
        Buffer.from((await blobs.get(objectKeys.memberIndex(T, "synthetic", 1))) as Uint8Array).toString(),
      ),
    );
    expect(index.segments["rfm:all"]?.count).toBe(2600);
    expect(MARK_EVERY).toBe(1000);
    expect(index.segments["rfm:all"]?.marks.map(([id]) => id)).toEqual([all[0], all[1000], all[2000]]);
    expect(index.segments["rfm:none"]).toEqual({ count: 0, bytes: 0, marks: [] });
    const object = Buffer.from(
      (await blobs.get(objectKeys.memberPage(T, "synthetic", 1, "rfm:all"))) as Uint8Array,
    );
    expect(object.toString("utf8")).toBe(all.map((id) => `${JSON.stringify(id)}\n`).join(""));
    for (const [id, offset] of index.segments["rfm:all"]?.marks ?? [])
      expect(object.toString("utf8", offset, offset + Buffer.byteLength(JSON.stringify(id)))).toBe(
        JSON.stringify(id),
      );

    for (const limit of [7, 999, 1000])
      expect((await pageAll(pages, "synthetic", "rfm:all", limit)).ids).toEqual(all);
    const ones = await pageAll(pages, "synthetic", "rfm:some", 1);
    expect(ones.ids).toEqual(some);
    expect(ones.calls).toBe(some.length);
    expect(await pages.list(T, "synthetic", 1, "rfm:none", 10)).toEqual({ items: [] });
    expect(await pages.list(T, "synthetic", 1, "rfm:unknown", 10)).toEqual({ items: [] });

    // Cursors: before the first id, between two ids, on a mark's id, on the last, past every id.
    const from = async (after: string, limit = 5) =>
      (await pages.list(T, "synthetic", 1, "rfm:all", limit, after))?.items;
    expect(await from("")).toEqual(all.slice(0, 5));
    expect(await from(`${all[1500]}\u0000`)).toEqual(all.slice(1501, 1506));
    expect(await from(all[1000] as string)).toEqual(all.slice(1001, 1006));
    expect(await from(all[999] as string, 1000)).toEqual(all.slice(1000, 2000));
    expect(await from(all[1998] as string, 1000)).toEqual(all.slice(1999));
    expect(await from(all[2599] as string)).toEqual([]);
    expect(await from("\u{10ffff}")).toEqual([]);
    expect(await pages.list(T, "synthetic", 1, "rfm:all", 3, all[2596])).toEqual({ items: all.slice(2597) });

    // The odd ids come back as they went in.
    const served = (await pageAll(pages, "synthetic", "rfm:all", 1000)).ids;
    for (const id of ODD_IDS) expect(served).toContain(id);

    // The whole segment, streamed.
    const streamed: string[] = [];
    for await (const id of pages.all(T, "synthetic", 1, "rfm:all")) streamed.push(id);
    expect(streamed).toEqual(all);

    // No pages for a version that has none.
    expect(await pages.list(T, "synthetic", 2, "rfm:all", 10)).toBeUndefined();
    await expect(async () => {
      for await (const _ of pages.all(T, "synthetic", 2, "rfm:all")) break;
    }).rejects.toMatchObject({ code: "MEMBER_PAGES_MISSING" });
  });

  it("skip a line an erasure blanked, keeping every offset, and move a mark off it", async () => {
    const { outputs, all } = syntheticOutputs();
    await writeMembershipAndPages(blobs, T, "erased", 1, outputs, ["rfm:all", "rfm:some"]);
    const warm = new S3MemberPages(blobs);
    // A warm function that read the index before the erasure.
    expect((await warm.list(T, "erased", 1, "rfm:all", 1))?.items).toEqual([all[0]]);
    const gone = [all[1000] as string, "😀", all[0] as string];
    for (const id of gone) {
      const segments = (JSON.parse(outputs.get(id) as string) as { segments: string[] }).segments;
      expect(await eraseFromMemberPages(blobs, T, "erased", 1, id, segments)).toBe(segments.length + 1);
    }
    // Erased twice: nothing left to blank.
    expect(await eraseFromMemberPages(blobs, T, "erased", 1, "😀", ["rfm:all"])).toBe(0);
    const left = all.filter((id) => !gone.includes(id));
    const object = Buffer.from(
      (await blobs.get(objectKeys.memberPage(T, "erased", 1, "rfm:all"))) as Uint8Array,
    );
    expect(object.length).toBe(all.reduce((n, id) => n + Buffer.byteLength(`${JSON.stringify(id)}\n`), 0));
    for (const id of gone) expect(object.includes(Buffer.from(JSON.stringify(id)))).toBe(false);
    const index = memberIndexSchema.parse(
      JSON.parse(
        Buffer.from((await blobs.get(objectKeys.memberIndex(T, "erased", 1))) as Uint8Array).toString(),
      ),
    );
    expect(index.segments["rfm:all"]?.count).toBe(2597);
    expect(index.segments["rfm:all"]?.marks.map(([id]) => id)).toEqual([all[1], all[1001], all[2000]]);
    for (const pages of [warm, new S3MemberPages(blobs)]) {
      // Pages of 1 from the start and across the second mark (both marked lines blanked), then whole pages
      // of 7 and 1,000.
      for (const [limit, start, upTo] of [
        [1, undefined, 12],
        [1, all[990], 20],
        [7, undefined, left.length],
        [1000, undefined, left.length],
      ] as const) {
        const ids: string[] = [];
        let after: string | undefined = start;
        do {
          const page = await pages.list(T, "erased", 1, "rfm:all", limit, after);
          ids.push(...(page?.items ?? []));
          after = page?.next;
        } while (after !== undefined && ids.length < upTo);
        const first = start === undefined ? 0 : left.indexOf(start) + 1;
        expect(ids, `pages of ${limit}`).toEqual(left.slice(first, first + upTo));
      }
      expect((await pages.list(T, "erased", 1, "rfm:all", 3, all[999]))?.items).toEqual([
        all[1001],
        all[1002],
        all[1003],
      ]);
    }
  });
});

describe("the members route over a run's pages", () => {
  const cursors = new CursorCodec("member-pages-test");
  const request = (datasetId: string, segmentId: string, query: Record<string, string> = {}): ApiRequest => ({
    routeId: "listSegmentMembers",
    params: { datasetId, segmentId },
    query,
    body: undefined,
    tenantId: T,
    requestId: "r",
  });

  async function outputsOf(datasetId: string, version: number) {
    return decodeOutputs((await blobs.get(objectKeys.outputs(T, datasetId, version))) as Uint8Array);
  }
  /** A segment's members worked out from a version's outputs, in byte order. */
  async function expectedMembers(datasetId: string, version: number, segmentId: string) {
    const outputs = await outputsOf(datasetId, version);
    return [...outputs]
      .filter(([, view]) => (JSON.parse(view) as { segments: string[] }).segments.includes(segmentId))
      .map(([id]) => id)
      .sort(byBytes);
  }

  it("writes no membership item, and serves a page wholly of the version it read while the next commits", async () => {
    const body = readFileSync(FIXTURE);
    const first = await runUpload(
      { store, blobs },
      await stageUpload({ store, s3, bucket }, "shop", body, { settings: { asOf: AS_OF } }),
    );
    expect(first.outcome).toBe("succeeded");

    // The table holds customer items and no membership item.
    const items = (await doc.send(new ScanCommand({ TableName: table }))).Items ?? [];
    const pks = items.map((i) => String(i.pk));
    expect(pks.filter((pk) => pk.startsWith(`T#${T}#D#shop#C#`)).length).toBe(
      (await outputsOf("shop", 1)).size,
    );
    expect(pks.filter((pk) => pk.includes("#S#"))).toEqual([]);

    // A second upload: a new customer, who joins RACED (and so changes its members).
    const more = Buffer.from(
      "customer_id,order_id,order_date,amount,channel\nZ99,O999,2025-09-30,42.00,web\n",
    );
    const second = await stageUpload({ store, s3, bucket }, "shop", more, { settings: { asOf: AS_OF } });
    const v1Members = await expectedMembers("shop", 1, RACED);
    expect(v1Members).not.toContain("Z99");
    // The route reads META at version 1; the run commits version 2 before the route reads the pages.
    let raced = false;
    const racing = memberRoutes({
      store: {
        getDataset: async (tenantId, datasetId) => {
          const meta = await store.getDataset(tenantId, datasetId);
          if (!raced) {
            raced = true;
            expect((await runUpload({ store, blobs }, second)).outcome).toBe("succeeded");
          }
          return meta;
        },
      },
      members: new S3MemberPages(blobs),
      cursors,
    });
    const answer = await racing.listSegmentMembers?.(request("shop", RACED, { limit: "1000" }));
    expect((await store.getDataset(T, "shop"))?.current?.version).toBe(2);
    expect(answer).toMatchObject({
      status: 200,
      body: { version: 1, customerIds: v1Members, nextCursor: null },
    });
    // Positive control: version 2 has Z99 in the segment.
    expect(await expectedMembers("shop", 2, RACED)).toContain("Z99");

    // Every segment's pages of both versions are those versions' members.
    const pages = new S3MemberPages(blobs);
    const segments = (await store.getDataset(T, "shop"))?.current?.segments ?? [];
    for (const s of segments) {
      for (const version of [1, 2]) {
        expect((await pages.list(T, "shop", version, s.id, 1000))?.items, s.id).toEqual(
          await expectedMembers("shop", version, s.id),
        );
      }
    }

    // Through the route at version 2: pages of 1 with cursors give the segment; a version-1 cursor is stale.
    const routes = memberRoutes({ store, members: pages, cursors });
    const segmentId = RACED;
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const answer = await routes.listSegmentMembers?.(
        request("shop", segmentId, { limit: "1", ...(cursor ? { cursor } : {}) }),
      );
      const body = answer?.body as { version: number; customerIds: string[]; nextCursor: string | null };
      expect(body.version).toBe(2);
      ids.push(...body.customerIds);
      cursor = body.nextCursor ?? undefined;
    } while (cursor);
    expect(ids).toEqual(await expectedMembers("shop", 2, segmentId));
    const stale = cursors.encode(`members|${T}|shop|${segmentId}`, { v: 1, after: "" });
    await expect(
      routes.listSegmentMembers?.(request("shop", segmentId, { cursor: stale })),
    ).rejects.toMatchObject({
      status: 409,
      code: "CURSOR_STALE",
    });

    // A version without pages (committed before runs wrote them) answers 409 MEMBER_PAGES_MISSING.
    await blobs.delete([objectKeys.memberIndex(T, "shop", 2)]);
    await expect(
      memberRoutes({ store, members: new S3MemberPages(blobs), cursors }).listSegmentMembers?.(
        request("shop", segmentId),
      ),
    ).rejects.toMatchObject({ status: 409, code: "MEMBER_PAGES_MISSING" });
  });
});
