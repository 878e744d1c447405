/**
 * Member-list and audience files written to a bucket on the local S3 server: content, manifest (counts,
 * bytes and SHA-256 of what S3 holds), opt-outs, CSV defusing, the bucket-owner parameters S3 receives, and
 * the erasure rewrite of every file the service still holds.
 */
import { createHash } from "node:crypto";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import type { FileContacts, FileDestination, MemberSource } from "../../shared/destinations/member-files";
import {
  eraseFromMemberFiles,
  heldFilesPrefix,
  manifestSchema,
  writeMemberFiles,
} from "../../shared/destinations/member-files";
import { S3ExternalBucketWriter } from "../../shared/store/external-bucket";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, testClients } from "../support/aws";

const { s3 } = testClients();
let serviceBucket: string;
let targetBucket: string;

beforeAll(async () => {
  serviceBucket = await createTestBucket(s3);
  targetBucket = await createTestBucket(s3);
});

async function read(key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: targetBucket, Key: key }));
  return (await out.Body?.transformToString("utf8")) ?? "";
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

const SEGMENTS: Record<string, string[]> = {
  "rfm:champions": ["C1", "C2", "=HYPERLINK(1)", "a,b", "C9"],
  "rule:vip": ["C2", "C9"],
};
const members: MemberSource = async function* (segment) {
  yield* SEGMENTS[segment] ?? [];
};
/** C9 opted out; C1 has both addresses, C2 an email only, "a,b" a national phone only. */
const contacts: FileContacts = {
  optedOut: (id) => id === "C9",
  email: (id) =>
    ({ C1: " Jane.Doe+ads@GMail.com ", C2: "John_Smith@gmail.com", C9: "opted@out.example" })[id],
  phone: (id) => ({ C1: "+1 (650) 555-1212", "a,b": "(650) 555-1212", C9: "+16505550000" })[id],
};

function destination(overrides: Partial<FileDestination>): FileDestination {
  return {
    tenantId: "t1",
    datasetId: "shop",
    destinationId: `dst_${Math.random().toString(36).slice(2, 12).padEnd(20, "a")}`,
    kind: "s3",
    segments: ["rfm:champions", "rule:vip"],
    includeOptedOut: false,
    s3: { bucket: targetBucket, prefix: "exports/crm/", format: "csv" },
    ...overrides,
  };
}

function deps() {
  return {
    files: new S3ExternalBucketWriter(s3),
    blobs: new S3BlobStore(s3, serviceBucket),
    now: () => new Date("2026-12-07T05:00:00.000Z"),
  };
}

const run = { runId: "20261207T050000Z-r1", version: 3, asOf: "2026-12-07" };

