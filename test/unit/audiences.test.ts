/**
 * Audience normalization and hashing against each platform's own worked examples.
 *
 * Meta: "Customer Information Parameters" (developers.facebook.com/docs/marketing-api/conversions-api/
 * parameters/customer-information-parameters) gives input, normalized form and SHA-256 output:
 *   John_Smith@gmail.com → john_smith@gmail.com → 62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f
 *   US phone (650)555-1212 → 16505551212 → e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176
 * Google: Data Manager API "Format user data" (developers.google.com/data-manager/api/devguides/concepts/
 * formatting) gives the normalized forms:
 *   cloudy.sanfrancisco+shopping@gmail.com → cloudysanfrancisco@gmail.com
 *   user.name+NYC@Example.com → user.name+nyc@example.com (dots and "+" kept outside gmail.com/googlemail.com)
 *   US phone (800)555-0100 → +18005550100
 * Google's page gives no digests; the expected ones below are `printf %s <normalized> | sha256sum`, worked out
 * outside this code.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  AudienceFile,
  audienceRow,
  googleEmail,
  googlePhone,
  metaEmail,
  metaPhone,
  sha256Hex,
} from "../../shared/destinations/audiences";

const META_EMAIL_DIGEST = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f";
const META_PHONE_DIGEST = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176";
/** sha256sum of "cloudysanfrancisco@gmail.com". */
const GOOGLE_GMAIL_DIGEST = "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4";
/** sha256sum of "user.name+nyc@example.com". */
const GOOGLE_OTHER_DIGEST = "f109a2a632fbcea5fc82049f50beed3d8621bf9034399f437fb622222acccdac";
/** sha256sum of "+18005550100". */
const GOOGLE_PHONE_DIGEST = "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30";

describe("Meta custom audiences, by Meta's examples", () => {
  it("normalizes and hashes the documented email", () => {
    expect(metaEmail("John_Smith@gmail.com")).toBe("john_smith@gmail.com");
    expect(metaEmail("  John_Smith@gmail.com \t")).toBe("john_smith@gmail.com");
    expect(sha256Hex("john_smith@gmail.com")).toBe(META_EMAIL_DIGEST);
    expect(audienceRow("meta", { email: " John_Smith@gmail.com " })).toEqual({ email: META_EMAIL_DIGEST });
  });

  it("keeps the dots of a gmail address (Meta does not remove them)", () => {
    expect(metaEmail("Jane.Doe@gmail.com")).toBe("jane.doe@gmail.com");
  });

  it("hashes the documented phone as digits with the country code and no +", () => {
    expect(metaPhone("+1 (650) 555-1212")).toBe("16505551212");
    expect(metaPhone("001 650.555.1212")).toBe("16505551212");
    expect(audienceRow("meta", { phone: "+1 (650) 555-1212" })).toEqual({ phone: META_PHONE_DIGEST });
  });
});

describe("Google Customer Match, by Google's examples", () => {
  it("removes dots and the + suffix of gmail.com and googlemail.com addresses only", () => {
    expect(googleEmail("cloudy.sanfrancisco+shopping@gmail.com")).toBe("cloudysanfrancisco@gmail.com");
    expect(googleEmail(" Cloudy.SanFrancisco@GoogleMail.com ")).toBe("cloudysanfrancisco@googlemail.com");
    expect(googleEmail("user.name+NYC@Example.com")).toBe("user.name+nyc@example.com");
    expect(audienceRow("google", { email: "cloudy.sanfrancisco+shopping@gmail.com" })).toEqual({
      email: GOOGLE_GMAIL_DIGEST,
    });
    expect(audienceRow("google", { email: "user.name+NYC@Example.com" })).toEqual({
      email: GOOGLE_OTHER_DIGEST,
    });
  });

  it("removes whitespace inside the address too", () => {
    expect(googleEmail(" user.name + NYC @Example.com")).toBe("user.name+nyc@example.com");
  });

  it("formats phones as E.164 with the +", () => {
    expect(googlePhone("+1 (800) 555-0100")).toBe("+18005550100");
    expect(googlePhone("0018005550100")).toBe("+18005550100");
    expect(audienceRow("google", { phone: "+1 (800)555-0100" })).toEqual({ phone: GOOGLE_PHONE_DIGEST });
  });
});

describe("what cannot be normalized is left out", () => {
  it("refuses phones without a country code and values that are not phone numbers", () => {
    for (const raw of [
      "(650)555-1212",
      "6505551212",
      "+1 650 CALL ME",
      "+0 123 4567",
      "+12",
      "+1-650+5551212",
    ]) {
      expect(googlePhone(raw), raw).toBeUndefined();
      expect(metaPhone(raw), raw).toBeUndefined();
    }
  });

  it("refuses emails without a local part, an @ or a dotted domain", () => {
    for (const raw of ["", "   ", "john", "@example.com", "john@localhost", "a@b@c.com", ".@gmail.com"]) {
      expect(googleEmail(raw), raw).toBeUndefined();
    }
    for (const raw of ["", "john", "@example.com", "john@localhost", "a b@c.com"]) {
      expect(metaEmail(raw), raw).toBeUndefined();
    }
  });

  it("counts a customer with neither usable value and writes no line for them", () => {
    const file = new AudienceFile("google");
    expect(file.header).toBe("Email,Phone");
    expect(file.line({ email: "nobody", phone: "555-1212" })).toBeUndefined();
    expect(file.line({})).toBeUndefined();
    expect(file.line({ phone: "+18005550100" })).toBe(`,${GOOGLE_PHONE_DIGEST}`);
    expect(file.line({ email: "cloudy.sanfrancisco+shopping@gmail.com", phone: "+1 800 555 0100" })).toBe(
      `${GOOGLE_GMAIL_DIGEST},${GOOGLE_PHONE_DIGEST}`,
    );
    expect(file.rows).toBe(2);
    expect(file.withoutContact).toBe(2);
    expect(new AudienceFile("meta").header).toBe("EMAIL,PHONE");
  });

  it("writes only lower-case hex digests, never the address", () => {
    const file = new AudienceFile("meta");
    const line = file.line({ email: "John_Smith@gmail.com", phone: "+16505551212" }) ?? "";
    expect(line).toBe(`${META_EMAIL_DIGEST},${META_PHONE_DIGEST}`);
    expect(line).not.toMatch(/@|\+|john/i);
    // The digest is SHA-256 of the UTF-8 bytes, as a second implementation computes it.
    expect(sha256Hex("zoë@example.com")).toBe(
      createHash("sha256").update(Buffer.from("zoë@example.com", "utf8")).digest("hex"),
    );
  });
});
