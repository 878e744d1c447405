/**
 * The S3 event builder on its own: key encoding against hand-worked examples and against the WHATWG form
 * encoder as a second method, the record's shape, and the sequencer's order.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createSequencer,
  decodeS3EventKey,
  encodeS3EventKey,
  toS3EventRecord,
} from "../../scripts/emulators/s3-events";

describe("encodeS3EventKey", () => {
  // Worked by hand: space → "+", "+" → %2B, "%" → %25, "~" → %7E; UTF-8 bytes of é (U+00E9) are C3 A9,
  // ï (U+00EF) C3 AF, 日 (U+65E5) E6 97 A5, 本 (U+672C) E6 9C AC; S3's safe characters and "/" stay.
  const cases: [string, string][] = [
    ["red flower.csv", "red+flower.csv"],
    ["a+b.csv", "a%2Bb.csv"],
    ["100%.csv", "100%25.csv"],
    ["uploads/t/ds/u1/red flower+100%é.csv", "uploads/t/ds/u1/red+flower%2B100%25%C3%A9.csv"],
    ["naïve/été.csv", "na%C3%AFve/%C3%A9t%C3%A9.csv"],
    ["日本.csv", "%E6%97%A5%E6%9C%AC.csv"],
    ["safe!-_.*'()/x.csv", "safe!-_.*'()/x.csv"],
    ["q?&=:;,@$#.csv", "q%3F%26%3D%3A%3B%2C%40%24%23.csv"],
    ["tilde~.csv", "tilde%7E.csv"],
    ["two  spaces", "two++spaces"],
  ];

  it.each(cases)("encodes %j as %j and decodes it back", (key, encoded) => {
    expect(encodeS3EventKey(key)).toBe(encoded);
    expect(decodeS3EventKey(encoded)).toBe(key);
    expect(decodeURIComponent(encoded.replace(/\+/g, " "))).toBe(key);
  });

  it("matches form encoding with S3's safe characters and '/' left as they are", () => {
    // URLSearchParams is the WHATWG application/x-www-form-urlencoded serializer: it keeps only
    // alphanumerics and * - . _ and writes a space as "+"; S3 also keeps ! ' ( ) and "/".
    const formEncoded = (key: string) =>
      new URLSearchParams({ k: key })
        .toString()
        .slice(2)
        .replace(/%2F/g, "/")
        .replace(/%21/g, "!")
        .replace(/%27/g, "'")
        .replace(/%28/g, "(")
        .replace(/%29/g, ")");
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (key) => {
        const encoded = encodeS3EventKey(key);
        expect(encoded).toBe(formEncoded(key));
        expect(encoded).toMatch(/^[A-Za-z0-9!*'()\-_./+%]*$/);
        expect(decodeS3EventKey(encoded)).toBe(key);
      }),
      { numRuns: 500 },
    );
  });
});

describe("toS3EventRecord", () => {
  it("builds the record S3 sends to Lambda", () => {
    const record = toS3EventRecord({
      eventName: "ObjectCreated:Post",
      bucket: "my-bucket",
      key: "uploads/red flower.csv",
      size: 42,
      eTag: '"0123456789abcdef0123456789abcdef"',
      sequencer: "0055AED6DCD90281E5",
      eventTime: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)),
      region: "eu-west-1",
      sourceIp: "127.0.0.1",
      requestId: "REQ1",
    });
    expect(record).toEqual({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: "eu-west-1",
      eventTime: "2024-01-02T03:04:05.006Z",
      eventName: "ObjectCreated:Post",
      userIdentity: { principalId: "AWS:LOCAL" },
      requestParameters: { sourceIPAddress: "127.0.0.1" },
      responseElements: { "x-amz-request-id": "REQ1", "x-amz-id-2": "local/REQ1" },
      s3: {
        s3SchemaVersion: "1.0",
        configurationId: "local-object-created",
        bucket: { name: "my-bucket", ownerIdentity: { principalId: "LOCAL" }, arn: "arn:aws:s3:::my-bucket" },
        object: {
          key: "uploads/red+flower.csv",
          size: 42,
          eTag: "0123456789abcdef0123456789abcdef",
          sequencer: "0055AED6DCD90281E5",
        },
      },
    });
  });
});

describe("createSequencer", () => {
  it("increases strictly, as strings of one width, even when the clock stalls or goes back", () => {
    const clock = [1000, 1000, 1000, 999, 5, 1001, 2000];
    let i = 0;
    const next = createSequencer(() => clock[i++] ?? 0);
    const values = clock.map(() => next());
    for (const value of values) expect(value).toMatch(/^[0-9A-F]{18}$/);
    for (let j = 1; j < values.length; j++) {
      const [before, after] = [values[j - 1] as string, values[j] as string];
      expect(after > before).toBe(true);
      expect(BigInt(`0x${after}`) > BigInt(`0x${before}`)).toBe(true);
    }
    // 1000 ms << 20 = 1,048,576,000 = 0x3E800000; the two stalled ticks add 1 and 2, the backward ones 3 and 4.
    expect(values.slice(0, 5)).toEqual([
      "00000000003E800000",
      "00000000003E800001",
      "00000000003E800002",
      "00000000003E800003",
      "00000000003E800004",
    ]);
    // 1001 << 20 = 0x3E900000 is ahead of the counter again, so the clock takes over.
    expect(values[5]).toBe("00000000003E900000");
  });
});
