// Kubernetes protobuf request bodies: the 4-byte magic "k8s\0", then a runtime.Unknown
// whose typeMeta names the kind and whose raw bytes are the object's message. Decoded with
// protobufjs against the schema subset in k8s-proto-schema.ts, then turned into the JSON
// shape (Time -> RFC 3339, IntOrString -> number|string, Quantity -> string, bytes -> base64).
import protobuf from "protobufjs";
import { ApiError, errBadRequest } from "./status.ts";
import { K8S_PROTO, PROTO_KINDS } from "./k8s-proto-schema.ts";

export const PROTOBUF_TYPE = "application/vnd.kubernetes.protobuf";
/**
 * Integer fields that are pointers in Go, so that an encoded 0 was set on purpose; other
 * integers are encoded even when zero, where JSON (omitempty) would have left them out.
 */
const ZERO_MEANINGFUL = new Set([
  "DeploymentSpec.replicas",
  "DeploymentSpec.revisionHistoryLimit",
  "DeploymentSpec.progressDeadlineSeconds",
  "JobSpec.parallelism",
  "JobSpec.completions",
  "JobSpec.backoffLimit",
  "JobSpec.activeDeadlineSeconds",
  "JobSpec.ttlSecondsAfterFinished",
  "PodSpec.terminationGracePeriodSeconds",
  "PodSpec.activeDeadlineSeconds",
  "ObjectMeta.deletionGracePeriodSeconds",
  "CronJobSpec.startingDeadlineSeconds",
  "CronJobSpec.successfulJobsHistoryLimit",
  "CronJobSpec.failedJobsHistoryLimit",
  "TokenRequestSpec.expirationSeconds",
]);
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

let root: protobuf.Root | undefined;
function schema(): protobuf.Root {
  root ??= protobuf.parse(K8S_PROTO, { keepCase: true }).root;
  return root;
}

function timeToString(t: { seconds?: number; nanos?: number }): string {
  return new Date(Number(t.seconds ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Converts a decoded message to Kubernetes' JSON form, type by type. */
function toJson(type: protobuf.Type, msg: Record<string, unknown>): unknown {
  switch (type.name) {
    case "Time":
      return timeToString(msg);
    case "IntOrString":
      return Number(msg.type ?? 0) === 1 ? (msg.strVal ?? "") : (msg.intVal ?? 0);
    case "Quantity":
      return msg.string ?? "";
    case "FieldsV1":
      return msg.Raw ? JSON.parse(Buffer.from(msg.Raw as Uint8Array).toString("utf8")) : {};
  }
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const v = msg[field.name];
    // Go writes every non-pointer field, even when empty; JSON would have omitted the empty
    // strings, false booleans and zero times, so they are dropped here (defaults fill in).
    if (v === undefined || v === null || v === "" || v === false) continue;
    if (v === 0 && !ZERO_MEANINGFUL.has(`${type.name}.${field.name}`)) continue;
    // Go encodes a zero metav1.Time as an empty message.
    if (field.resolvedType?.name === "Time" && (v as { seconds?: number }).seconds === undefined) continue;
    const conv = (x: unknown): unknown => {
      if (field.resolvedType instanceof protobuf.Type) return toJson(field.resolvedType, x as Record<string, unknown>);
      if (field.type === "bytes") return Buffer.from(x as Uint8Array).toString("base64");
      if (field.type === "int64") return Number(x);
      return x;
    };
    if (field.map) {
      const m: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) m[k] = conv(x);
      out[field.name] = m;
    } else if (field.repeated) out[field.name] = (v as unknown[]).map(conv);
    else out[field.name] = conv(v);
  }
  return out;
}

/** Decodes a protobuf request body into a JSON object with apiVersion and kind set. */
export async function decodeProtobufObject(buf: Buffer): Promise<unknown> {
  if (buf.length < 4 || !buf.subarray(0, 4).equals(MAGIC)) throw errBadRequest("protobuf body does not start with the k8s\\0 magic");
  const r = schema();
  const unknownType = r.lookupType("gantry.k8s.Unknown");
  let envelope: Record<string, unknown>;
  try {
    envelope = unknownType.toObject(unknownType.decode(buf.subarray(4)), { longs: Number, bytes: Buffer }) as Record<string, unknown>;
  } catch (err) {
    throw errBadRequest(`the protobuf body could not be decoded: ${(err as Error).message}`);
  }
  const tm = (envelope.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  if (envelope.contentEncoding) throw errBadRequest(`protobuf content encoding "${String(envelope.contentEncoding)}" is not supported`);
  const name = PROTO_KINDS[`${tm.apiVersion}/${tm.kind}`];
  if (!name) {
    throw new ApiError("UNSUPPORTED_OPTION", 415, "UnsupportedMediaType", `protobuf bodies for ${tm.apiVersion}/${tm.kind} are not supported; send application/json`);
  }
  const type = r.lookupType(`gantry.k8s.${name}`);
  const raw = Buffer.from((envelope.raw as Uint8Array | undefined) ?? new Uint8Array());
  let msg: protobuf.Message;
  try {
    msg = type.decode(raw);
  } catch (err) {
    throw errBadRequest(`the protobuf ${tm.kind} could not be decoded: ${(err as Error).message}`);
  }
  // protobufjs skips fields it does not know; re-encoding shows whether any were dropped.
  if (type.encode(msg).finish().length !== raw.length) {
    const unknown = undeclaredFields(type, raw, tm.kind ?? "");
    throw new ApiError("UNSUPPORTED_OPTION", 415, "UnsupportedMediaType", `the protobuf ${tm.kind} carries fields Gantry's protobuf schema does not declare (${unknown.join(", ")}); send application/json instead`);
  }
  const obj = type.toObject(msg, { longs: Number, bytes: Buffer }) as Record<string, unknown>;
  return { apiVersion: tm.apiVersion, kind: tm.kind, ...(toJson(type, obj) as object) };
}

/** Walks the wire format and names each field number the schema lacks, e.g. "Deployment.spec.template.spec#21". */
function undeclaredFields(type: protobuf.Type, buf: Uint8Array, path: string): string[] {
  const out: string[] = [];
  const reader = protobuf.Reader.create(buf);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wireType = tag & 7;
    const field = type.fieldsById[id];
    if (!field) {
      out.push(`${path}#${id}`);
      reader.skipType(wireType);
      continue;
    }
    if (wireType !== 2 || !(field.resolvedType instanceof protobuf.Type || field.map)) {
      reader.skipType(wireType);
      continue;
    }
    const bytes = reader.bytes();
    if (field.map) {
      const entry = protobuf.Reader.create(bytes);
      while (entry.pos < entry.len) {
        const t = entry.uint32();
        if (t >>> 3 === 2 && field.resolvedType instanceof protobuf.Type) out.push(...undeclaredFields(field.resolvedType, entry.bytes(), `${path}.${field.name}[]`));
        else entry.skipType(t & 7);
      }
    } else out.push(...undeclaredFields(field.resolvedType as protobuf.Type, bytes, `${path}.${field.name}`));
  }
  return out;
}
