// Test fixture: Debian's chromium driven by playwright-core, headless, as the dashboard's
// browser tests use it on a machine whose network is closed.
import { existsSync, mkdirSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { repo } from "../engine/_daemon.ts";

export const CHROMIUM = "/usr/bin/chromium";
/** Where the tests' screenshots go (ignored by git). */
export const SHOTS = join(repo, "test-results", "dashboard");

/** Why the dashboard cannot be served here (its app is not built), or undefined. */
export function appSkipReason(): string | undefined {
  return existsSync(join(repo, "dist", "dashboard", "index.html"))
    ? undefined
    : "the dashboard is not built (npm run build)";
}

/** Why a browser test cannot run here, or undefined. */
export function browserSkipReason(): string | undefined {
  if (!existsSync(CHROMIUM))
    return `${CHROMIUM} is missing (scripts/install-deps.sh installs Debian's chromium)`;
  return appSkipReason();
}

/** Chromium with a fresh profile in userDataDir, reaching nothing of its own on the network. */
export function launchChromium(
  userDataDir: string,
  viewport: { width: number; height: number },
): Promise<BrowserContext> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    // the dashboard is HTTPS with a certificate of the cluster's (or daemon's) own CA, which
    // this chromium has no store to take: requestVerified checks the chain with the CA instead
    ignoreHTTPSErrors: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A GET to URL over HTTPS that trusts CA alone (PEM) and checks the certificate names the
 * host: what a browser given the CA would accept. Rejects when the chain or name is wrong.
 */
export function requestVerified(
  url: string | URL,
  ca: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * page.goto, again when chromium abandons the navigation with ERR_NETWORK_CHANGED: it does so
 * whenever the host's addresses change, and the suite's other files add and remove veths all
 * the time (the app retries its own requests for the same reason, src/dashboard/ui/api.ts).
 */
export async function gotoRetrying(page: Page, url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(url);
      return;
    } catch (err) {
      if (attempt >= 5 || !String(err).includes("ERR_NETWORK_CHANGED")) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
