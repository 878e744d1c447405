/**
 * Numbers of a profile as printed: shares, lifts and quantiles rounded to a fixed number of decimals, and the
 * one-line reading of a shown item.
 *
 * A lift in a reading is rounded half away from zero to one decimal below 10 ("2.3×"), to a whole number from
 * 10 ("14×"), and to two decimals below 1 ("0.43×"); a lift that rounds to exactly 1 reads "about as".
 */

/** Decimals of shares and lifts in a profile. */
export const PROFILE_DIGITS = 4;

/** x rounded half away from zero to `digits` decimals, as the double nearest that decimal. */
export function roundTo(x: number, digits: number = PROFILE_DIGITS): number {
  const scale = 10 ** digits;
  const r = Math.round(Math.abs(x) * scale) / scale;
  return x < 0 ? -r : r;
}

/** A lift as a reading prints it ("2.3×"). */
export function liftText(lift: number): string {
  if (lift >= 9.95) return `${roundTo(lift, 0)}×`;
  if (lift >= 0.995) return `${roundTo(lift, 1).toFixed(1)}×`;
  return `${roundTo(lift, 2).toFixed(2)}×`;
}

function ratio(lift: number): string | undefined {
  return liftText(lift) === "1.0×" ? undefined : liftText(lift);
}

/** "put 2.3× the average customer's share of their spend into Jazz" (category) or "… through web" (channel). */
export function spendReading(dimension: "category" | "channel", value: string, lift: number): string {
  const where = dimension === "category" ? `into ${value}` : `through ${value}`;
  const r = ratio(lift);
  return r === undefined
    ? `put about the average customer's share of their spend ${where}`
    : `put ${r} the average customer's share of their spend ${where}`;
}

/** "are 2.0× as likely as the average customer to have country NO". */
export function attributeReading(name: string, value: string, lift: number, bucket = false): string {
  const has = bucket ? `to have ${name} in ${value}` : `to have ${name} ${value}`;
  const r = ratio(lift);
  return r === undefined
    ? `are about as likely as the average customer ${has}`
    : `are ${r} as likely as the average customer ${has}`;
}

/** "median age 42 against 37 for all customers". */
export function numericReading(name: string, median: number, baseMedian: number): string {
  return `median ${name} ${median} against ${baseMedian} for all customers`;
}
