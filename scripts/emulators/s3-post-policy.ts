/**
 * Browser-style POST uploads to the local S3 server, checked as S3 checks them before anything is stored.
 * s3rver itself ignores the policy and signature of a POST and writes the file wherever its `key` field
 * points, `..` segments included; this middleware runs in front of it for every `POST /<bucket>`.
 *
 * The request body is spooled to a temporary file outside the data directory while its form is parsed; the
 * checks below run on the complete form, and only a form that passes them is replayed to s3rver, which then
 * stores the file and emits its object-created event. A refused form gets S3's XML error and writes nothing.
 *
 * Checks, in S3's order (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html):
 * - a `policy` and the SigV4 fields: `x-amz-algorithm` AWS4-HMAC-SHA256, `x-amz-credential`
 *   `<access key>/<yyyymmdd>/<region>/s3/aws4_request` naming the local access key, `x-amz-date`,
 *   `x-amz-signature` (else 403 AccessDenied, 400 InvalidArgument or 403 InvalidAccessKeyId);
 * - the signature: hex HMAC-SHA256 of the base64 policy under the key derived from the local secret, the
 *   credential's date and region, and "s3" (else 403 SignatureDoesNotMatch);
 * - the policy document: JSON with an `expiration` and a `conditions` array (else 400 InvalidPolicyDocument),
 *   not expired (else 403 AccessDenied "Policy expired");
 * - every condition: `{ field: value }` and `["eq", "$field", value]` exact, `["starts-with", "$field",
 *   prefix]`, `bucket` against the bucket of the URL, `["content-length-range", min, max]` on the file's
 *   size (400 EntityTooSmall / EntityTooLarge); any other failure is 403 AccessDenied naming the condition;
 * - every form field but `policy`, `x-amz-signature`, `file` and `x-ignore-*` is named by a condition
 *   (else 403 AccessDenied "Extra input fields");
 * - the key: present, non-empty, no `.` or `..` segment (400 InvalidArgument), and the path s3rver would
 *   write it to lies inside the bucket's directory (else 400 InvalidArgument): no key reaches outside the
 *   data directory, whatever the policy allowed.
 * Field names are matched without regard to letter case, as S3 does; fields after the file are ignored.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative, resolve, sep } from "node:path";

export interface PostPolicyOptions {
  accessKeyId: string;
  secretAccessKey: string;
  /** s3rver's data directory. */
  directory: string;
  /** Where s3rver writes an object (its store's getResourcePath). */
  objectPath: (bucket: string, key: string) => string;
  now?: () => Date;
}

/** An S3 error answer. */
export class S3PostError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The form of a POST upload: fields before the file (names in lower case) and the file's size. */
export interface PostForm {
  fields: Map<string, string>;
  fileSize: number | undefined;
}

const IGNORED = new Set(["policy", "x-amz-signature", "file"]);

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** The SigV4 signature of a POST policy (base64 text as sent). */
export function postPolicySignature(
  secretAccessKey: string,
  date: string,
  region: string,
  policyBase64: string,
): string {
  const dateKey = hmac(`AWS4${secretAccessKey}`, date);
  const signingKey = hmac(hmac(hmac(dateKey, region), "s3"), "aws4_request");
  return hmac(signingKey, policyBase64).toString("hex");
}

const denied = (message: string) => new S3PostError(403, "AccessDenied", message);
const badPolicy = (message: string) => new S3PostError(400, "InvalidPolicyDocument", message);

function conditionFailed(condition: unknown): S3PostError {
  return denied(`Invalid according to Policy: Policy Condition failed: ${JSON.stringify(condition)}`);
}

