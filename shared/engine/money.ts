/**
 * Money figures exact to the cent. Amounts are parsed to integer cents (fields.ts) and every sum is a sum of
 * integer cents, which stays exact below 2^53 (the ingest limits keep every sum of a dataset there, see
 * ingest.ts); a figure becomes a decimal once, at the edge, as cents / 100, which is the double nearest to
 * the decimal and prints as it (`2500277.31`, never `2500277.3099999996`).
 *
 * Derived figures (a mean such as the average order value or a segment's mean CLV, a model's CLV) are
 * rounded to whole cents half away from zero: 0.125 → 0.13, −0.125 → −0.13. A mean of integer cents is
 * rounded exactly (integer quotient and remainder), never through a floating-point division.
 */

/** An amount in currency units from integer cents. */
export function amountOfCents(cents: number): number {
  return cents / 100;
}

/** Integer cents of an amount that is exact to the cent (as amountOfCents gives), or of any amount, rounded. */
export function centsOfAmount(amount: number): number {
  return roundHalfAway(amount * 100);
}

/** x rounded to an integer, halves away from zero. */
export function roundHalfAway(x: number): number {
  const r = Math.round(Math.abs(x));
  return x < 0 ? -r : r;
}

/**
 * total / count rounded to an integer, halves away from zero, computed exactly for integers below 2^53:
 * `%` and the division of total − remainder are exact there.
 */
export function meanRounded(total: number, count: number): number {
  if (count <= 0) return 0;
  const remainder = total % count;
  const quotient = (total - remainder) / count;
  if (2 * Math.abs(remainder) >= count) return quotient + (total < 0 ? -1 : 1);
  // 0 − 0 is +0, so a mean of −0 reads as 0.
  return quotient + 0;
}

/** An amount (a model's CLV, say) rounded to the cent, halves away from zero. */
export function roundToCent(amount: number): number {
  return amountOfCents(centsOfAmount(amount));
}

/** The sum of amounts that are each exact to the cent, summed in integer cents. */
export function sumAmounts(amounts: Iterable<number>): number {
  let cents = 0;
  for (const amount of amounts) cents += centsOfAmount(amount);
  return amountOfCents(cents);
}

/** Integer cents as a decimal with two places (`-3.05`), exact for any safe integer. */
export function centsText(cents: number): string {
  const abs = Math.abs(cents);
  const fraction = abs % 100;
  return `${cents < 0 ? "-" : ""}${(abs - fraction) / 100}.${fraction < 10 ? "0" : ""}${fraction}`;
}
