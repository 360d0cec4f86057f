// Validation shared by every kind: the causes of a 422 Invalid Status with field paths, and
// ObjectMeta's checks (ValidateObjectMeta). Per-kind checks live in each kind's strategy.
import { isPlainObject, type KubeObject } from "./objects.ts";
import type { StatusCause } from "./status.ts";

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
export const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

export class Causes {
  readonly list: StatusCause[] = [];
  required(field: string) {
    this.list.push({ reason: "FieldValueRequired", message: "Required value", field });
  }
  invalid(field: string, value: unknown, why: string) {
    this.list.push({ reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field });
  }
  unsupported(field: string, value: unknown, allowed: string[]) {
    this.list.push({
      reason: "FieldValueNotSupported",
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => `"${a}"`).join(", ")}`,
      field,
    });
  }
  forbidden(field: string, why: string) {
    this.list.push({ reason: "FieldValueForbidden", message: `Forbidden: ${why}`, field });
  }
  /** A field that may not change once set (apimachinery ValidateImmutableField). */
  immutable(field: string, value: unknown) {
    this.invalid(field, value, "field is immutable");
  }
}

function validateQualifiedKey(c: Causes, field: string, key: string) {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : "";
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix && (!DNS1123_SUBDOMAIN.test(prefix) || prefix.length > 253)) c.invalid(field, key, "prefix part must be a lowercase RFC 1123 subdomain");
  if (!QUALIFIED_NAME.test(name) || name.length > 63) {
    c.invalid(field, key, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
}

/** Why a name is not a DNS-1123 label (the names of Namespaces and Services), or undefined. */
export function invalidLabelName(name: string): string | undefined {
  if (!DNS1123_LABEL.test(name) || name.length > 63) {
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  }
  return undefined;
}

/** Why a name is not a DNS-1123 subdomain (most kinds' names), or undefined. */
export function invalidSubdomainName(name: string): string | undefined {
  if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  }
  return undefined;
}

/** ValidatePathSegmentName: why a name cannot be one segment of a URL path, or undefined. */
export function invalidPathSegmentName(name: string): string | undefined {
  if (name === "." || name === "..") return `may not be '${name}'`;
  for (const bad of ["/", "%"]) if (name.includes(bad)) return `may not contain '${bad}'`;
  return undefined;
}

export type NameRule = "label" | "subdomain" | "path-segment";

const nameRules: Record<NameRule, (name: string) => string | undefined> = { label: invalidLabelName, subdomain: invalidSubdomainName, "path-segment": invalidPathSegmentName };

export function validateMeta(c: Causes, o: KubeObject, nameRule: NameRule) {
  const m = o.metadata;
  if (!m.name) c.required("metadata.name");
  else {
    const why = nameRules[nameRule](m.name);
    if (why) c.invalid("metadata.name", m.name, why);
  }
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    validateQualifiedKey(c, "metadata.labels", k);
    if (typeof v !== "string" || !LABEL_VALUE.test(v) || v.length > 63) {
      c.invalid("metadata.labels", v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
    }
  }
  for (const k of Object.keys(m.annotations ?? {})) validateQualifiedKey(c, "metadata.annotations", k);
  const annotationBytes = Object.entries(m.annotations ?? {}).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
  if (annotationBytes > 256 * 1024) c.list.push({ reason: "FieldValueTooLong", message: "Too long: must have at most 262144 bytes", field: "metadata.annotations" });
}

/** The object at o[key], or {} when it is absent or not an object (for reading specs). */
export const specOf = (o: Record<string, unknown>, key = "spec"): Record<string, unknown> => (isPlainObject(o[key]) ? (o[key] as Record<string, unknown>) : {});

/** A non-negative integer field, as most counts in specs are. */
export function validateNonNegative(c: Causes, field: string, v: unknown) {
  if (v !== undefined && v !== null && (typeof v !== "number" || !Number.isInteger(v) || v < 0)) c.invalid(field, v, "must be greater than or equal to 0");
}
