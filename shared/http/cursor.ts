/**
 * Opaque pagination cursors: a position, bound to the dataset and the query it came from, signed with an
 * HMAC so a tampered cursor or one from another query is refused with a 400.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { BadRequestError } from "../errors";

export class CursorCodec {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(secret, "utf8");
  }

  private sign(payload: string): Buffer {
    return createHmac("sha256", this.key).update(payload).digest().subarray(0, 16);
  }

  encode(scope: string, position: unknown): string {
    const payload = Buffer.from(JSON.stringify([scope, position]), "utf8");
    return `${payload.toString("base64url")}.${this.sign(payload.toString("base64url")).toString("base64url")}`;
  }

  /** The position inside `cursor`; throws BAD_CURSOR unless the cursor was made by `encode` for `scope`. */
  decode(scope: string, cursor: string): unknown {
    const bad = () =>
      new BadRequestError("BAD_CURSOR", "The cursor is invalid or belongs to another query", [
        { path: "query.cursor", code: "BAD_CURSOR", message: "not a cursor of this query" },
      ]);
    const [payload, signature, extra] = cursor.split(".");
    if (!payload || !signature || extra !== undefined) throw bad();
    const expected = this.sign(payload);
    const given = Buffer.from(signature, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw bad();
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
      throw bad();
    }
    if (!Array.isArray(parsed) || parsed.length !== 2 || parsed[0] !== scope) throw bad();
    return parsed[1];
  }
}
