// Request bodies: read with a size limit (413 past it), then decoded by Content-Type —
// JSON, YAML, Kubernetes protobuf, and the patch types.
import type { IncomingMessage } from "node:http";
import { isMap, isScalar, isSeq, parse as parseYaml, parseDocument } from "yaml";
import { errBadRequest, errTooLarge, errUnsupportedMediaType } from "./status.ts";
import { decodeProtobufObject, PROTOBUF_TYPE } from "./protobuf.ts";

/** 3 MiB, as Kubernetes' default max request body for JSON/YAML objects. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    req.resume();
    throw errTooLarge(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume();
      throw errTooLarge(limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

export function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch (err) {
    throw errBadRequest(`the body of the request could not be decoded as JSON: ${(err as Error).message}`);
  }
}

export function parseYamlBody(buf: Buffer): unknown {
  try {
    return parseYaml(buf.toString("utf8"), { uniqueKeys: false, maxAliasCount: 100 });
  } catch (err) {
    throw errBadRequest(`the body of the request could not be decoded as YAML: ${(err as Error).message.split("\n")[0]}`);
  }
}

/** Decodes an object body (POST/PUT). A missing Content-Type means JSON (kubectl scale sends none). */
export async function decodeObjectBody(type: string, buf: Buffer): Promise<unknown> {
  if (buf.length === 0) throw errBadRequest("the request body is empty; an object is required");
  switch (type) {
    case "":
    case "application/json":
      return parseJson(buf);
    case "application/yaml":
    case "application/x-yaml":
    case "text/yaml":
      return parseYamlBody(buf);
    case PROTOBUF_TYPE:
      return decodeProtobufObject(buf);
    default:
      throw errUnsupportedMediaType(type);
  }
}

/**
 * Fields given twice in a JSON or YAML body (`data.a`), for fieldValidation: Strict refuses
 * them, Warn reports them; the last value wins otherwise, as in the real server.
 */
export function duplicateFields(type: string, buf: Buffer): string[] {
  if (type === "" || type === "application/json") return jsonDuplicateKeys(buf.toString("utf8"));
  if (!["application/yaml", "application/x-yaml", "text/yaml", "application/apply-patch+yaml"].includes(type)) return [];
  const out: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const p = path ? `${path}.${key}` : key;
        if (seen.has(key)) out.push(p);
        seen.add(key);
        walk(pair.value, p);
      }
    } else if (isSeq(node)) node.items.forEach((x, i) => walk(x, `${path}[${i}]`));
  };
  try {
    walk(parseDocument(buf.toString("utf8"), { uniqueKeys: false }).contents, "");
  } catch {
    // the body's own parse reports malformed input
  }
  return out;
}

type Frame = { kind: "object"; path: string; keys: Set<string>; key: string } | { kind: "array"; path: string; index: number };

/** One pass over (already parsed, so well-formed) JSON text, naming keys given twice. */
function jsonDuplicateKeys(text: string): string[] {
  const out: string[] = [];
  const stack: Frame[] = [];
  const childPath = (): string => {
    const top = stack[stack.length - 1];
    if (!top) return "";
    if (top.kind === "object") return top.path ? `${top.path}.${top.key}` : top.key;
    return `${top.path}[${top.index}]`;
  };
  let i = 0;
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const end = j + 1;
      let k = end;
      while (k < text.length && (text[k] === " " || text[k] === "\n" || text[k] === "\r" || text[k] === "\t")) k++;
      const top = stack[stack.length - 1];
      if (text[k] === ":" && top?.kind === "object") {
        const key = JSON.parse(text.slice(i, end)) as string;
        if (top.keys.has(key)) out.push(top.path ? `${top.path}.${key}` : key);
        top.keys.add(key);
        top.key = key;
        i = k + 1;
      } else i = end;
      continue;
    }
    if (ch === 0x7b /* { */) stack.push({ kind: "object", path: childPath(), keys: new Set(), key: "" });
    else if (ch === 0x5b /* [ */) stack.push({ kind: "array", path: childPath(), index: 0 });
    else if (ch === 0x7d || ch === 0x5d) stack.pop();
    else if (ch === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.kind === "array") top.index++;
    }
    i++;
  }
  return out;
}
