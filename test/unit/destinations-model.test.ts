/**
 * The destination model and the request body: id formats, S3 bucket names by S3's documented rules, key
 * prefixes, and the body's cross-field rules (the kind's settings present, no other kind's), each refusal
 * naming its field.
 */
import { describe, expect, it } from "vitest";
import { destinationBodySchema } from "../../shared/api/destinations";
import {
  bucketNameSchema,
  destinationIdSchema,
  keyPrefixSchema,
  newDestinationId,
  newWebhookId,
  webhookIdFor,
} from "../../shared/destinations/model";

describe("ids", () => {
  it("derives a delivery's webhook id from its destination, run, segment and part, the same on every planning", () => {
    const id = webhookIdFor("dst_aaaaaaaaaaaaaaaaaaaa", "20251001T000000Z-r1", "rfm:champions", 2);
    // Worked out with Python's hashlib: the low 5 bits of the first 20 bytes of the SHA-256, in base32.
    expect(id).toBe("msg_fm73wgnvooftsbav67s7");
    expect(webhookIdFor("dst_aaaaaaaaaaaaaaaaaaaa", "20251001T000000Z-r1", "rfm:champions", 2)).toBe(id);
    const others = [
      webhookIdFor("dst_baaaaaaaaaaaaaaaaaaa", "20251001T000000Z-r1", "rfm:champions", 2),
      webhookIdFor("dst_aaaaaaaaaaaaaaaaaaaa", "20251001T000000Z-r2", "rfm:champions", 2),
      webhookIdFor("dst_aaaaaaaaaaaaaaaaaaaa", "20251001T000000Z-r1", "rfm:loyal", 2),
      webhookIdFor("dst_aaaaaaaaaaaaaaaaaaaa", "20251001T000000Z-r1", "rfm:champions", 1),
    ];
    expect(new Set([id, ...others]).size).toBe(5);
  });

  it("makes destination ids of dst_ + 20 base32 characters, and webhook ids of msg_ + 20", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newDestinationId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(destinationIdSchema.safeParse(id).success).toBe(true);
    expect(newWebhookId()).toMatch(/^msg_[a-z2-7]{20}$/);
    // Every base32 character appears: the 5 bits of each byte are used.
    const chars = new Set([...ids].flatMap((id) => [...id.slice(4)]));
    expect([...chars].sort().join("")).toBe("234567abcdefghijklmnopqrstuvwxyz");
    for (const bad of [
      "dst_",
      "dst_AAAAAAAAAAAAAAAAAAAA",
      "dst_aaaaaaaaaaaaaaaaaaa1",
      "x",
      "dst_../../aaaaaaaaaaaaaa",
    ])
      expect(destinationIdSchema.safeParse(bad).success, bad).toBe(false);
  });
});

describe("bucket names", () => {
  it("accepts what S3 accepts and refuses what S3 refuses", () => {
    for (const ok of ["abc", "my-bucket.v2", "a".repeat(63), "1bucket"])
      expect(bucketNameSchema.safeParse(ok).success, ok).toBe(true);
    for (const bad of [
      "ab",
      "a".repeat(64),
      "My-Bucket",
      "my_bucket",
      "-bucket",
      "bucket-",
      "my..bucket",
      "192.168.1.1",
      "xn--bucket",
      "sthree-bucket",
      "bucket-s3alias",
      "bucket--ol-s3",
    ])
      expect(bucketNameSchema.safeParse(bad).success, bad).toBe(false);
  });

  it("ends a prefix with '/' and refuses '..' and a leading '/'", () => {
    expect(keyPrefixSchema.parse("")).toBe("");
    expect(keyPrefixSchema.parse("crm")).toBe("crm/");
    expect(keyPrefixSchema.parse("crm/exports/")).toBe("crm/exports/");
    for (const bad of ["/crm", "a/../b", "..", "a b", "a\\b"])
      expect(keyPrefixSchema.safeParse(bad).success, bad).toBe(false);
  });
});

describe("destination body", () => {
  const base = {
    name: "CRM",
    segments: ["rfm:champions", "list:vip", "rule:big", "cluster:c1", "lifecycle:active"],
  };

  it("takes each kind with its own settings, with defaults", () => {
    expect(
      destinationBodySchema.parse({ ...base, kind: "webhook", webhook: { url: "https://x.example/h" } }),
    ).toEqual({ ...base, kind: "webhook", includeOptedOut: false, webhook: { url: "https://x.example/h" } });
    expect(destinationBodySchema.parse({ ...base, kind: "s3", s3: { bucket: "abc" } }).s3).toEqual({
      bucket: "abc",
      prefix: "",
      format: "csv",
    });
    expect(
      destinationBodySchema.parse({
        ...base,
        kind: "audience",
        audience: { platform: "google", bucket: "abc" },
      }).audience,
    ).toEqual({ platform: "google", bucket: "abc", prefix: "" });
  });

  it("refuses a kind without its settings or with another kind's, naming the field", () => {
    const paths = (body: unknown) =>
      destinationBodySchema.safeParse(body).error?.issues.map((i) => i.path.join(".")) ?? [];
    expect(paths({ ...base, kind: "webhook" })).toEqual(["webhook"]);
    expect(paths({ ...base, kind: "s3", s3: { bucket: "abc" }, webhook: { url: "https://x" } })).toEqual([
      "webhook",
    ]);
    expect(paths({ ...base, kind: "audience", audience: { platform: "tiktok", bucket: "abc" } })).toEqual([
      "audience.platform",
    ]);
    expect(paths({ ...base, kind: "s3", s3: { bucket: "abc", expectedBucketOwner: "12345" } })).toEqual([
      "s3.expectedBucketOwner",
    ]);
    expect(paths({ ...base, segments: ["rfm:champions", "vip"], kind: "s3", s3: { bucket: "abc" } })).toEqual(
      ["segments.1"],
    );
    expect(paths({ ...base, name: "  ", kind: "s3", s3: { bucket: "abc" } })).toEqual(["name"]);
    expect(paths({ ...base, kind: "s3", s3: { bucket: "abc", region: "x" } })).toEqual(["s3"]);
  });
});
