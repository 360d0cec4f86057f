// Errors from the API server, kept as Kubernetes sent them. A failed request becomes an
// ApiStatusError carrying the Status' `reason`, `code` and `details` (and a GantryError code
// for the CLI), so callers branch on reason as client-go's apierrors do: AlreadyExists and
// Conflict are both 409 but mean different things.
import { GantryError, type ErrorCode } from "../../common/errors.ts";

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind?: "Status";
  apiVersion?: string;
  status?: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

const CODE_FOR_REASON: Record<string, ErrorCode> = {
  BadRequest: "INVALID_ARGUMENT",
  Unauthorized: "UNAUTHORIZED",
  Forbidden: "FORBIDDEN",
  NotFound: "NOT_FOUND",
  AlreadyExists: "ALREADY_EXISTS",
  Conflict: "CONFLICT",
  Gone: "GONE",
  Expired: "GONE",
  Invalid: "INVALID_SPEC",
  MethodNotAllowed: "UNSUPPORTED_OPTION",
  UnsupportedMediaType: "UNSUPPORTED_OPTION",
  NotAcceptable: "UNSUPPORTED_OPTION",
  RequestEntityTooLarge: "INVALID_ARGUMENT",
  Timeout: "TIMEOUT",
  ServerTimeout: "TIMEOUT",
  TooManyRequests: "UNAVAILABLE",
  ServiceUnavailable: "UNAVAILABLE",
  InternalError: "INTERNAL",
};

const CODE_FOR_HTTP: Record<number, ErrorCode> = { 400: "INVALID_ARGUMENT", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 410: "GONE", 422: "INVALID_SPEC", 429: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "TIMEOUT" };

/** Kubernetes' reason for an HTTP status when the answer carried no Status (apimachinery's defaults). */
const REASON_FOR_HTTP: Record<number, string> = { 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed", 409: "Conflict", 410: "Gone", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout" };

export class ApiStatusError extends GantryError {
  /** The Status' reason: "NotFound", "AlreadyExists", "Conflict", "Expired", "Invalid", ... */
  readonly reason: string;
  /** The HTTP status (the Status' `code`). */
  readonly status: number;
  readonly statusDetails: StatusDetails | undefined;

  constructor(status: number, reason: string, message: string, details?: StatusDetails) {
    super(CODE_FOR_REASON[reason] ?? CODE_FOR_HTTP[status] ?? "INTERNAL", message);
    this.name = "ApiStatusError";
    this.status = status;
    this.reason = reason;
    this.statusDetails = details;
  }

  override get httpStatus(): number {
    return this.status;
  }
}

/** An error answer (HTTP status and parsed body) as an ApiStatusError; `what` prefixes a message that has no Status. */
export function statusError(httpStatus: number, body: unknown, what: string): ApiStatusError {
  const s = (typeof body === "object" && body !== null ? body : {}) as Status;
  const status = typeof s.code === "number" && s.code >= 400 ? s.code : httpStatus;
  const reason = s.reason || REASON_FOR_HTTP[status] || (status >= 500 ? "InternalError" : "BadRequest");
  const message = s.message || `${what}: HTTP ${httpStatus}`;
  return new ApiStatusError(status, reason, message, s.details);
}

const reasonOf = (err: unknown) => (err instanceof ApiStatusError ? err.reason : undefined);

export const isNotFound = (err: unknown) => reasonOf(err) === "NotFound";
export const isAlreadyExists = (err: unknown) => reasonOf(err) === "AlreadyExists";
export const isConflict = (err: unknown) => reasonOf(err) === "Conflict";
/** 410: a watch or list from a revision the server no longer keeps; relist. */
export const isGone = (err: unknown) => err instanceof ApiStatusError && (err.status === 410 || err.reason === "Expired" || err.reason === "Gone");
export const isInvalid = (err: unknown) => reasonOf(err) === "Invalid";
export const isForbidden = (err: unknown) => reasonOf(err) === "Forbidden";
export const isTooManyRequests = (err: unknown) => reasonOf(err) === "TooManyRequests";