describe("s3 member lists", () => {
  it("writes each followed segment as CSV, defused and without opted-out customers, and a manifest of what S3 holds", async () => {
    const dest = destination({});
    const manifest = await writeMemberFiles(deps(), dest, { run, members, contacts });

    const folder = "exports/crm/shop/20261207T050000Z-r1/";
    const champions = await read(`${folder}rfm:champions.csv`);
    expect(champions).toBe(`customer_id\r\nC1\r\nC2\r\n'=HYPERLINK(1)\r\n"a,b"\r\n`);
    expect(await read(`${folder}rule:vip.csv`)).toBe("customer_id\r\nC2\r\n");

    const stored = manifestSchema.parse(JSON.parse(await read(`${folder}manifest.json`)));
    expect(stored).toEqual(manifest);
    expect(stored).toMatchObject({ runId: run.runId, version: 3, asOf: "2026-12-07", format: "csv" });
    expect(stored.files.map((f) => [f.segment, f.count, f.optedOut])).toEqual([
      ["rfm:champions", 4, 1],
      ["rule:vip", 1, 1],
    ]);
    for (const file of stored.files) {
      const text = await read(file.key);
      expect(file.bytes).toBe(Buffer.byteLength(text));
      expect(file.sha256).toBe(sha256(text));
    }
  });

  it("writes JSON lines, and opted-out customers too when the destination says so", async () => {
    const dest = destination({
      includeOptedOut: true,
      s3: { bucket: targetBucket, prefix: "", format: "jsonl" },
    });
    const manifest = await writeMemberFiles(deps(), dest, { run, members, contacts });
    const text = await read(`shop/${run.runId}/rfm:champions.jsonl`);
    expect(text.endsWith("\n")).toBe(true);
    const ids = text
      .trimEnd()
      .split("\n")
      .map((line) => (JSON.parse(line) as { customer_id: string }).customer_id);
    expect(ids).toEqual(SEGMENTS["rfm:champions"]);
    expect(manifest.files[0]).toMatchObject({ count: 5, optedOut: 0 });
    expect(manifest.format).toBe("jsonl");
  });

  it("sends the bucket-owner-full-control ACL, and ExpectedBucketOwner when the destination names the owner", async () => {
    const sent: Array<Record<string, unknown>> = [];
    const client = testClients().s3;
    client.middlewareStack.add(
      (next) => async (args) => {
        sent.push(args.input as Record<string, unknown>);
        return next(args);
      },
      { step: "initialize", name: "recordInput" },
    );
    const dest = destination({
      s3: { bucket: targetBucket, prefix: "owned", format: "csv", expectedBucketOwner: "123456789012" },
    });
    await writeMemberFiles({ ...deps(), files: new S3ExternalBucketWriter(client) }, dest, {
      run,
      members,
      contacts,
    });
    expect(sent.map((input) => input.Key)).toEqual([
      `owned/shop/${run.runId}/rfm:champions.csv`,
      `owned/shop/${run.runId}/rule:vip.csv`,
      `owned/shop/${run.runId}/manifest.json`,
    ]);
    for (const input of sent) {
      expect(input).toMatchObject({ ACL: "bucket-owner-full-control", ExpectedBucketOwner: "123456789012" });
    }
  });
});

describe("audience files", () => {
  it("holds only the hashes of the normalized addresses, and counts who has none", async () => {
    const dest = destination({
      kind: "audience",
      s3: undefined,
      audience: { platform: "google", bucket: targetBucket, prefix: "ads" },
    });
    const manifest = await writeMemberFiles(deps(), dest, { run, members, contacts });
    const text = await read(`ads/shop/${run.runId}/rfm:champions.csv`);
    // Google: gmail dots and +suffix removed; E.164 phone. "=HYPERLINK(1)" has no address, "a,b" only a
    // national number: both left out and counted.
    expect(text).toBe(
      [
        "Email,Phone",
        `${sha256("janedoe@gmail.com")},${sha256("+16505551212")}`,
        // Underscores are no dots: John_Smith keeps its "_".
        `${sha256("john_smith@gmail.com")},`,
        "",
      ].join("\r\n"),
    );
    expect(text).not.toMatch(/@/);
    expect(manifest.platform).toBe("google");
    expect(manifest.files[0]).toMatchObject({ count: 2, optedOut: 1, withoutContact: 2 });
  });

  it("writes Meta's columns and normalization", async () => {
    const dest = destination({
      kind: "audience",
      s3: undefined,
      audience: { platform: "meta", bucket: targetBucket, prefix: "meta" },
    });
    await writeMemberFiles(deps(), dest, { run, members, contacts });
    const text = await read(`meta/shop/${run.runId}/rfm:champions.csv`);
    expect(text.split("\r\n").slice(0, 3)).toEqual([
      "EMAIL,PHONE",
      `${sha256("jane.doe+ads@gmail.com")},${sha256("16505551212")}`,
      // Meta's documented example digest of John_Smith@gmail.com.
      "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f,",
    ]);
  });
});

