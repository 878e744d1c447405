/**
 * The local S3 server checks a presigned POST as S3 does before storing anything (scripts/emulators/
 * s3-post-policy.ts): a forged signature, an expired policy, a changed key, a file over the size range, a
 * field the policy does not name, another bucket and a form without a policy are each refused with S3's
 * error code, and nothing is written (the whole directory is compared before and after). A key with `..`
 * segments never writes outside the data directory, even under a policy that allows any key. The real
 * presigned POST the API hands out (S3UploadSigner) still stores its file and notifies.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postPolicySignature } from "../../scripts/emulators/s3-post-policy";
import { S3_SERVER_CREDENTIALS, type S3Server, startS3Server } from "../../scripts/emulators/s3-server";
import { S3UploadSigner } from "../../shared/store/s3";

const BUCKET = "uploads-bucket";
const OTHER = "other-bucket";

let outer: string;
let server: S3Server;
let s3: S3Client;
const created: string[] = [];

/** Every file under `dir`, relative to it. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

async function post(fields: Record<string, string>, body: string | Uint8Array, bucket = BUCKET) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", new Blob([body], { type: "text/csv" }), "orders.csv");
  const response = await fetch(`${server.endpoint}/${bucket}`, { method: "POST", body: form });
  const text = await response.text();
  return { status: response.status, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], text };
}

/**
 * Fields of a POST whose policy allows any key in BUCKET (the SDK always adds the key it was given as a
 * condition), signed as the SDK signs (the API's own POST above proves the signature function right).
 */
function anyKeyFields(): Record<string, string> {
  const now = new Date();
  const date = now.toISOString().slice(0, 10).replace(/-/g, "");
  const credential = `${S3_SERVER_CREDENTIALS.accessKeyId}/${date}/us-east-1/s3/aws4_request`;
  const amzDate = `${date}T000000Z`;
  const policy = Buffer.from(
    JSON.stringify({
      expiration: new Date(now.getTime() + 60_000).toISOString(),
      conditions: [
        { bucket: BUCKET },
        ["starts-with", "$key", ""],
        { "x-amz-algorithm": "AWS4-HMAC-SHA256" },
        { "x-amz-credential": credential },
        { "x-amz-date": amzDate },
      ],
    }),
  ).toString("base64");
  return {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": credential,
    "X-Amz-Date": amzDate,
    Policy: policy,
    "X-Amz-Signature": postPolicySignature(S3_SERVER_CREDENTIALS.secretAccessKey, date, "us-east-1", policy),
  };
}

/** Posts a form that must be refused with `status` and `code`, and checks that nothing was written. */
async function refused(
  fields: Record<string, string>,
  body: string | Uint8Array,
  status: number,
  code: string,
  bucket = BUCKET,
  key?: string,
) {
  const before = await files(outer);
  const answer = await post(key === undefined ? fields : { key, ...fields }, body, bucket);
  expect(answer, answer.text).toMatchObject({ status, code });
  expect(answer.text).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>/);
  expect(await files(outer)).toEqual(before);
}

beforeAll(async () => {
  outer = await mkdtemp(join(tmpdir(), "s3-post-test-"));
  server = await startS3Server({ directory: join(outer, "data"), buckets: [BUCKET, OTHER] });
  server.onObjectCreated((event) => {
    for (const record of event.Records)
      created.push(decodeURIComponent(record.s3.object.key.replace(/\+/g, " ")));
  });
  s3 = new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
    forcePathStyle: true,
  });
});

afterAll(async () => {
  s3.destroy();
  await server.stop();
  await rm(outer, { recursive: true, force: true });
});

const KEY = "uploads/demo/probe/u1/orders.csv";
const BODY = "customer_id,order_id,order_date,amount\nC1,O1,2025-01-02,10.00\n";

