/**
 * Uploads a file to a running service the way a client does: asks the API for a presigned POST, posts the
 * file to S3 with it, then polls the dataset's runs until the upload's run finishes (with a deadline). The
 * API calls carry the caller's bearer token; the S3 POST needs none, its signed fields authorize it.
 */
import { basename } from "node:path";

export interface RunSummary {
  runId: string;
  status: string;
  uploadId?: string;
  counts?: Record<string, number>;
  error?: { code: string; message: string };
}

export interface UploadOptions {
  kind?: "transactions" | "customers";
  mode?: "append" | "replace";
  waitMs?: number;
  fileName?: string;
  /** Access token with the write and read scopes, sent as `authorization: Bearer <token>`. */
  token?: string;
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
    body: JSON.stringify({ fileName, kind: options.kind ?? "transactions", mode: options.mode ?? "append" }),
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

export async function waitForRun(
  api: string,
  datasetId: string,
  uploadId: string,
  waitMs: number,
  token?: string,
): Promise<RunSummary> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const res = await fetch(`${api}/datasets/${encodeURIComponent(datasetId)}/runs?limit=50`, {
      headers: authHeaders(token),
    });
    // Waiting cannot fix a refused token.
    if (res.status === 401 || res.status === 403)
      throw new Error(`GET runs answered ${res.status}: ${await res.text()}`);
    if (res.ok) {
      const { runs } = (await res.json()) as { runs: RunSummary[] };
      const run = runs.find((r) => r.uploadId === uploadId && r.status !== "running");
      if (run) return run;
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`The run of upload ${uploadId} did not finish within ${waitMs} ms`);
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
  return waitForRun(api, datasetId, uploadId, options.waitMs ?? 60_000, options.token);
}
