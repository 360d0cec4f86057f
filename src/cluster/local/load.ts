// `gantry cluster load NAME ARCHIVE|IMAGE`: puts an image into every node's store, as `kind
// load image-archive` / `kind load docker-image` do: an archive (docker save / gantry save
// output) is sent to each node's engine (POST /images/load on the node's engine socket);
// an image name is first saved from the host's engine (GET /images/get) into a temporary
// archive. The node engines are the image stores' only writers, so nothing is copied behind
// their backs.
import { createReadStream, createWriteStream, existsSync, rmSync, statSync } from "node:fs";
import { request, type IncomingMessage } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { GantryError, notFound } from "../../common/errors.ts";
import type { ClusterRecord } from "./cluster-record.ts";

const engineSocketOf = (dataRoot: string) => join(dataRoot, "engine.sock");

function call(socketPath: string, method: string, path: string, body?: string): Promise<{ status: number; text: string; stream?: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: body ? { "Content-Type": "application/x-tar" } : {} }, (res) => {
      if (method === "GET" && res.statusCode === 200) return resolve({ status: 200, text: "", stream: res });
      let text = "";
      res.on("data", (b: Buffer) => (text += b.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", (err) => reject(new GantryError("UNAVAILABLE", `cannot reach the engine at ${socketPath}: ${err.message}`, { hint: "is the cluster running? (gantry cluster list)" })));
    if (body) createReadStream(body).on("error", reject).pipe(req);
    else req.end();
  });
}

/** The messages a load's JSON stream carried: the loaded names, or its error. */
function loadResult(text: string): string[] {
  const loaded: string[] = [];
  for (const line of text.split("\n").filter((l) => l.trim())) {
    let m: { stream?: string; error?: string; errorDetail?: { message?: string }; message?: string };
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      continue;
    }
    const err = m.errorDetail?.message ?? m.error;
    if (err) throw new GantryError("INVALID_ARGUMENT", err);
    if (m.stream?.trim()) loaded.push(m.stream.trim());
  }
  return loaded;
}

/** Saves an image from the host engine (unix socket) into archive. */
async function saveFromHost(hostSocket: string, image: string, archive: string): Promise<void> {
  const r = await call(hostSocket, "GET", `/images/get?names=${encodeURIComponent(image)}`);
  if (r.status === 404) throw notFound(`no image ${image} on the host engine (${hostSocket}): ${r.text.trim()}`, { hint: "pull or build it first, or give an archive" });
  if (!r.stream) throw new GantryError("INVALID_ARGUMENT", `saving ${image} from ${hostSocket}: ${r.text.trim()}`);
  await pipeline(r.stream, createWriteStream(archive, { mode: 0o600 }));
}

/** Loads source (an archive path, else an image on the host engine) into every node; returns per node what was loaded. */
export async function loadIntoCluster(rec: ClusterRecord, source: string, hostSocket: string): Promise<Map<string, string[]>> {
  let archive = source;
  let temp: string | undefined;
  if (!existsSync(source) || !statSync(source).isFile()) {
    temp = join(rec.dir, `.load-${process.pid}.tar`);
    archive = temp;
    await saveFromHost(hostSocket, source, temp);
  }
  try {
    const out = new Map<string, string[]>();
    for (const n of rec.nodes) {
      const r = await call(engineSocketOf(n.dataRoot), "POST", "/images/load?quiet=0", archive);
      if (r.status !== 200) throw new GantryError("INVALID_ARGUMENT", `node ${n.name}: loading ${source}: ${r.text.trim()}`);
      out.set(n.name, loadResult(r.text));
    }
    return out;
  } finally {
    if (temp) rmSync(temp, { force: true });
  }
}