describe("presigned POST uploads to the local S3 server", () => {
  it("stores the API's own presigned POST and notifies", async () => {
    const { url, fields } = await new S3UploadSigner(s3, BUCKET).presignPost(KEY, 1024, 60);
    expect(url).toBe(`${server.endpoint}/${BUCKET}`);
    const answer = await post(fields, BODY);
    expect(answer.status, answer.text).toBe(204);
    const stored = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
    expect(await stored.Body?.transformToString()).toBe(BODY);
    const deadline = Date.now() + 60_000;
    while (!created.includes(KEY) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(created).toContain(KEY);
  });

  it("refuses a forged signature", async () => {
    const { fields } = await new S3UploadSigner(s3, BUCKET).presignPost(KEY, 1024, 60);
    const signature = fields["X-Amz-Signature"] as string;
    const forged = (signature[0] === "0" ? "1" : "0") + signature.slice(1);
    await refused({ ...fields, "X-Amz-Signature": forged }, BODY, 403, "SignatureDoesNotMatch");
    // Signed with another secret.
    const other = postPolicySignature("not-the-secret", "20250101", "us-east-1", fields.Policy as string);
    await refused({ ...fields, "X-Amz-Signature": other }, BODY, 403, "SignatureDoesNotMatch");
    // A policy changed after signing (a larger size range) keeps the old signature.
    const policy = JSON.parse(Buffer.from(fields.Policy as string, "base64").toString()) as {
      conditions: unknown[];
    };
    policy.conditions[0] = ["content-length-range", 1, 10 ** 9];
    const widened = Buffer.from(JSON.stringify(policy)).toString("base64");
    await refused({ ...fields, Policy: widened }, BODY, 403, "SignatureDoesNotMatch");
    // Another access key.
    const credential = (fields["X-Amz-Credential"] as string).replace(/^[^/]+/, "SOMEONE");
    await refused({ ...fields, "X-Amz-Credential": credential }, BODY, 403, "InvalidAccessKeyId");
  });

  it("refuses an expired policy", async () => {
    const { fields } = await createPresignedPost(s3, {
      Bucket: BUCKET,
      Key: KEY,
      Conditions: [["content-length-range", 1, 1024]],
      Expires: -60,
    });
    await refused(fields, BODY, 403, "AccessDenied");
  });

  it("refuses a changed key, and a key that leads out of the directory", async () => {
    const { fields } = await new S3UploadSigner(s3, BUCKET).presignPost(KEY, 1024, 60);
    await refused({ ...fields, key: "uploads/demo/probe/u1/other.csv" }, BODY, 403, "AccessDenied");
    await refused({ ...fields, key: "uploads/demo/probe/../../../../tmp/x.csv" }, BODY, 403, "AccessDenied");
  });

  it("never writes outside the data directory, even when the policy allows any key", async () => {
    const escapee = `escapee-${process.pid}-${Date.now()}.csv`;
    for (const key of [
      "uploads/demo/probe/../../../../x.csv",
      "../x.csv",
      "uploads/./x.csv",
      "uploads/demo/..",
      `uploads/${"../".repeat(40)}${tmpdir().slice(1)}/${escapee}`,
    ]) {
      await refused(anyKeyFields(), BODY, 400, "InvalidArgument", BUCKET, key);
    }
    expect(existsSync(join(outer, "x.csv._S3rver_object"))).toBe(false);
    expect(existsSync(join(tmpdir(), `${escapee}._S3rver_object`))).toBe(false);
    expect(await readdir(outer)).toEqual(["data"]);
    // The same hand-signed form with a plain key is stored: the refusals above are the key's.
    const answer = await post({ key: "uploads/plain.csv", ...anyKeyFields() }, BODY);
    expect(answer.status, answer.text).toBe(204);
  });

  it("refuses a file outside the size range", async () => {
    const { fields } = await new S3UploadSigner(s3, BUCKET).presignPost(KEY, 16, 60);
    await refused(fields, "x".repeat(17), 400, "EntityTooLarge");
    await refused(fields, "", 400, "EntityTooSmall");
  });

  it("refuses a field the policy does not name, another bucket, and a form without a policy", async () => {
    const { fields } = await new S3UploadSigner(s3, BUCKET).presignPost(KEY, 1024, 60);
    await refused({ ...fields, "x-amz-meta-owner": "someone" }, BODY, 403, "AccessDenied");
    await refused({ ...fields, "Content-Type": "text/html" }, BODY, 403, "AccessDenied");
    await refused(fields, BODY, 403, "AccessDenied", OTHER);
    const { Policy: _p, "X-Amz-Signature": _s, ...unsigned } = fields;
    await refused(unsigned, BODY, 403, "AccessDenied");
  });
});
