/**
 * Ad-platform audience files: a segment's customers as the hashed contact rows that Google Ads Customer Match
 * and Meta custom audiences import, each normalized exactly as its platform documents before SHA-256.
 *
 * Google (Data Manager API "Format user data", developers.google.com/data-manager/api/devguides/concepts/
 * formatting, and the Customer Match file template, support.google.com/google-ads/answer/7659867):
 *  - email: whitespace removed (leading, trailing and inside), lower case; for gmail.com and googlemail.com
 *    every "." before the "@" removed, and a "+" in the local part with everything after it;
 *  - phone: E.164, "+" then the country code and the number, digits only;
 *  - file: CSV with the English headers "Email" and "Phone", the values SHA-256 hex.
 * Meta (Conversions API "Customer Information Parameters", developers.facebook.com/docs/marketing-api/
 * conversions-api/parameters/customer-information-parameters, the rules its customer-list uploads share):
 *  - email: leading and trailing whitespace trimmed, lower case;
 *  - phone: symbols, letters and leading zeros removed, country code first, no "+";
 *  - file: CSV with the columns EMAIL and PHONE, the values SHA-256 hex.
 *
 * A phone number must carry its country code (written "+…" or "00…"): a national number cannot be made
 * E.164 without guessing the country, so it is counted as unusable and left out. A customer with neither a
 * usable email nor a usable phone is counted and left out of the file. No raw email or phone is ever
 * written: every value in these files is a digest.
 */
import { createHash } from "node:crypto";

export type AudiencePlatform = "google" | "meta";

/** Lower-case hex SHA-256 of the UTF-8 bytes of `value`. */
export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

const EMAIL_SHAPE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const GOOGLE_DOMAINS = new Set(["gmail.com", "googlemail.com"]);

/** Google's normalized email, or undefined when the value is not an email address. */
export function googleEmail(raw: string): string | undefined {
  const email = raw.replace(/\s+/g, "").toLowerCase();
  const at = email.lastIndexOf("@");
  if (at <= 0) return undefined;
  let local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (GOOGLE_DOMAINS.has(domain)) {
    const plus = local.indexOf("+");
    if (plus >= 0) local = local.slice(0, plus);
    local = local.replace(/\./g, "");
  }
  const normalized = `${local}@${domain}`;
  return local.length > 0 && EMAIL_SHAPE.test(normalized) ? normalized : undefined;
}

/** Meta's normalized email, or undefined when the value is not an email address. */
export function metaEmail(raw: string): string | undefined {
  const email = raw.trim().toLowerCase();
  return EMAIL_SHAPE.test(email) ? email : undefined;
}

/**
 * The digits of an international phone number, country code first, or undefined when the value does not
 * carry a country code ("+" or the "00" international prefix) or cannot be an E.164 number (7 to 15 digits,
 * the country code not starting with 0). Separators (spaces, dots, dashes, slashes, parentheses) are allowed.
 */
function internationalDigits(raw: string): string | undefined {
  const value = raw.trim();
  if (!/^(\+|00)/.test(value)) return undefined;
  if (/[^\d\s.\-/()+]/.test(value) || value.lastIndexOf("+") > 0) return undefined;
  const all = value.replace(/\D/g, "");
  const digits = value.startsWith("+") ? all : all.slice(2);
  return /^[1-9]\d{6,14}$/.test(digits) ? digits : undefined;
}

/** Google's E.164 phone ("+18005550100"), or undefined. */
export function googlePhone(raw: string): string | undefined {
  const digits = internationalDigits(raw);
  return digits === undefined ? undefined : `+${digits}`;
}

/** Meta's phone (digits, country code first, no "+": "16505551212"), or undefined. */
export function metaPhone(raw: string): string | undefined {
  return internationalDigits(raw);
}

/** The header row of each platform's upload file. */
export const AUDIENCE_HEADERS: Record<AudiencePlatform, readonly [string, string]> = {
  google: ["Email", "Phone"],
  meta: ["EMAIL", "PHONE"],
};

/** One customer's hashed identifiers for a platform, or undefined when neither is usable. */
export function audienceRow(
  platform: AudiencePlatform,
  contact: { email?: string | undefined; phone?: string | undefined },
): { email?: string; phone?: string } | undefined {
  const normalizeEmail = platform === "google" ? googleEmail : metaEmail;
  const normalizePhone = platform === "google" ? googlePhone : metaPhone;
  const email = contact.email === undefined ? undefined : normalizeEmail(contact.email);
  const phone = contact.phone === undefined ? undefined : normalizePhone(contact.phone);
  if (email === undefined && phone === undefined) return undefined;
  return {
    ...(email === undefined ? {} : { email: sha256Hex(email) }),
    ...(phone === undefined ? {} : { phone: sha256Hex(phone) }),
  };
}

/** One platform's audience file, a line per customer with a usable email or phone; counts those left out. */
export class AudienceFile {
  readonly header: string;
  /** Customers written. */
  rows = 0;
  /** Customers left out: neither a usable email nor a usable phone. */
  withoutContact = 0;

  constructor(readonly platform: AudiencePlatform) {
    this.header = AUDIENCE_HEADERS[platform].join(",");
  }

  /** The customer's line (hashes only), or undefined when the customer is left out. */
  line(contact: { email?: string | undefined; phone?: string | undefined }): string | undefined {
    const row = audienceRow(this.platform, contact);
    if (!row) {
      this.withoutContact += 1;
      return undefined;
    }
    this.rows += 1;
    return `${row.email ?? ""},${row.phone ?? ""}`;
  }
}
