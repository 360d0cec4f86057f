// The image routes of the Docker Engine API, on the daemon's store (the store's one writer):
// list, inspect, history, tag, remove, prune, pull and import (`POST /images/create`), push,
// save (`GET /images/get`), load, the legacy builder (`POST /build`, a tar context) and
// commit (`POST /commit`), and the credential check of `docker login` (`POST /auth`). Each route parses its request, calls src/image, and answers in
// dockerd's shapes; pull, push, build, load and import answer with Docker's JSON message
// stream. Registry credentials are only those the client sends (X-Registry-Auth, and
// X-Registry-Config for build), as with dockerd.
import { createWriteStream, existsSync, mkdirSync, rmSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { join, normalize } from "node:path";
import { pipeline } from "node:stream/promises";
import { GantryError, invalidArgument, notFound } from "../../../common/errors.ts";
import {
  buildImage,
  collectGarbage,
  commitContainer,
  familiarName,
  formatReference,
  importRootfs,
  listImages,
  loadArchive,
  openTarStream,
  parseReference,
  pullImage,
  pushImage,
  RegistryClient,
  removeImage,
  repositoryName,
  RunStepFailed,
  saveImages,
  tagImage,
  unpackLayer,
  type ArchiveFormat,
  type ContainerConfig,
} from "../../../image/mod.ts";
import type { Engine } from "../../engine.ts";
import { commitConfigOf, imageHistory, imageInspect, imageListEntry, matchesReference, shortImageId } from "../../image-views.ts";
import { decodeRegistryAuth, decodeRegistryConfig } from "../../registry-auth.ts";
import { boolParam, filtersParam, readJson, sendJson, type Request, type RouteTable } from "../http.ts";
import { JsonMessageStream, pullMessage, pushMessage } from "../json-stream.ts";
import { ownersInside } from "../../userns.ts";

export function registerImageRoutes(api: RouteTable, e: Engine): void {
  const name = (m: RegExpExecArray) => decodeURIComponent(m[1]!);

  api.on("GET", "/images/json", (r, res) => {
    const filters = filtersParam(r.query);
    const inUse = (id: string) => e.containers.all().filter((c) => c.Image === id).length;
    const list = listImages(e.images).filter((i) => matchesReference(i.repoTags, filters.reference ?? []));
    sendJson(res, 200, list.map((i) => imageListEntry(i, inUse(i.id))));
  });
  api.on("GET", "/images/(.+)/json", (_r, res, m) => sendJson(res, 200, imageInspect(e.resolveImage(name(m)))));
  api.on("GET", "/images/(.+)/history", (_r, res, m) => sendJson(res, 200, imageHistory(e.resolveImage(name(m)))));

  api.on("POST", "/images/(.+)/tag", (r, res, m) => {
    const repo = r.query.get("repo") ?? "";
    if (!repo) throw invalidArgument("repository name (repo) is required");
    const tag = r.query.get("tag");
    e.resolveImage(name(m));
    tagImage(e.images, name(m), tag ? `${repo}:${tag}` : repo);
    res.writeHead(201);
    res.end();
  });

  api.on("DELETE", "/images/(.+)", (r, res, m) => {
    e.resolveImage(name(m));
    const out = removeImage(e.images, name(m), { force: boolParam(r.query, "force") });
    if (out.deleted && !boolParam(r.query, "noprune")) collectGarbage(e.images);
    sendJson(res, 200, [...out.untagged.map((u) => ({ Untagged: u })), ...(out.deleted ? [{ Deleted: out.deleted }] : [])]);
  });

  // Without dangling=false there is nothing dangling to remove (every stored image has a
  // name): unreferenced content goes. With it (`prune -a`), every image no container uses.
  api.on("POST", "/images/prune", (r, res) => {
    const deleted: ({ Untagged: string } | { Deleted: string })[] = [];
    if ((filtersParam(r.query).dangling ?? []).some((v) => v === "false" || v === "0")) {
      const used = new Set(e.containers.all().map((c) => c.Image));
      for (const img of listImages(e.images)) {
        if (used.has(img.id)) continue;
        const out = removeImage(e.images, img.id, { force: true });
        deleted.push(...out.untagged.map((u) => ({ Untagged: u })), ...(out.deleted ? [{ Deleted: out.deleted }] : []));
      }
    }
    const gc = collectGarbage(e.images);
    sendJson(res, 200, { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: gc.bytesFreed });
  });

  api.on("POST", "/images/create", (r, res) => {
    const fromImage = r.query.get("fromImage");
    const fromSrc = r.query.get("fromSrc");
    if (fromImage) return pull(e, r, res, fromImage);
    if (fromSrc) return importTarball(e, r, res, fromSrc);
    throw invalidArgument("fromImage or fromSrc is required");
  });

  api.on("POST", "/images/(.+)/push", (r, res, m) => push(e, r, res, name(m)));

  api.on("POST", "/images/load", async (r, res) => {
    await new JsonMessageStream(res).run(async (s) => {
      const out = await loadArchive(e.images, r.raw, { name: r.query.get("name") || undefined });
      for (const img of out.images) {
        const lines = img.names.length ? img.names.map((n) => `Loaded image: ${familiarName(n)}`) : [`Loaded image ID: ${img.id}`];
        for (const l of lines) s.write({ stream: `${l}\n` });
      }
    });
  });

  const save = async (names: string[], format: string | null, res: ServerResponse) => {
    if (names.length === 0) throw invalidArgument("no image names given");
    if (format && format !== "docker-archive" && format !== "oci-archive") throw invalidArgument(`unknown archive format "${format}": docker-archive or oci-archive`);
    for (const n of names) e.resolveImage(n);
    res.writeHead(200, { "Content-Type": "application/x-tar" });
    await saveImages(e.images, names, (format ?? "docker-archive") as ArchiveFormat, res);
    res.end();
  };
  api.on("GET", "/images/get", (r, res) => save(r.query.getAll("names"), r.query.get("format"), res));
  api.on("GET", "/images/(.+)/get", (r, res, m) => save([name(m)], r.query.get("format"), res));

  // docker login: the daemon only checks the credentials with the registry; the client keeps them.
  api.on("POST", "/auth", async (r, res) => {
    const body = await readJson<{ username?: string; password?: string; serveraddress?: string }>(r.raw, true);
    if (!body?.username) throw invalidArgument("username is required");
    const host = (body.serveraddress || "docker.io").replace(/^https?:\/\//, "").replace(/\/.*$/, "");
    const registry = host === "index.docker.io" ? "docker.io" : host;
    const credentials = { username: body.username, password: body.password ?? "" };
    await new RegistryClient({ registry, repository: "library/gantry-login-check" }, { credentials, insecureRegistries: e.opts.insecureRegistries }).ping();
    sendJson(res, 200, { Status: "Login Succeeded", IdentityToken: "" });
  });

  api.on("POST", "/build", (r, res) => build(e, r, res));
  api.on("POST", "/commit", (r, res) => commit(e, r, res));
}

// ---- pull, push, import ------------------------------------------------------------------------

function platformParam(text: string | null): { os: string; architecture: string; variant?: string } | undefined {
  if (!text) return undefined;
  const [os, architecture, variant] = text.split("/");
  if (!os || !architecture) throw invalidArgument(`invalid platform "${text}": expected os/arch[/variant]`);
  return { os, architecture, variant };
}

/** Byte counts arrive per chunk: one message per layer per 100 ms is plenty for a bar. */
function progressThrottle(): (id: string, partial: boolean) => boolean {
  const last = new Map<string, number>();
  return (id, partial) => {
    if (!partial) return true;
    const now = Date.now();
    if (now - (last.get(id) ?? 0) < 100) return false;
    last.set(id, now);
    return true;
  };
}

async function pull(e: Engine, r: Request, res: ServerResponse, fromImage: string): Promise<void> {
  const tag = r.query.get("tag");
  const reference = tag ? (tag.startsWith("sha256:") ? `${fromImage}@${tag}` : `${fromImage}:${tag}`) : fromImage;
  const ref = parseReference(reference);
  const platform = platformParam(r.query.get("platform"));
  const credentials = decodeRegistryAuth(r.raw.headers["x-registry-auth"]) ?? null;
  const wanted = progressThrottle();
  // Nothing is written before the registry has answered for the manifest, so an unknown
  // image or refused credentials come back as an HTTP error status.
  await new JsonMessageStream(res).run(async (s) => {
    let announced = false;
    const result = await pullImage(e.images, reference, {
      platform,
      credentials,
      insecureRegistries: e.opts.insecureRegistries,
      onProgress: (p) => {
        if (!announced) s.write({ status: `Pulling from ${ref.repository}`, id: ref.tag ?? ref.digest });
        announced = true;
        if (p.kind === "layer" && wanted(p.digest, p.status === "downloading" && p.current > 0 && p.current < p.total)) s.write(pullMessage(p));
      },
    });
    s.write({ status: `Digest: ${result.indexDigest ?? result.manifestDigest}` });
    const news = result.layersExisting === result.layers ? "Image is up to date" : "Downloaded newer image";
    s.write({ status: `Status: ${news} for ${familiarName(result.name)}` });
  });
}

/** The names a push sends: NAME:TAG, or with no tag every local tag of the repository. */
function pushTargets(e: Engine, nameText: string, tag: string | undefined): string[] {
  if (tag) {
    const ref = tag.startsWith("sha256:") ? `${nameText}@${tag}` : `${nameText}:${tag}`;
    try {
      e.resolveImage(ref);
    } catch {
      throw notFound(`An image does not exist locally with the tag: ${familiarName(formatReference(parseReference(ref)))}`);
    }
    return [ref];
  }
  const repo = repositoryName(parseReference(nameText));
  const names = Object.keys(e.images.readRefs()).filter((n) => !n.includes("@") && n.startsWith(`${repo}:`));
  if (names.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarName(repo)}`);
  return names.sort();
}

async function push(e: Engine, r: Request, res: ServerResponse, nameText: string): Promise<void> {
  const targets = pushTargets(e, nameText, r.query.get("tag") || undefined);
  const credentials = decodeRegistryAuth(r.raw.headers["x-registry-auth"]) ?? null;
  await new JsonMessageStream(res).run(async (s) => {
    s.write({ status: `The push refers to repository [${repositoryName(parseReference(nameText))}]` });
    for (const target of targets) {
      const wanted = progressThrottle();
      const out = await pushImage(e.images, target, target, {
        credentials,
        insecureRegistries: e.opts.insecureRegistries,
        onProgress: (p) => {
          if (wanted(p.digest, p.status === "uploading" && p.current < p.total)) s.write(pushMessage(p));
        },
      });
      const size = e.images.blobSize(out.digest);
      const tag = parseReference(target).tag ?? out.digest;
      s.write({ status: `${tag}: digest: ${out.digest} size: ${size}` });
      s.write({ progressDetail: {}, aux: { Tag: tag, Digest: out.digest, Size: size } });
    }
  });
}

async function importTarball(e: Engine, r: Request, res: ServerResponse, fromSrc: string): Promise<void> {
  if (fromSrc !== "-") throw new GantryError("UNSUPPORTED_OPTION", "import from a URL is not supported; send the tarball as the request body (fromSrc=-)");
  const repo = r.query.get("repo") || undefined;
  const tag = r.query.get("tag");
  const options = {
    name: repo ? (tag ? `${repo}:${tag}` : repo) : undefined,
    changes: r.query.getAll("changes").flatMap((c) => c.split("\n")).filter(Boolean),
    message: r.query.get("message") || undefined,
    platform: platformParam(r.query.get("platform")),
  };
  if (options.name) parseReference(options.name);
  const tmp = e.images.tempPath("import");
  try {
    await pipeline(r.raw, createWriteStream(tmp));
    const out = await importRootfs(e.images, tmp, options);
    await new JsonMessageStream(res).run(async (s) => s.write({ status: out.id }));
  } finally {
    rmSync(tmp, { force: true });
  }
}

// ---- build, commit -------------------------------------------------------------------------

/** Query parameters the legacy builder would have to honour to be correct; refused rather
 * than ignored when set. (The docker CLI sends many others with their neutral defaults.) */
function refuseUnsupportedBuildOptions(q: URLSearchParams): void {
  const set = (k: string) => {
    const v = q.get(k);
    return v !== null && v !== "" && v !== "{}" && v !== "null" && v !== "[]";
  };
  for (const k of ["remote", "target", "labels", "extrahosts", "squash", "outputs"]) {
    if (set(k) && !(k === "squash" && !boolParam(q, k))) throw new GantryError("UNSUPPORTED_OPTION", `build option ${k} is not supported by Gantry's builder`);
  }
}

async function build(e: Engine, r: Request, res: ServerResponse): Promise<void> {
  refuseUnsupportedBuildOptions(r.query);
  const tags = r.query.getAll("t").filter(Boolean);
  for (const t of tags) parseReference(t);
  let buildArgs: Record<string, string> = {};
  const argsText = r.query.get("buildargs");
  if (argsText) {
    try {
      buildArgs = Object.fromEntries(Object.entries(JSON.parse(argsText) as Record<string, string | null>).filter(([, v]) => v !== null)) as Record<string, string>;
    } catch {
      throw invalidArgument(`buildargs is not a JSON object: ${argsText}`);
    }
  }
  // A FROM image the store lacks is pulled with the credentials the client sent for its registry.
  const registryConfig = decodeRegistryConfig(r.raw.headers["x-registry-config"]);
  const work = e.images.tempPath("build");
  const context = join(work, "context");
  try {
    mkdirSync(context, { recursive: true, mode: 0o700 });
    const tarPath = join(work, "context.tar");
    await pipeline(r.raw, createWriteStream(tarPath));
    // The context is untrusted input: unpacked with the layer unpacker's path checks.
    await unpackLayer(openTarStream(tarPath), context, { preserveOwners: false });
    const dockerfileParam = r.query.get("dockerfile") || "Dockerfile";
    const dockerfile = join(context, normalize(`/${dockerfileParam}`));
    if (!existsSync(dockerfile)) throw invalidArgument(`Cannot locate specified Dockerfile: ${dockerfileParam}`);
    const quiet = boolParam(r.query, "q");
    await new JsonMessageStream(res).run(
      async (s) => {
        const out = await buildImage(e.images, {
          contextDir: context,
          dockerfile,
          tag: tags[0],
          buildArgs,
          noCache: boolParam(r.query, "nocache"),
          log: (line) => !quiet && s.write({ stream: `${line}\n` }),
          output: (chunk) => !quiet && s.write({ stream: chunk.toString("utf8") }),
          pullBase: async (reference) => {
            const wanted = progressThrottle();
            await pullImage(e.images, reference, {
              credentials: registryConfig[parseReference(reference).registry] ?? null,
              insecureRegistries: e.opts.insecureRegistries,
              onProgress: (p) => {
                if (!quiet && p.kind === "layer" && wanted(p.digest, p.status === "downloading" && p.current > 0 && p.current < p.total)) s.write(pullMessage(p));
              },
            });
          },
        });
        for (const t of tags.slice(1)) tagImage(e.images, out.id, t);
        s.write({ aux: { ID: out.id } });
        // Quiet, the docker CLI prints the stream's text as the result: just the ID, as dockerd sends.
        if (quiet) s.write({ stream: `${out.id}\n` });
        else {
          s.write({ stream: `Successfully built ${shortImageId(out.id)}\n` });
          for (const t of tags) s.write({ stream: `Successfully tagged ${familiarName(formatReference(parseReference(t)))}\n` });
        }
      },
      (err) => (err instanceof RunStepFailed ? err.exitCode || 1 : undefined),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function commit(e: Engine, r: Request, res: ServerResponse): Promise<void> {
  const rec = e.containers.get(r.query.get("container") ?? "");
  const repo = r.query.get("repo") || undefined;
  const tag = r.query.get("tag") || undefined;
  const target = repo ? formatReference(parseReference(tag ? `${repo}:${tag}` : repo)) : undefined;
  const override = await readJson<ContainerConfig | null>(r.raw);
  // As dockerd: a running container is paused while its changes are read, unless pause=0.
  const pause = boolParam(r.query, "pause", true) && rec.State.Status === "running";
  if (pause) await e.pause(rec.Id);
  let id: string;
  try {
    const out = await commitContainer(e.images, rec.Id, {
      name: target,
      config: commitConfigOf(rec.Config as ContainerConfig, override ?? undefined),
      changes: r.query.getAll("changes").flatMap((c) => c.split("\n")).filter(Boolean),
      message: r.query.get("comment") || undefined,
      author: r.query.get("author") || undefined,
      // A remapped container's upper dir holds host ids: the layer gets the container's.
      ...(rec.Userns ? { owners: ownersInside(rec.Userns) } : {}),
    });
    id = out.id;
  } finally {
    if (pause) await e.unpause(rec.Id);
  }
  sendJson(res, 201, { Id: id });
}
