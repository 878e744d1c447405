/**
 * Uploads a file to a running service the way a client does: asks the API for a presigned POST, posts the
 * file to S3 with it, then polls the dataset's runs until the upload's run finishes (with a deadline). The
 * API calls carry the caller's bearer token; the S3 POST needs none, its signed fields authorize it.
 */
import { basename } from "node:path";
import { UsageError } from "../cli";

export interface RunSummary {
  runId: string;
  status: string;
  /** "upload" for the upload's own run; "erasure" for the skipped run of the service's rewrite of its file. */
  trigger?: string;
  uploadId?: string;
  counts?: Record<string, number>;
  error?: { code: string; message: string };
}

export interface UploadOptions {
  kind?: "transactions" | "customers" | "pinpoint-endpoints";
  mode?: "append" | "replace";
  /** How long the run may show no progress before waiting stops (10 minutes by default). */
  waitMs?: number;
  fileName?: string;
  /** Access token with the write and read scopes, sent as `authorization: Bearer <token>`. */
  token?: string;
  /** The file's header for each column of the data contract that it names otherwise. */
  columns?: Record<string, string>;
}

/**
 * `customer_id=Kunde,order_id=Bestellung` as an upload's `columns`: each column of the data contract and the
 * header that holds it in the file. A header containing a comma cannot be named this way (the API takes it).
 */
export function parseColumns(text: string): Record<string, string> {
  const columns = new Map<string, string>();
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=");
    const column = at < 0 ? "" : pair.slice(0, at).trim();
    const header = at < 0 ? "" : pair.slice(at + 1).trim();
    if (!column || !header)
      throw new UsageError(`--columns takes <column>=<header> pairs separated by commas, got "${pair}"`);
    if (columns.has(column)) throw new UsageError(`--columns names ${column} twice`);
    columns.set(column, header);
  }
  return Object.fromEntries(columns);
}

function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

export async function requestUpload(
  api: string,
  datasetId: string,
  fileName: string,
  options: UploadOptions = {},
): Promise<{ uploadId: string; url: string; fields: Record<string, string> }> {
  const res = await fetch(`${api}/datasets/${encodeURIComponent(datasetId)}/uploads`, {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeaders(options.token) },
    body: JSON.stringify({
      fileName,
      kind: options.kind ?? "transactions",
      mode: options.mode ?? "append",
      ...(options.columns ? { columns: options.columns } : {}),
    }),
  });
  if (res.status !== 201) throw new Error(`POST uploads answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { uploadId: string; url: string; fields: Record<string, string> };
}

export async function postFile(
  url: string,
  fields: Record<string, string>,
  body: Uint8Array,
  fileName: string,
) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append("file", new Blob([body]), fileName);
  const res = await fetch(url, { method: "POST", body: form });
  if (res.status >= 300) throw new Error(`S3 POST answered ${res.status}: ${await res.text()}`);
}

/**
 * Polls the dataset's runs until the upload's run has ended. `stallMs` only catches a hang: it is how long
 * the run may go without any sign of progress (its record changing: its status, its progress, its attempts)
 * before waiting stops; a run that keeps moving is waited for however long it takes.
 */
export async function waitForRun(
  api: string,
  datasetId: string,
  uploadId: string,
  stallMs: number,
  token?: string,
): Promise<RunSummary> {
  let lastSeen = "";
  let movedAt = Date.now();
  while (Date.now() - movedAt < stallMs) {
    const res = await fetch(`${api}/datasets/${encodeURIComponent(datasetId)}/runs?limit=50`, {
      headers: authHeaders(token),
    }).catch(() => undefined);
    // Waiting cannot fix a refused token.
    if (res?.status === 401 || res?.status === 403)
      throw new Error(`GET runs answered ${res.status}: ${await res.text()}`);
    if (res?.ok) {
      const { runs } = (await res.json()) as { runs: (RunSummary & { progress?: unknown })[] };
      // The upload's runs, not the skipped run that the S3 event of the service's own rewrite of the file (one
      // leaving out erased customers) makes when it races the run that rewrote it (trigger "erasure").
      const mine = runs.filter((r) => r.uploadId === uploadId && r.trigger !== "erasure");
      const ended = mine.find((r) => r.status !== "running" && r.status !== "abandoned");
      if (ended && mine[0] === ended) return ended;
      const seen = JSON.stringify(mine.map((r) => [r.runId, r.status, r.progress]));
      if (seen !== lastSeen) {
        lastSeen = seen;
        movedAt = Date.now();
      }
    }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  throw new Error(
    `The run of upload ${uploadId} showed no progress for ${Math.round(stallMs / 1000)} s; it may still finish: GET ${api}/datasets/${datasetId}/runs`,
  );
}

export async function uploadFile(
  api: string,
  datasetId: string,
  path: string,
  body: Uint8Array,
  options: UploadOptions = {},
): Promise<RunSummary> {
  const fileName = options.fileName ?? basename(path);
  const { uploadId, url, fields } = await requestUpload(api, datasetId, fileName, options);
  await postFile(url, fields, body, fileName);
  return waitForRun(api, datasetId, uploadId, options.waitMs ?? 600_000, options.token);
}
