// The browser app's files: built by scripts/build.mjs into dist/dashboard, read once at
// start (a few hundred KB) and served from memory.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServerResponse } from "node:http";
import { GantryError } from "../common/errors.ts";

export type Assets = Map<string, { type: string; body: Buffer }>;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/**
 * dist/dashboard, wherever this module runs from: the bundle (dist/gantry.mjs or a chunk under
 * dist/chunks) or the sources under tsx (src/dashboard, in tests).
 */
function defaultDir(): string | undefined {
  const candidates = ["./dashboard/", "../dashboard/", "../../dist/dashboard/"].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  return candidates.find((dir) => existsSync(join(dir, "index.html")));
}

export function findAssets(dir = defaultDir()): Assets {
  if (!dir || !existsSync(join(dir, "index.html"))) {
    throw new GantryError(
      "NOT_FOUND",
      `the dashboard's files are not built${dir ? ` (no ${join(dir, "index.html")})` : ""}`,
      { hint: "run `npm run build`" },
    );
  }
  const assets: Assets = new Map();
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const type = TYPES[extname(name)];
    if (type) assets.set(`/${name.split("\\").join("/")}`, { type, body: readFileSync(join(dir, name)) });
  }
  return assets;
}

export function serveAsset(assets: Assets, path: string, res: ServerResponse): void {
  // The app routes by the URL's #fragment, so every other path is the app itself.
  const file = assets.get(path) ?? (extname(path) ? undefined : assets.get("/index.html"));
  if (!file) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(`${path}: no such file`);
    return;
  }
  res
    .writeHead(200, {
      "content-type": file.type,
      "content-length": file.body.length,
      "cache-control": "no-cache",
    })
    .end(file.body);
}
