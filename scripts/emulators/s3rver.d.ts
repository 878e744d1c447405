/**
 * The part of s3rver 3.7 (a Koa application) that the local S3 server uses; the package ships no types.
 */
declare module "s3rver" {
  import type { Server, ServerResponse } from "node:http";

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string }[];
  }

  /** The event s3rver emits after a write: S3's shape, but with the key not encoded. */
  interface S3rverEvent {
    Records: {
      eventName: string;
      eventTime: string;
      requestParameters: { sourceIPAddress: string };
      responseElements: { "x-amz-request-id": string };
      s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string } };
    }[];
  }

  interface KoaContext {
    method: string;
    query: Record<string, string | string[] | undefined>;
    res: ServerResponse;
  }

  type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

  class S3rver {
    constructor(options?: S3rverOptions);
    /** Koa's middleware stack, composed when the server starts listening. */
    middleware: Middleware[];
    httpServer?: Server;
    store: {
      /** Stored metadata of an object; `etag` is the quoted MD5, `content-length` the size. */
      getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
      /** The file an object (resource "object") or its metadata is stored in. */
      getResourcePath(bucket: string, key: string, resource: string): string;
    };
    run(): Promise<{ address: string; port: number; family: string }>;
    close(): Promise<void>;
    on(event: "event", listener: (event: S3rverEvent) => void): this;
  }

  export = S3rver;
}
