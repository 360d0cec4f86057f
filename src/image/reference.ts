// Image references as Docker spells them: [registry[:port]/]path[:tag][@sha256:…]. A name
// without a registry means Docker Hub ("busybox" → docker.io/library/busybox:latest).
import { invalidArgument } from "../common/errors.ts";
import { assertDigest, type Digest } from "./digest.ts";

export interface ImageReference {
  /** Registry host as written (docker.io for Docker Hub). */
  registry: string;
  /** Repository path inside the registry (library/busybox). */
  repository: string;
  tag?: string;
  digest?: Digest;
}

const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;

export function parseReference(input: string): ImageReference {
  let rest = input.trim();
  if (rest === "") throw invalidArgument("empty image reference");
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = assertDigest(rest.slice(at + 1), `digest in ${input}`);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) throw invalidArgument(`invalid tag "${tag}" in ${input}`);
  }
  let registry = "docker.io";
  const parts = rest.split("/");
  const first = parts[0] ?? "";
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    registry = first;
    parts.shift();
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = "docker.io";
  if (registry === "docker.io" && parts.length === 1) parts.unshift("library");
  for (const p of parts) {
    if (!pathComponent.test(p)) throw invalidArgument(`invalid repository name component "${p}" in ${input}`, {
      hint: "names are lower case letters, digits and . _ - separators",
    });
  }
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository: parts.join("/"), tag, digest };
}

/** registry/repository (no tag or digest). */
export const repositoryName = (r: ImageReference): string => `${r.registry}/${r.repository}`;

/** The canonical string stored in the refs table: name:tag, or name@digest when pinned. */
export function formatReference(r: ImageReference): string {
  if (r.tag !== undefined) return `${repositoryName(r)}:${r.tag}`;
  return `${repositoryName(r)}@${r.digest}`;
}

/** Shortens docker.io/library/x to x for display, as docker does. */
export function familiarName(canonical: string): string {
  if (canonical.startsWith("docker.io/library/")) return canonical.slice("docker.io/library/".length);
  if (canonical.startsWith("docker.io/")) return canonical.slice("docker.io/".length);
  return canonical;
}
