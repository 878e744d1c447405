/**
 * CSV cells of text that came from users (customer ids, attribute values, segment names), written so that
 * no spreadsheet runs them as formulas, whatever separator it splits on.
 *
 * - A cell starting with `=`, `+`, `-` or `@` (or a tab or carriage return, which some spreadsheets skip
 *   before reading the rest as a formula) is prefixed with a single quote, which spreadsheets show as text.
 * - Inside a cell, a formula character that follows a separator any spreadsheet may split on (`,`, `;`,
 *   tab) or a line break, spaces and double quotes between allowed, gets the same quote: a spreadsheet that splits the file on
 *   another separator than the writer's, and so cuts the cell there, starts no formula. `x;=cmd|'/C calc'!A0`
 *   is written `"x;'=cmd|'/C calc'!A0"`.
 * - A cell holding a separator, a quote, a line break, or leading or trailing spaces is quoted (RFC 4180,
 *   quotes doubled), so a CSV reader that honours quotes reads it whole.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const FORMULA_AFTER_SEPARATOR = /([,;\t\r\n][ "]*)(?=[=+\-@\t\r])/g;
const NEEDS_QUOTES = /[",;\t\r\n]/;

/** One CSV cell of a text value, defused against spreadsheet formulas under any separator. */
export function csvTextCell(value: string): string {
  const inner = value.replace(FORMULA_AFTER_SEPARATOR, "$1'");
  const safe = FORMULA_START.test(inner) ? `'${inner}` : inner;
  return NEEDS_QUOTES.test(safe) || safe !== safe.trim() ? `"${safe.replace(/"/g, '""')}"` : safe;
}
