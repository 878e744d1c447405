/**
 * The dashboard's only way to the service: the project's typed client (shared/client) on the browser's
 * fetch, pointed at the API address from config.json (the page's own origin when it names none), with the
 * token the user pasted, kept in sessionStorage so it goes when the tab closes.
 */
import { ApiError, type Client, createClient } from "../../shared/client";

const TOKEN_KEY = "segmentation.token";

export interface SiteConfig {
  /** The API's base address; empty means the page's own origin. */
  apiUrl: string;
}

export async function loadConfig(): Promise<SiteConfig> {
  try {
    const res = await fetch("config.json", { cache: "no-store" });
    if (!res.ok) return { apiUrl: "" };
    const body = (await res.json()) as Partial<SiteConfig>;
    return { apiUrl: typeof body.apiUrl === "string" ? body.apiUrl : "" };
  } catch {
    return { apiUrl: "" };
  }
}

export function apiBase(config: SiteConfig): string {
  return (config.apiUrl || window.location.origin).replace(/\/+$/, "");
}

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export function makeClient(config: SiteConfig): Client {
  return createClient({ baseUrl: apiBase(config), token: () => token.get() ?? undefined });
}

/** What to tell a person about a failed call, in words. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401)
      return "The API refused the token (401 Unauthorized): it is missing, expired or not signed by the service's issuer. Sign in again with a fresh token.";
    if (error.status === 403)
      return `The token is not allowed to do this (403 Forbidden): ${error.message}. Ask for a token with the needed scope.`;
    const details = error.details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join("; ");
    return `${error.message} (${error.code})${details ? ` — ${details}` : ""}`;
  }
  if (error instanceof TypeError)
    return "The API could not be reached. Check the address and your connection.";
  return error instanceof Error ? error.message : String(error);
}

export { ApiError };
