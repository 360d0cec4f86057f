// Kubernetes Status objects. Every error the API server answers with is a Status
// (apimachinery pkg/api/errors): kubectl prints `Error from server (<reason>): <message>`
// and client libraries branch on `reason` and `code`, so both must match Kubernetes.
import { GantryError, type ErrorCode } from "../../common/errors.ts";

import type { StatusCause, StatusDetails } from "../client/index.ts";

export type { StatusCause, StatusDetails };

/** A GantryError that also knows its Kubernetes reason and exact HTTP status. */
export class ApiError extends GantryError {
  readonly reason: string;
  readonly status: number;
  readonly statusDetails: StatusDetails | undefined;

  constructor(code: ErrorCode, status: number, reason: string, message: string, details?: StatusDetails) {
    super(code, message);
    this.status = status;
    this.reason = reason;
    this.statusDetails = details;
  }

  override get httpStatus(): number {
    return this.status;
  }
}

const qualified = (resource: string, group: string) => (group ? `${resource}.${group}` : resource);

export const errNotFound = (resource: string, group: string, name: string) =>
  new ApiError("NOT_FOUND", 404, "NotFound", `${qualified(resource, group)} "${name}" not found`, {
    name,
    group: group || undefined,
    kind: resource,
  });

export const errAlreadyExists = (resource: string, group: string, name: string) =>
  new ApiError("ALREADY_EXISTS", 409, "AlreadyExists", `${qualified(resource, group)} "${name}" already exists`, {
    name,
    group: group || undefined,
    kind: resource,
  });

export const errConflict = (resource: string, group: string, name: string, why: string) =>
  new ApiError(
    "CONFLICT",
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`,
    { name, group: group || undefined, kind: resource },
  );

export const STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again";

export const errInvalid = (kind: string, group: string, name: string, causes: StatusCause[]) =>
  new ApiError(
    "INVALID_SPEC",
    422,
    "Invalid",
    `${qualified(kind, group)} "${name}" is invalid: ${causes.map((c) => `${c.field ? c.field + ": " : ""}${c.message}`).join(", ")}`,
    { name, group: group || undefined, kind, causes },
  );

export const errBadRequest = (message: string) => new ApiError("INVALID_ARGUMENT", 400, "BadRequest", message);

export const errGone = (message: string) => new ApiError("GONE", 410, "Expired", message);

export const errUnauthorized = () => new ApiError("UNAUTHORIZED", 401, "Unauthorized", "Unauthorized");

export const errTooLarge = (limit: number) =>
  new ApiError("INVALID_ARGUMENT", 413, "RequestEntityTooLarge", `Request entity too large: limit is ${limit}`);

export const errUnsupportedMediaType = (type: string) =>
  new ApiError("UNSUPPORTED_OPTION", 415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${type || "none"})`);

export const errMethodNotAllowed = (verb: string, what: string) =>
  new ApiError("UNSUPPORTED_OPTION", 405, "MethodNotAllowed", `${verb} is not supported on ${what}`);

export const errPathNotFound = () =>
  new ApiError("NOT_FOUND", 404, "NotFound", "the server could not find the requested resource");

/** Kubernetes' reason for each Gantry code, used when an error did not come from ApiError. */
const reasonForCode: Partial<Record<ErrorCode, string>> = {
  INVALID_ARGUMENT: "BadRequest",
  UNSUPPORTED_OPTION: "BadRequest",
  INVALID_SPEC: "Invalid",
  NOT_FOUND: "NotFound",
  ALREADY_EXISTS: "AlreadyExists",
  CONFLICT: "Conflict",
  GONE: "Expired",
  UNAUTHORIZED: "Unauthorized",
  FORBIDDEN: "Forbidden",
  TIMEOUT: "Timeout",
};

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** Any thrown value as a Kubernetes Status (500 InternalError for bugs). */
export function toStatus(err: unknown): Status {
  if (err instanceof ApiError) {
    return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: err.message, reason: err.reason, details: err.statusDetails, code: err.status };
  }
  if (err instanceof GantryError) {
    return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: err.message, reason: reasonForCode[err.code] ?? "InternalError", code: err.httpStatus };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `Internal error occurred: ${message}`, reason: "InternalError", code: 500 };
}

export function successStatus(details?: StatusDetails): Omit<Status, "message" | "code"> & { code: number; details?: StatusDetails } {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details, code: 200 };
}

export const errForbidden = (message: string, details?: StatusDetails) =>
  new ApiError("FORBIDDEN", 403, "Forbidden", message, details);
