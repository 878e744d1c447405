/**
 * A local S3-protocol server (s3rver, in this process) that also delivers object-created notifications in
 * the exact shape S3 sends to Lambda: URL-encoded keys, increasing sequencers, the event name of the
 * operation that wrote the object.
 *
 * Clients use path-style addressing (`forcePathStyle: true`) and the access key {@link S3_SERVER_CREDENTIALS};
 * s3rver refuses any other access key id.
 *
 * Presigned POST uploads are checked as S3 checks them (./s3-post-policy.ts): signature, expiry and every
 * policy condition (bucket, key, size range, other fields), and no key may lead outside the data directory.
 *
 * What s3rver does NOT check, so the project must prove it elsewhere (against the real service, or with unit
 * tests of the code that builds the request):
 * - Signatures of other requests: SigV4 signatures of headers and presigned URLs are never verified (only
 *   the access key id is looked up). A tampered or expired presigned URL still works here.
 * - Bucket policies, ACLs, public access blocks, encryption, versioning and object lock do not exist.
 * - A presigned PUT's signed headers (Content-Type, checksums) are not enforced.
 * - Every write succeeds at once: no throttling (503 SlowDown), no eventual consistency, no duplicate or
 *   late notifications. Delivery here is exactly once, within milliseconds, in write order.
 * - Writes are not atomic: an object is three files written one after another, so a server killed mid-PUT
 *   leaves half an object, which S3 never does. Those are removed when a server starts again on a directory
 *   left open (./s3-torn-objects.ts).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { S3Event } from "aws-lambda";
import S3rver from "s3rver";
import { EmulatorError } from "./errors";
import { createSequencer, type ObjectCreatedEventName, toS3EventRecord } from "./s3-events";
import { postPolicyMiddleware } from "./s3-post-policy";
import { OPEN_MARKER, removeTornObjects } from "./s3-torn-objects";

/** The only key pair s3rver accepts. Any region works. */
export const S3_SERVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface S3ServerOptions {
  /** Port to listen on (127.0.0.1); the OS chooses a free one when omitted. */
  port?: number;
  /** Keep objects in this directory across restarts; otherwise a temporary directory, removed by stop(). */
  directory?: string;
  /** Buckets to create before the server answers (existing ones are kept). */
  buckets?: string[];
  /** Region written into event records; us-east-1 by default. */
  region?: string;
}

/** Which writes a listener hears about, as in an S3 notification configuration (matched on the raw key). */
export interface ObjectCreatedFilter {
  bucket?: string;
  prefix?: string;
  suffix?: string;
}

export type ObjectCreatedListener = (event: S3Event) => void | Promise<void>;

export interface S3Server {
  /** `http://127.0.0.1:<port>`, for the SDK's `endpoint` (with `forcePathStyle: true`). */
  endpoint: string;
  port: number;
  /** Where the objects are stored. */
  directory: string;
  /** Closes the server (open connections included) and removes a temporary directory. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * Calls `listener` with an S3 event (one record) after each object is created, asynchronously, as S3
   * invokes Lambda. A listener's failure is printed to stderr and does not affect the upload or other
   * listeners. Returns a function that removes the listener.
   */
  onObjectCreated(listener: ObjectCreatedListener, filter?: ObjectCreatedFilter): () => void;
}

const EVENT_NAMES: Record<string, ObjectCreatedEventName> = {
  "ObjectCreated:Put": "ObjectCreated:Put",
  "ObjectCreated:Post": "ObjectCreated:Post",
  "ObjectCreated:Copy": "ObjectCreated:Copy",
};

