/**
 * Debian's Chromium (/usr/bin/chromium, installed by .ci/run) driven by playwright-core, which never
 * downloads a browser of its own. The flags keep a headless Chromium from calling Google's services, which
 * a closed network answers with errors and delays, and a fresh profile per launch keeps runs independent.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export interface Chromium {
  context: BrowserContext;
  close: () => Promise<void>;
}

export async function launchChromium(viewport = { width: 1280, height: 900 }): Promise<Chromium> {
  const profile = await mkdtemp(join(tmpdir(), "chromium-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