/** Checks a POST upload's form against its policy and signature; throws S3PostError when S3 would refuse it. */
export function checkPostForm(
  form: PostForm,
  bucket: string,
  options: Pick<PostPolicyOptions, "accessKeyId" | "secretAccessKey" | "now">,
): { key: string } {
  const field = (name: string) => form.fields.get(name);
  const policy = field("policy");
  if (policy === undefined) throw denied("Anonymous uploads are not allowed: the form has no policy");
  const algorithm = field("x-amz-algorithm");
  const credential = field("x-amz-credential");
  const amzDate = field("x-amz-date");
  const signature = field("x-amz-signature");
  if (
    algorithm === undefined ||
    credential === undefined ||
    amzDate === undefined ||
    signature === undefined
  ) {
    throw new S3PostError(
      400,
      "InvalidArgument",
      "Bucket POST must contain the fields x-amz-algorithm, x-amz-credential, x-amz-date and x-amz-signature",
    );
  }
  if (algorithm !== "AWS4-HMAC-SHA256") {
    throw new S3PostError(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 is supported as x-amz-algorithm");
  }
  const scope = credential.split("/");
  const [accessKeyId, date, region, service, terminal] = scope;
  if (
    scope.length !== 5 ||
    date === undefined ||
    region === undefined ||
    !/^\d{8}$/.test(date) ||
    service !== "s3" ||
    terminal !== "aws4_request"
  ) {
    throw new S3PostError(
      400,
      "InvalidArgument",
      "x-amz-credential is not <key>/<date>/<region>/s3/aws4_request",
    );
  }
  if (accessKeyId !== options.accessKeyId) {
    throw new S3PostError(403, "InvalidAccessKeyId", "The access key id does not exist in our records");
  }
  const expected = Buffer.from(postPolicySignature(options.secretAccessKey, date, region, policy), "utf8");
  const given = Buffer.from(signature.toLowerCase(), "utf8");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new S3PostError(
      403,
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided",
    );
  }

  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(policy, "base64").toString("utf8"));
  } catch {
    throw badPolicy("Invalid Policy: Invalid JSON");
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw badPolicy("Invalid Policy: not a JSON object");
  }
  const { expiration, conditions } = document as { expiration?: unknown; conditions?: unknown };
  const expires = typeof expiration === "string" ? Date.parse(expiration) : Number.NaN;
  if (Number.isNaN(expires)) throw badPolicy("Invalid Policy: Invalid 'expiration' value");
  if (!Array.isArray(conditions)) throw badPolicy("Invalid Policy: Invalid 'conditions' value");
  if ((options.now?.() ?? new Date()).getTime() > expires) {
    throw denied("Invalid according to Policy: Policy expired.");
  }

  const named = new Set<string>();
  const formValue = (name: string) => (name === "bucket" ? bucket : field(name));
  for (const condition of conditions) {
    if (typeof condition === "object" && condition !== null && !Array.isArray(condition)) {
      const entries = Object.entries(condition);
      const [entry] = entries;
      if (entries.length !== 1 || entry === undefined || typeof entry[1] !== "string") {
        throw badPolicy("Invalid Policy: Invalid Simple-Condition");
      }
      const name = entry[0].toLowerCase();
      named.add(name);
      if (formValue(name) !== entry[1]) throw conditionFailed(condition);
      continue;
    }
    if (!Array.isArray(condition) || condition.length !== 3) {
      throw badPolicy("Invalid Policy: Invalid condition");
    }
    const [op, target, value] = condition as [unknown, unknown, unknown];
    const operator = typeof op === "string" ? op.toLowerCase() : op;
    if (operator === "content-length-range") {
      if (!Number.isSafeInteger(target) || !Number.isSafeInteger(value)) {
        throw badPolicy("Invalid Policy: Invalid content-length-range");
      }
      const size = form.fileSize ?? 0;
      if (size < (target as number)) {
        throw new S3PostError(
          400,
          "EntityTooSmall",
          "Your proposed upload is smaller than the minimum allowed size",
        );
      }
      if (size > (value as number)) {
        throw new S3PostError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size");
      }
      continue;
    }
    if (
      (operator !== "eq" && operator !== "starts-with") ||
      typeof target !== "string" ||
      !target.startsWith("$")
    ) {
      throw badPolicy("Invalid Policy: Invalid condition");
    }
    if (typeof value !== "string") throw badPolicy("Invalid Policy: Invalid condition value");
    const name = target.slice(1).toLowerCase();
    named.add(name);
    const actual = formValue(name);
    const holds = actual !== undefined && (operator === "eq" ? actual === value : actual.startsWith(value));
    if (!holds) throw conditionFailed(condition);
  }

  for (const name of form.fields.keys()) {
    if (IGNORED.has(name) || name.startsWith("x-ignore-") || named.has(name)) continue;
    throw denied(`Invalid according to Policy: Extra input fields: ${name}`);
  }
  if (form.fileSize === undefined) {
    throw new S3PostError(400, "InvalidArgument", "POST requires exactly one file upload per request.");
  }
  const key = field("key");
  if (key === undefined || key === "") {
    throw new S3PostError(400, "InvalidArgument", "Bucket POST must contain a field named 'key'");
  }
  return { key };
}

/** Refuses a key with a `.` or `..` segment, or one s3rver would store outside the bucket's directory. */
export function checkKeyPath(
  options: Pick<PostPolicyOptions, "directory" | "objectPath">,
  bucket: string,
  key: string,
): void {
  if (key.split("/").some((segment) => segment === "." || segment === "..")) {
    throw new S3PostError(400, "InvalidArgument", "The key must not have '.' or '..' segments");
  }
  const bucketDirectory = resolve(options.directory, bucket);
  const target = resolve(options.objectPath(bucket, key));
  const inside = relative(bucketDirectory, target);
  if (
    inside === "" ||
    inside.startsWith(`..${sep}`) ||
    inside === ".." ||
    resolve(bucketDirectory, inside) !== target
  ) {
    throw new S3PostError(400, "InvalidArgument", "The key names a place outside the bucket");
  }
}

