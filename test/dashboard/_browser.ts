// Test fixture: Debian's chromium driven by playwright-core, headless, as the dashboard's
// browser tests use it on a machine whose network is closed.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { request } from "node:https";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
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

/**
 * Chromium with a fresh profile in userDataDir, reaching nothing of its own on the network and
 * only ORIGIN's host:port of this host's.
 *
 * It runs in a network namespace of its own, where a relay listens on ORIGIN's address and
 * passes each connection through a unix socket to the real one. Chromium abandons requests in
 * flight (ERR_NETWORK_CHANGED) whenever its namespace's addresses change, and the suite's other
 * files add and remove veths all the time: on a loaded machine a page's own scripts were cut
 * off and the page stayed blank (seen in CI). Its own namespace holds only lo, which nothing
 * changes. The relay and its namespace go when the context closes.
 */
export async function launchChromium(
  userDataDir: string,
  viewport: { width: number; height: number },
  origin: string,
): Promise<BrowserContext> {
  mkdirSync(SHOTS, { recursive: true });
  const { hostname, port } = new URL(origin);
  const host = hostname.replace(/^\[|\]$/g, "");
  const socket = `${userDataDir}-relay.sock`;
  const hostSide = createServer((inner) => pair(inner, connect(Number(port), host)));
  await new Promise<void>((resolve, reject) => hostSide.once("error", reject).listen(socket, resolve));
  // the namespace's side: lo up, then a relay on ORIGIN's address to the socket; it ends with
  // its stdin, so it goes with this process too
  const nsSide = spawn(
    "unshare",
    ["--net", "sh", "-c", 'ip link set lo up && exec "$0" -e "$1" "$2" "$3" "$4"', process.execPath, NS_RELAY, socket, host, port],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const stop = () => {
    nsSide.stdin?.end();
    nsSide.kill();
    hostSide.close();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      nsSide.once("exit", (code) => reject(new Error(`the browser's network namespace relay exited (${code})`)));
      nsSide.stdout!.once("data", () => resolve());
    });
    const wrapper = `${userDataDir}-chromium.sh`;
    writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=/proc/${nsSide.pid}/ns/net ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: wrapper,
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
    context.once("close", stop);
    return context;
  } catch (err) {
    stop();
    throw err;
  }
}

const NS_RELAY = `
const net = require("node:net");
const [socket, host, port] = process.argv.slice(1);
const pair = (a, b) => { a.on("error", () => b.destroy()); b.on("error", () => a.destroy()); a.pipe(b).pipe(a); };
net.createServer((c) => pair(c, net.connect(socket))).listen(Number(port), host, () => process.stdout.write("ready\\n"));
process.stdin.on("end", () => process.exit(0)).resume();
`;

function pair(a: Socket, b: Socket): void {
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
  a.pipe(b).pipe(a);
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