/** Starts the server and resolves once it is listening and the requested buckets exist. */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const temporary = options.directory === undefined;
  const directory = temporary
    ? await mkdtemp(join(tmpdir(), "s3-server-"))
    : resolve(options.directory ?? "");
  if (!temporary) await mkdir(directory, { recursive: true });
  // A directory still marked open was left by a server that never stopped (a crash, a kill -9): objects it
  // was writing may be half there, which S3 never shows (./s3-torn-objects.ts).
  const marker = join(directory, OPEN_MARKER);
  const leftOpen = await access(marker).then(
    () => true,
    () => false,
  );
  if (leftOpen) {
    for (const base of await removeTornObjects(directory))
      process.stderr.write(`s3-server: removed an object a stopped server left half-written: ${base}\n`);
  }
  await writeFile(marker, "");
  const region = options.region ?? "us-east-1";

  const server = new S3rver({
    address: "127.0.0.1",
    port: options.port ?? 0,
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });

  // Facts about the request that caused an event: s3rver reports a completed multipart upload as a POST,
  // and emits its event before the response is sent, while S3 notifies only after the write has completed.
  const request = new AsyncLocalStorage<{ completesMultipart: boolean; responded: Promise<void> }>();
  server.middleware.unshift((ctx, next) => {
    const responded = new Promise<void>((ok) => ctx.res.once("close", () => ok()));
    const completesMultipart = ctx.method === "POST" && ctx.query.uploadId !== undefined;
    return request.run({ completesMultipart, responded }, next);
  });

  // Browser-style POST uploads are checked (policy, signature, key) before s3rver stores anything.
  server.middleware.unshift(
    postPolicyMiddleware({
      ...S3_SERVER_CREDENTIALS,
      directory,
      objectPath: (bucket, key) => server.store.getResourcePath(bucket, key, "object"),
    }) as unknown as (typeof server.middleware)[number], // s3rver's Koa context has what it reads
  );

  const listeners = new Set<{ listener: ObjectCreatedListener; filter: ObjectCreatedFilter }>();
  const nextSequencer = createSequencer();
  let stopped = false;
  // One record at a time, so listeners hear about writes in the order they happened.
  let delivery = Promise.resolve();

  server.on("event", (event) => {
    const context = request.getStore();
    const completesMultipart = context?.completesMultipart ?? false;
    for (const raw of event.Records) {
      const emitted = EVENT_NAMES[raw.eventName];
      if (!emitted) continue;
      const eventName = completesMultipart ? "ObjectCreated:CompleteMultipartUpload" : emitted;
      // Taken now, in write order, not when the record is delivered.
      const sequencer = nextSequencer();
      const { bucket, object } = raw.s3;
      delivery = delivery
        .then(async () => {
          if (stopped || listeners.size === 0) return;
          let { size, eTag } = object;
          if (size === undefined || eTag === undefined) {
            // s3rver leaves the ETag out of copy events; the stored metadata has it.
            const metadata = await server.store.getMetadata(bucket.name, object.key).catch(() => undefined);
            size ??= Number(metadata?.["content-length"] ?? 0);
            eTag ??= metadata?.etag ?? "";
          }
          const record = toS3EventRecord({
            eventName,
            bucket: bucket.name,
            key: object.key,
            size,
            eTag,
            sequencer,
            eventTime: new Date(raw.eventTime),
            region,
            sourceIp: raw.requestParameters.sourceIPAddress,
            requestId: raw.responseElements["x-amz-request-id"],
          });
          for (const { listener, filter } of listeners) {
            if (!matches(filter, bucket.name, object.key)) continue;
            const s3Event: S3Event = { Records: [structuredClone(record)] };
            setImmediate(() => {
              Promise.resolve()
                .then(() => listener(s3Event))
                .catch((error: unknown) => {
                  process.stderr.write(`s3-server: an object-created listener failed: ${String(error)}\n`);
                });
            });
          }
        })
        .catch((error: unknown) => {
          process.stderr.write(`s3-server: could not build an object-created event: ${String(error)}\n`);
        });
    }
  });

  let address: { port: number };
  try {
    address = await server.run();
  } catch (error) {
    if (temporary) await rm(directory, { recursive: true, force: true });
    throw new EmulatorError("S3_SERVER_START_FAILED", `The S3 server could not start: ${String(error)}`, {
      cause: error,
    });
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      stopped = true;
      listeners.clear();
      const closed = server.close();
      // Keep-alive sockets of SDK clients would otherwise hold the port open.
      server.httpServer?.closeAllConnections();
      await closed;
      await delivery;
      if (temporary) await rm(directory, { recursive: true, force: true });
      else await rm(marker, { force: true });
    })();
    return stopping;
  };

  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    port: address.port,
    directory,
    stop,
    onObjectCreated(listener, filter = {}) {
      const entry = { listener, filter };
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
  };
}

function matches(filter: ObjectCreatedFilter, bucket: string, key: string): boolean {
  return (
    (filter.bucket === undefined || filter.bucket === bucket) &&
    (filter.prefix === undefined || key.startsWith(filter.prefix)) &&
    (filter.suffix === undefined || key.endsWith(filter.suffix))
  );
}