describe("erasure", () => {
  it("rewrites the files of every run the service holds without the customer, and their manifests", async () => {
    const dest = destination({
      datasetId: "erasing",
      s3: { bucket: targetBucket, prefix: "erase", format: "csv" },
    });
    const audience = destination({
      datasetId: "erasing",
      kind: "audience",
      s3: undefined,
      audience: { platform: "meta", bucket: targetBucket, prefix: "erase-ads" },
    });
    const second = { runId: "20261208T050000Z-r2", version: 4, asOf: "2026-12-08" };
    for (const r of [run, second]) {
      await writeMemberFiles(deps(), dest, { run: r, members, contacts });
      await writeMemberFiles(deps(), audience, { run: r, members, contacts });
    }

    // C2 (who has an email) is in both segments of both runs: four files of each destination.
    expect(await eraseFromMemberFiles(deps(), "t1", "erasing", "C2")).toBe(8);
    for (const r of [run, second]) {
      expect(await read(`erase/erasing/${r.runId}/rfm:champions.csv`)).toBe(
        `customer_id\r\nC1\r\n'=HYPERLINK(1)\r\n"a,b"\r\n`,
      );
      expect(await read(`erase/erasing/${r.runId}/rule:vip.csv`)).toBe("customer_id\r\n");
      const ads = await read(`erase-ads/erasing/${r.runId}/rfm:champions.csv`);
      expect(ads).not.toContain(sha256("john_smith@gmail.com"));
      expect(ads.split("\r\n")).toHaveLength(3);
      expect(await read(`erase-ads/erasing/${r.runId}/rule:vip.csv`)).toBe("EMAIL,PHONE\r\n");
      for (const prefix of ["erase", "erase-ads"]) {
        const manifest = manifestSchema.parse(
          JSON.parse(await read(`${prefix}/erasing/${r.runId}/manifest.json`)),
        );
        for (const file of manifest.files) {
          const text = await read(file.key);
          expect(file.sha256).toBe(sha256(text));
          expect(file.bytes).toBe(Buffer.byteLength(text));
        }
        if (prefix === "erase") expect(manifest.files.map((f) => f.count)).toEqual([3, 0]);
      }
    }
    // The service's own record of the lines holds the customer no more, and a second pass finds nothing.
    const service = new S3BlobStore(s3, serviceBucket);
    const records = await service.list(heldFilesPrefix("t1", "erasing"));
    // Per destination: the index and a slot for each of the two runs.
    expect(records).toHaveLength(6);
    for (const key of records) {
      const text = Buffer.from((await service.get(key)) ?? new Uint8Array()).toString("utf8");
      expect(text, key).not.toContain('"C2"');
      expect(text, key).not.toContain(sha256("john_smith@gmail.com"));
    }
    expect(await eraseFromMemberFiles(deps(), "t1", "erasing", "C2")).toBe(0);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: targetBucket, Prefix: "erase/" }));
    expect(listed.Contents?.length).toBe(6);
  });
});

describe("the record of files held", () => {
  it("keeps the last five runs of a destination, each run in its own slot, the oldest slot reused", async () => {
    const dest = destination({
      datasetId: "slots",
      segments: ["rule:vip"],
      s3: { bucket: targetBucket, prefix: "slots", format: "csv" },
    });
    const runs = [1, 2, 3, 4, 5, 6, 7].map((n) => ({
      runId: `2026120${n}T050000Z-s${n}`,
      version: n,
      asOf: `2026-12-0${n}`,
    }));
    for (const r of runs) await writeMemberFiles(deps(), dest, { run: r, members, contacts });
    // Written again (a retried run), a run keeps its slot.
    await writeMemberFiles(deps(), dest, { run: runs[6] as (typeof runs)[number], members, contacts });

    const service = new S3BlobStore(s3, serviceBucket);
    const keys = (await service.list(heldFilesPrefix("t1", "slots"))).sort();
    expect(keys.map((k) => k.split("/").at(-1))).toEqual([
      "index.json",
      "slot-0.json",
      "slot-1.json",
      "slot-2.json",
      "slot-3.json",
      "slot-4.json",
    ]);
    const index = JSON.parse(
      Buffer.from((await service.get(keys[0] as string)) ?? new Uint8Array()).toString("utf8"),
    ) as { runs: Array<{ runId: string; slot: number }> };
    expect(index.runs.map((r) => r.runId)).toEqual(
      runs
        .slice(2)
        .reverse()
        .map((r) => r.runId),
    );

    // An erasure rewrites the five runs held; the two oldest are the bucket owner's to expire.
    expect(await eraseFromMemberFiles(deps(), "t1", "slots", "C2")).toBe(5);
    for (const [i, r] of runs.entries()) {
      const text = await read(`slots/slots/${r.runId}/rule:vip.csv`);
      expect(text, r.runId).toBe(i < 2 ? "customer_id\r\nC2\r\n" : "customer_id\r\n");
    }
  });
});
