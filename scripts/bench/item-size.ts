/**
 * The size of a table item and the write units a put of it consumes, by DynamoDB's published rules ("Item
 * sizes and formats" in the DynamoDB developer guide): a string is its UTF-8 bytes, a number one byte per two
 * significant digits plus one, a Boolean or null one byte, a list or map 3 bytes plus one byte per element
 * plus its elements, each attribute name (and each map key) its UTF-8 bytes. A standard write consumes one
 * unit per started kilobyte. The item is given as the document client takes it (plain values).
 *
 * The capacity model (./capacity.ts) prices a run's writes with it; test/integration/write-units.test.ts
 * checks it against the units DynamoDB Local reports for the items a run writes.
 */

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

/** Significant digits of a number as the document client sends it (its shortest decimal form). */
function significantDigits(n: number): number {
  const [mantissa = ""] = Math.abs(n).toString().split("e");
  const digits = mantissa.replace(".", "").replace(/^0+/, "").replace(/0+$/, "");
  return Math.max(1, digits.length);
}

/** Size in bytes of one attribute value. */
export function valueSize(value: unknown): number {
  if (value === null || typeof value === "boolean") return 1;
  if (typeof value === "string") return utf8(value);
  if (typeof value === "number") return Math.ceil(significantDigits(value) / 2) + 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) {
    let size = 3;
    for (const element of value) size += 1 + valueSize(element);
    return size;
  }
  if (typeof value === "object") {
    let size = 3;
    for (const [key, element] of Object.entries(value as Record<string, unknown>)) {
      if (element === undefined) continue;
      size += 1 + utf8(key) + valueSize(element);
    }
    return size;
  }
  throw new Error(`No DynamoDB type for a ${typeof value}`);
}

/** Size in bytes of an item: its attribute names and values. */
export function itemSize(item: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    size += utf8(name) + valueSize(value);
  }
  return size;
}

/** Write units a standard put of the item consumes: one per started kilobyte. */
export function writeUnits(item: Record<string, unknown>): number {
  return Math.max(1, Math.ceil(itemSize(item) / 1024));
}
