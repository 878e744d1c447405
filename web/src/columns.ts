/**
 * The upload page's column mapping: reads the header of the chosen file in the browser (CSV: its first
 * record; NDJSON: the keys of its first object; gzip is unpacked as it is read), and proposes, for each
 * column of the data contract, the header that holds it: the column's own name first, then a known synonym.
 * What the user settles on goes to the API as the upload's `columns` (only the columns named otherwise).
 */

/** The data contract's columns, required first, with headers that commonly hold them. */
export const CONTRACT_COLUMNS = {
  transactions: [
    {
      name: "customer_id",
      required: true,
      synonyms: [
        "customer",
        "customer id",
        "customerid",
        "client",
        "client_id",
        "user_id",
        "kunde",
        "kundennummer",
        "kunden_id",
      ],
    },
    {
      name: "order_id",
      required: true,
      synonyms: [
        "order",
        "order id",
        "orderid",
        "invoice",
        "invoice_no",
        "transaction_id",
        "bestellung",
        "bestellnummer",
      ],
    },
    {
      name: "order_date",
      required: true,
      synonyms: [
        "date",
        "order date",
        "orderdate",
        "invoice_date",
        "created_at",
        "purchase_date",
        "datum",
        "bestelldatum",
      ],
    },
    {
      name: "amount",
      required: true,
      synonyms: ["total", "revenue", "value", "sales", "price", "betrag", "umsatz", "summe"],
    },
    { name: "channel", required: false, synonyms: ["kanal", "source"] },
    { name: "category", required: false, synonyms: ["kategorie", "product_category"] },
    { name: "quantity", required: false, synonyms: ["qty", "menge", "anzahl"] },
    { name: "currency", required: false, synonyms: ["währung", "waehrung"] },
  ],
  customers: [
    {
      name: "customer_id",
      required: true,
      synonyms: [
        "customer",
        "customer id",
        "customerid",
        "client",
        "client_id",
        "user_id",
        "kunde",
        "kundennummer",
        "kunden_id",
      ],
    },
  ],
} as const;

export type FileKind = keyof typeof CONTRACT_COLUMNS;

/** Bytes read to find the header: enough for any header the service accepts. */
const HEAD_BYTES = 256 * 1024;

async function headText(file: File): Promise<string> {
  const start = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  const gzip = start[0] === 0x1f && start[1] === 0x8b;
  const stream = gzip
    ? file.stream().pipeThrough(new DecompressionStream("gzip"))
    : file.slice(0, HEAD_BYTES).stream();
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (text.length < HEAD_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (/\r?\n/.test(text) && !gzip) break;
      if (gzip && text.includes("\n")) break;
    }
  } catch {
    // A damaged gzip: whatever was read is all there is; the service names the problem on upload.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text.replace(/^\uFEFF/, "");
}

/** The first CSV record's fields (quotes as RFC 4180 has them; a quoted line break is kept). */
function csvHeader(text: string): string[] {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      fields.push(field.trim());
      field = "";
    } else if (c === "\n" || c === "\r") break;
    else field += c;
  }
  fields.push(field.trim());
  return fields.filter((f) => f !== "");
}

/** The headers of a file (CSV or NDJSON by its name), or [] when none can be read. */
export async function readHeaders(file: File): Promise<string[]> {
  const text = await headText(file);
  if (/\.(ndjson|jsonl|json)(\.gz)?$/i.test(file.name)) {
    const line = text.split("\n").find((l) => l.trim() !== "");
    try {
      const first: unknown = JSON.parse(line ?? "");
      return first && typeof first === "object" && !Array.isArray(first) ? Object.keys(first) : [];
    } catch {
      return [];
    }
  }
  return csvHeader(text);
}

/** For each contract column, the header proposed for it, or undefined when none fits. */
export function proposeMapping(kind: FileKind, headers: readonly string[]): Map<string, string | undefined> {
  const normal = (s: string) =>
    s
      .trim()
      .toLowerCase()
      .replace(/[\s.-]+/g, "_");
  const byNormal = new Map(headers.map((h) => [normal(h), h]));
  const taken = new Set<string>();
  const proposal = new Map<string, string | undefined>();
  for (const column of CONTRACT_COLUMNS[kind]) {
    const candidates = [column.name, ...column.synonyms].map(normal);
    const found = candidates.map((c) => byNormal.get(c)).find((h) => h !== undefined && !taken.has(h));
    if (found !== undefined) taken.add(found);
    proposal.set(column.name, found);
  }
  return proposal;
}

/** The upload's `columns`: only the columns whose header is not their own name (letter case aside). */
export function columnsFor(mapping: ReadonlyMap<string, string | undefined>): Record<string, string> {
  const columns: Record<string, string> = {};
  for (const [name, header] of mapping) {
    if (header !== undefined && header.trim().toLowerCase() !== name) columns[name] = header;
  }
  return columns;
}