export function s3ErrorXml(error: S3PostError, requestId: string): string {
  const xml = (s: string) =>
    s.replace(
      /[<>&"']/g,
      (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] ?? c,
    );
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${xml(error.code)}</Code><Message>${xml(error.message)}</Message>` +
    `<RequestId>${xml(requestId)}</RequestId></Error>`
  );
}

/** busboy 0.3, the multipart parser s3rver reads the form with, so both read a form alike (it ships no types). */
interface FormParser extends NodeJS.WritableStream {
  on(event: "field", listener: (name: string, value: string) => void): this;
  on(event: "file", listener: (name: string, stream: NodeJS.ReadableStream) => void): this;
  on(event: string, listener: (...args: unknown[]) => void): this;
}
type FormParserClass = new (options: {
  headers: IncomingMessage["headers"];
  limits?: { fieldSize?: number; fields?: number; parts?: number };
}) => FormParser;
const Busboy = createRequire(createRequire(import.meta.url).resolve("s3rver"))("busboy") as FormParserClass;

/** The part of Koa's context this middleware touches. */
interface PostContext {
  method: string;
  path: string;
  querystring: string;
  req: IncomingMessage;
  request: { req: IncomingMessage };
  is(type: string): string | false | null;
  status: number;
  type: string;
  body: unknown;
}

/** Reads the form of a POST body while spooling its bytes to `spool`. */
async function readForm(req: IncomingMessage, spool: string): Promise<PostForm> {
  const fields = new Map<string, string>();
  let fileSize: number | undefined;
  const parser = new Busboy({
    headers: req.headers,
    limits: { fieldSize: 1 << 20, fields: 100, parts: 200 },
  });
  const parsed = once(parser, "finish");
  parser.on("field", (name, value) => {
    const lower = name.toLowerCase();
    if (fileSize !== undefined) return;
    // busboy reports a file part sent without a file name as a field.
    if (lower === "file") fileSize = Buffer.byteLength(value);
    else if (!fields.has(lower)) fields.set(lower, value);
  });
  parser.on("file", (name, stream) => {
    if (name.toLowerCase() !== "file" || fileSize !== undefined) {
      stream.resume();
      return;
    }
    let size = 0;
    stream.on("data", (chunk: Buffer | string) => {
      size += chunk.length;
    });
    stream.on("end", () => {
      fileSize = size;
    });
  });
  const out = createWriteStream(spool);
  const written = once(out, "finish");
  req.pipe(out);
  req.pipe(parser);
  await Promise.all([parsed, written]);
  return { fields, fileSize };
}

/**
 * The Koa middleware: checks every `POST /<bucket>` upload form before s3rver sees it. Other requests pass
 * untouched.
 */
export function postPolicyMiddleware(options: PostPolicyOptions) {
  return async (ctx: PostContext, next: () => Promise<void>): Promise<void> => {
    const bucket = /^\/([^/]+)\/?$/.exec(ctx.path)?.[1];
    if (
      ctx.method !== "POST" ||
      bucket === undefined ||
      ctx.querystring !== "" ||
      !ctx.is("multipart/form-data")
    ) {
      return next();
    }
    const folder = await mkdtemp(join(tmpdir(), "s3-post-"));
    try {
      const spool = join(folder, "body");
      let form: PostForm;
      try {
        form = await readForm(ctx.req, spool);
      } catch {
        throw new S3PostError(
          400,
          "MalformedPOSTRequest",
          "The body of your POST request is not well-formed multipart/form-data.",
        );
      }
      const { key } = checkPostForm(form, decodeURIComponent(bucket), options);
      checkKeyPath(options, decodeURIComponent(bucket), key);
      // The checked form goes to s3rver as it came.
      const original = ctx.req;
      const replay = Object.assign(createReadStream(spool), {
        headers: original.headers,
        method: original.method,
        url: original.url,
        httpVersion: original.httpVersion,
        socket: original.socket,
        connection: original.socket,
      }) as unknown as IncomingMessage;
      ctx.req = replay;
      ctx.request.req = replay;
      await next();
    } catch (error) {
      if (!(error instanceof S3PostError)) throw error;
      ctx.status = error.status;
      ctx.type = "application/xml";
      ctx.body = s3ErrorXml(error, randomUUID());
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  };
}
