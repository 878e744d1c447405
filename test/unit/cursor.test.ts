import { describe, expect, it } from "vitest";
import { AppError } from "../../shared/errors";
import { CursorCodec } from "../../shared/http/cursor";

const codec = new CursorCodec("secret");

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof AppError ? `${error.status} ${error.code}` : "other";
  }
  return undefined;
}

describe("CursorCodec", () => {
  it("gives back the position it encoded for the same scope", () => {
    const cursor = codec.encode("members|t|ds|rfm:lost", { v: 3, after: "C07" });
    expect(codec.decode("members|t|ds|rfm:lost", cursor)).toEqual({ v: 3, after: "C07" });
  });

  it("refuses a cursor of another query, a tampered one, one signed with another key, and junk", () => {
    const cursor = codec.encode("members|t|ds|rfm:lost", { v: 3, after: "C07" });
    expect(codeOf(() => codec.decode("members|t|ds|rfm:loyal", cursor))).toBe("400 BAD_CURSOR");
    expect(codeOf(() => codec.decode("members|t2|ds|rfm:lost", cursor))).toBe("400 BAD_CURSOR");
    const [payload, sig] = cursor.split(".");
    const forged = Buffer.from(JSON.stringify(["members|t|ds|rfm:lost", { v: 3, after: "C99" }])).toString(
      "base64url",
    );
    expect(codeOf(() => codec.decode("members|t|ds|rfm:lost", `${forged}.${sig}`))).toBe("400 BAD_CURSOR");
    expect(codeOf(() => new CursorCodec("other").decode("members|t|ds|rfm:lost", cursor))).toBe(
      "400 BAD_CURSOR",
    );
    for (const junk of ["", ".", "abc", `${payload}`, `${payload}.${sig}.x`, "%%%.%%%"]) {
      expect(
        codeOf(() => codec.decode("members|t|ds|rfm:lost", junk)),
        junk,
      ).toBe("400 BAD_CURSOR");
    }
  });
});
