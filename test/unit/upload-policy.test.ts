/**
 * Oversized uploads are refused by S3 itself (reliability property 7): the presigned POST that
 * `POST /datasets/{datasetId}/uploads` hands out is signed with a policy S3 enforces, limiting the object to
 * 1 byte .. MAX_UPLOAD_BYTES (S3 answers 400 EntityTooLarge beyond it), to exactly the key the service chose,
 * and to 15 minutes. The local S3 server does not enforce policies, so the signed policy itself is checked.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { writeRoutes } from "../../shared/api/write";
import type { DatasetStore } from "../../shared/pipeline/ports";
import { MAX_UPLOAD_BYTES, UPLOAD_URL_TTL_SECONDS } from "../../shared/resources";
import { S3UploadSigner } from "../../shared/store/s3";

const s3 = new S3Client({
  region: "us-east-1",
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
});

/** The store calls createUpload makes, doing nothing. */
const store = { ensureDataset: async () => ({}), putUpload: async () => {} } as unknown as DatasetStore;

interface Policy {
  expiration: string;
  conditions: unknown[];
}

describe("the presigned upload", () => {
  it("is limited by a signed policy to 1 byte .. MAX_UPLOAD_BYTES, to its own key and to 15 minutes", async () => {
    const now = new Date("2025-10-02T12:00:00.000Z");
    const routes = writeRoutes({ store, signer: new S3UploadSigner(s3, "bucket"), now: () => now });
    const createUpload = routes.createUpload;
    if (!createUpload) throw new Error("no createUpload core");
    const answer = await createUpload({
      routeId: "createUpload",
      params: { datasetId: "shop" },
      query: {},
      body: { fileName: "orders.csv" },
      tenantId: "t1",
      requestId: "r",
    });
    expect(answer.status).toBe(201);
    const body = answer.body as { key: string; maxBytes: number; fields: Record<string, string> };
    expect(body.maxBytes).toBe(MAX_UPLOAD_BYTES);
    expect(body.key).toMatch(/^uploads\/t1\/shop\/[0-9a-f-]{36}\/orders\.csv$/);

    expect(body.fields.Policy).toBeDefined();
    const policy = JSON.parse(Buffer.from(body.fields.Policy as string, "base64").toString("utf8")) as Policy;
    expect(policy.conditions).toContainEqual(["content-length-range", 1, MAX_UPLOAD_BYTES]);
    expect(policy.conditions).toContainEqual(["eq", "$key", body.key]);
    expect(policy.conditions).toContainEqual({ bucket: "bucket" });
    // The policy expires with the link; createPresignedPost counts from the signing clock, not `now`.
    const expires = Date.parse(policy.expiration) - Date.now();
    expect(expires).toBeGreaterThan((UPLOAD_URL_TTL_SECONDS - 60) * 1000);
    expect(expires).toBeLessThanOrEqual(UPLOAD_URL_TTL_SECONDS * 1000);
    // The fields carry the signature S3 checks the policy against.
    expect(body.fields["X-Amz-Signature"]).toMatch(/^[0-9a-f]{64}$/);
  });
});
