/**
 * Text cells of exports and CLI output (shared/csv.ts): read back by a CSV parser they give the value (with the
 * defusing quote), and a spreadsheet splitting on `,`, `;` or tab never sees a cell that starts a formula.
 * The spreadsheet's reading is modelled here independently of the writer: a field that opens with a quote runs
 * to its closing quote (doubled quotes are one), and any text after it up to the next separator is appended;
 * any other field runs to the next separator; an unquoted line break ends the row.
 */
import { parse } from "csv-parse/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { csvTextCell } from "../../shared/csv";

const SEPARATORS = [",", ";", "\t"] as const;
const FORMULA = /^[=+\-@\t\r]/;

/** The cells a spreadsheet splitting on `separator` reads from the text, rows ending at unquoted line breaks. */
function spreadsheetCells(line: string, separator: string): string[] {
  const cells: string[] = [];
  const boundary = (c: string | undefined) => c === separator || c === "\r" || c === "\n";
  let i = 0;
  for (;;) {
    let cell = "";
    if (line[i] === '"') {
      i++;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') {
          cell += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          break;
        } else cell += line[i++];
      }
    }
    while (i < line.length && !boundary(line[i])) cell += line[i++];
    cells.push(cell);
    if (i >= line.length) return cells;
    i++;
  }
}

const nasty = fc.stringMatching(/^[a-z=+\-@;,\t\r\n "'|!/A-Z0-9]{0,16}$/);

describe("csvTextCell", () => {
  it("quotes an id with a formula behind a semicolon so that no separator exposes it", () => {
    const id = "x;=cmd|'/C calc'!A0;y";
    const line = `${csvTextCell(id)},2024-01-01,3`;
    expect(line.startsWith(`"x;'=cmd`)).toBe(true);
    for (const separator of SEPARATORS) {
      for (const cell of spreadsheetCells(line, separator)) expect(cell).not.toMatch(FORMULA);
    }
  });

  it("defuses a leading formula character and keeps plain text as it is", () => {
    expect(csvTextCell("=1+2")).toBe("'=1+2");
    expect(csvTextCell("-5")).toBe("'-5");
    expect(csvTextCell("@x")).toBe("'@x");
    expect(csvTextCell("\tx")).toBe(`"'\tx"`);
    expect(csvTextCell("plain")).toBe("plain");
    expect(csvTextCell('a "b"')).toBe('"a ""b"""');
    expect(csvTextCell(" padded ")).toBe('" padded "');
  });

  it("defuses a formula that a cut at an inner separator or line break would start", () => {
    expect(csvTextCell("a;=b")).toBe(`"a;'=b"`);
    expect(csvTextCell("a,  +b")).toBe(`"a,  '+b"`);
    expect(csvTextCell("a\n@b")).toBe(`"a\n'@b"`);
    expect(csvTextCell("a;b")).toBe(`"a;b"`);
  });

  it("property: under every separator no cell starts a formula, and a CSV parser reads the value back", () => {
    fc.assert(
      fc.property(fc.array(nasty, { minLength: 1, maxLength: 4 }), (values) => {
        const line = values.map(csvTextCell).join(",");
        for (const separator of SEPARATORS) {
          for (const cell of spreadsheetCells(line, separator)) expect(cell, line).not.toMatch(FORMULA);
        }
        const [row] = parse(`${line}\n`, { relax_column_count: true }) as string[][];
        // Only defusing quotes are added: without single quotes, what is read back is what was written.
        const bare = (v: string) => v.replace(/'/g, "");
        expect(row?.map(bare)).toEqual(values.map(bare));
      }),
      { numRuns: 2000 },
    );
  });
});
