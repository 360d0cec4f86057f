// The image half of the engine client: one typed method per image verb over the daemon's
// Docker Engine API (routes in api/routes/images.ts). Registry credentials are the caller's:
// passed in and sent as X-Registry-Auth / X-Registry-Config, as the docker CLI does.
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Credentials } from "../image/mod.ts";
import { apiError, query, readAll, type EngineClient } from "./client.ts";
import { readJsonMessages, type JsonMessage } from "./json-message.ts";
import { encodeRegistryAuth, encodeRegistryConfig } from "./registry-auth.ts";

export interface ImageListEntry {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  Containers: number;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Config: Record<string, unknown>;
  Os: string;
  Architecture: string;
  Size: number;
  RootFS: { Type: string; Layers: string[] };
  [key: string]: unknown;
}

export interface ImageHistoryEntry {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export type ImageDeleteEntry = { Untagged: string } | { Deleted: string };

type OnMessage = (m: JsonMessage) => void;

/** NAME[:TAG|@DIGEST] → the fromImage/tag pair of POST /images/create. */
export function splitTag(reference: string): { name: string; tag?: string } {
  const at = reference.indexOf("@");
  if (at >= 0) return { name: reference.slice(0, at), tag: reference.slice(at + 1) };
  const colon = reference.lastIndexOf(":");
  if (colon > reference.lastIndexOf("/")) return { name: reference.slice(0, colon), tag: reference.slice(colon + 1) };
  return { name: reference };
}

export class ImageClient {
  constructor(readonly engine: EngineClient) {}

  private async stream(method: string, path: string, body: Readable | undefined, headers: Record<string, string>, onMessage?: OnMessage): Promise<JsonMessage[]> {
    const res = await this.engine.raw(method, path, body, headers);
    if ((res.statusCode ?? 500) >= 400) throw apiError(res.statusCode ?? 500, await readAll(res));
    return readJsonMessages(res, onMessage);
  }

  /** `registry` is where the credentials are for (the image's registry host). */
  async pull(reference: string, opts: { platform?: string; credentials?: Credentials; registry?: string; onMessage?: OnMessage } = {}): Promise<void> {
    const { name, tag } = splitTag(reference);
    const headers = { "X-Registry-Auth": encodeRegistryAuth(opts.credentials, opts.registry ?? "") };
    await this.stream("POST", `/images/create${query({ fromImage: name, tag: tag ?? "latest", platform: opts.platform })}`, undefined, headers, opts.onMessage);
  }

  /** Pushes NAME:TAG (or, without a tag, every local tag of NAME); resolves with the pushed
   * digests as the stream's aux messages report them. */
  async push(reference: string, opts: { credentials?: Credentials; registry?: string; onMessage?: OnMessage } = {}): Promise<{ Tag: string; Digest: string; Size: number }[]> {
    const { name, tag } = splitTag(reference);
    const headers = { "X-Registry-Auth": encodeRegistryAuth(opts.credentials, opts.registry ?? "") };
    const all = await this.stream("POST", `/images/${name}/push${query({ tag })}`, undefined, headers, opts.onMessage);
    return all.flatMap((m) => (m.aux && "Digest" in m.aux ? [m.aux as { Tag: string; Digest: string; Size: number }] : []));
  }

  list(opts: { reference?: string } = {}): Promise<ImageListEntry[]> {
    const filters = opts.reference ? JSON.stringify({ reference: { [opts.reference]: true } }) : undefined;
    return this.engine.call<ImageListEntry[]>("GET", `/images/json${query({ filters })}`);
  }

  inspect(name: string): Promise<ImageInspect> {
    return this.engine.call<ImageInspect>("GET", `/images/${encodeURIComponent(name)}/json`);
  }

  history(name: string): Promise<ImageHistoryEntry[]> {
    return this.engine.call<ImageHistoryEntry[]>("GET", `/images/${encodeURIComponent(name)}/history`);
  }

  async tag(source: string, target: string): Promise<void> {
    const { name, tag } = splitTag(target);
    await this.engine.call("POST", `/images/${encodeURIComponent(source)}/tag${query({ repo: name, tag })}`);
  }

  remove(name: string, opts: { force?: boolean } = {}): Promise<ImageDeleteEntry[]> {
    return this.engine.call<ImageDeleteEntry[]>("DELETE", `/images/${encodeURIComponent(name)}${query({ force: opts.force })}`);
  }

  prune(opts: { all?: boolean } = {}): Promise<{ ImagesDeleted: ImageDeleteEntry[] | null; SpaceReclaimed: number }> {
    const filters = opts.all ? JSON.stringify({ dangling: { false: true } }) : undefined;
    return this.engine.call("POST", `/images/prune${query({ filters })}`);
  }

  async save(names: string[], out: Writable, opts: { format?: string } = {}): Promise<void> {
    const res = await this.engine.raw("GET", `/images/get${query({ names, format: opts.format })}`);
    if ((res.statusCode ?? 500) >= 400) throw apiError(res.statusCode ?? 500, await readAll(res));
    await pipeline(res, out);
  }

  /** Resolves with the "Loaded image: …" lines. */
  async load(archive: Readable, opts: { name?: string } = {}): Promise<string[]> {
    const all = await this.stream("POST", `/images/load${query({ name: opts.name })}`, archive, { "Content-Type": "application/x-tar" });
    return all.flatMap((m) => (m.stream ? [m.stream.trimEnd()] : []));
  }

  /** Resolves with the new image's ID. */
  async import(tarball: Readable, opts: { reference?: string; changes?: string[]; message?: string; platform?: string } = {}): Promise<string> {
    const { name, tag } = opts.reference ? splitTag(opts.reference) : { name: undefined, tag: undefined };
    const path = `/images/create${query({ fromSrc: "-", repo: name, tag, changes: opts.changes, message: opts.message, platform: opts.platform })}`;
    const all = await this.stream("POST", path, tarball, { "Content-Type": "application/x-tar" });
    return all.map((m) => m.status).find((s) => s?.startsWith("sha256:")) ?? "";
  }

  /** A legacy-builder build of a tar context; resolves with the image ID (the aux message). */
  async build(
    context: Readable,
    opts: { dockerfile: string; tags: string[]; buildArgs?: Record<string, string>; noCache?: boolean; quiet?: boolean; credentials?: Record<string, Credentials>; onMessage?: OnMessage },
  ): Promise<string> {
    const path = `/build${query({ dockerfile: opts.dockerfile, t: opts.tags, buildargs: opts.buildArgs ? JSON.stringify(opts.buildArgs) : undefined, nocache: opts.noCache, q: opts.quiet, rm: true })}`;
    const headers = { "Content-Type": "application/x-tar", "X-Registry-Config": encodeRegistryConfig(opts.credentials ?? {}) };
    const all = await this.stream("POST", path, context, headers, opts.onMessage);
    return String(all.find((m) => m.aux && "ID" in m.aux)?.aux?.ID ?? "");
  }

  commit(container: string, opts: { reference?: string; changes?: string[]; message?: string; author?: string; pause?: boolean } = {}): Promise<{ Id: string }> {
    const { name, tag } = opts.reference ? splitTag(opts.reference) : { name: undefined, tag: undefined };
    const q = query({ container, repo: name, tag, changes: opts.changes, comment: opts.message, author: opts.author, pause: opts.pause === false ? "0" : undefined });
    return this.engine.call("POST", `/commit${q}`);
  }
}
