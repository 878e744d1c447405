/**
 * The S3 event notification a Lambda function receives, built from the facts of one object write, so the
 * local S3 server can deliver exactly what S3 would.
 *
 * Key encoding. S3 documents that the key in an event is URL-encoded the form way ("red flower.jpg" arrives
 * as "red+flower.jpg"), and that notification filters must spell every character outside its "safe
 * characters" (letters, digits and `! - _ . * ' ( )`) percent-encoded, which tells which characters the
 * encoded key leaves alone; `/` is left as is, as in every event S3 sends. So: UTF-8 percent-encoding,
 * a space as `+`, a literal `+` as `%2B`, `%` as `%25`, `~` as `%7E`, and `! * ' ( ) - _ . /` unchanged.
 * Decoding is `decodeURIComponent(key.replace(/\+/g, " "))`.
 */
import type { S3EventRecord } from "aws-lambda";

export type ObjectCreatedEventName =
  | "ObjectCreated:Put"
  | "ObjectCreated:Post"
  | "ObjectCreated:Copy"
  | "ObjectCreated:CompleteMultipartUpload";

/** What happened, in plain terms; {@link toS3EventRecord} turns it into the record S3 sends. */
export interface ObjectCreatedFacts {
  eventName: ObjectCreatedEventName;
  bucket: string;
  /** The object key as stored, not encoded. */
  key: string;
  size: number;
  /** MD5 hex of the object (quotes, if any, are removed). */
  eTag: string;
  /** From a {@link createSequencer} of the same server, so later writes compare greater. */
  sequencer: string;
  eventTime: Date;
  region: string;
  sourceIp: string;
  requestId: string;
  /** The notification configuration's id; S3 copies it into each record. */
  configurationId?: string;
}

/** Encodes an object key the way S3 writes it into event notifications (see the module comment). */
export function encodeS3EventKey(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, "+").replace(/%2F/g, "/").replace(/~/g, "%7E");
}

/** The inverse of {@link encodeS3EventKey}: the key to pass back to S3. */
export function decodeS3EventKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, " "));
}

/** One `Records[]` entry of the S3 event, as S3 sends it to Lambda (event structure version 2.1). */
export function toS3EventRecord(facts: ObjectCreatedFacts): S3EventRecord {
  return {
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: facts.region,
    eventTime: facts.eventTime.toISOString(),
    eventName: facts.eventName,
    userIdentity: { principalId: "AWS:LOCAL" },
    requestParameters: { sourceIPAddress: facts.sourceIp },
    responseElements: { "x-amz-request-id": facts.requestId, "x-amz-id-2": `local/${facts.requestId}` },
    s3: {
      s3SchemaVersion: "1.0",
      configurationId: facts.configurationId ?? "local-object-created",
      bucket: {
        name: facts.bucket,
        ownerIdentity: { principalId: "LOCAL" },
        arn: `arn:aws:s3:::${facts.bucket}`,
      },
      object: {
        key: encodeS3EventKey(facts.key),
        size: facts.size,
        eTag: facts.eTag.replace(/"/g, ""),
        sequencer: facts.sequencer,
      },
    },
  };
}

/**
 * A source of sequencers: upper-case hex strings of one fixed width (18 digits, like S3's), each greater
 * than the one before, so comparing them as strings or as hexadecimal numbers orders the writes. They grow
 * with the clock, so a restarted server with the same data keeps counting upwards.
 */
export function createSequencer(now: () => number = Date.now): () => string {
  let last = 0n;
  return () => {
    // Milliseconds shifted left leave room for about a million writes per millisecond.
    const fromClock = BigInt(Math.floor(now())) << 20n;
    last = fromClock > last ? fromClock : last + 1n;
    return last.toString(16).toUpperCase().padStart(18, "0");
  };
}
