// Typed errors. Every error a user can see has a code from this catalogue, a message that
// names the thing at fault, and (where we know one) a hint saying how to fix it. Codes map
// to HTTP statuses so the Docker and Kubernetes APIs can answer with the right status.

export const errorCatalogue = {
  INVALID_ARGUMENT: { status: 400, doc: "A command-line flag or API parameter is malformed or not allowed" },
  UNSUPPORTED_OPTION: { status: 400, doc: "An option is recognised but Gantry does not implement it; it is refused, never ignored" },
  INVALID_SPEC: { status: 400, doc: "An OCI config.json (or other spec) failed validation; the message names the JSON path" },
  NOT_FOUND: { status: 404, doc: "The named container, image, bundle or object does not exist" },
  ALREADY_EXISTS: { status: 409, doc: "An object with this id or name already exists" },
  CONFLICT: { status: 409, doc: "The object is in a state that does not allow the operation (e.g. delete of a running container)" },
  KERNEL_FEATURE_MISSING: { status: 500, doc: "The host kernel lacks a feature the request needs (a cgroup controller, a namespace type)" },
  SYSCALL_FAILED: { status: 500, doc: "A system call failed while setting up or managing a container, or the cluster store's fsync of its write-ahead log failed (the store then takes no more writes); carries the step and errno" },
  HOOK_FAILED: { status: 500, doc: "An OCI hook exited non-zero or timed out" },
  GONE: { status: 410, doc: "A watch or list asked for a revision older than the store's compacted revision; relist and watch again" },
  TIMEOUT: { status: 504, doc: "An operation did not finish in time" },
  DIGEST_MISMATCH: { status: 400, doc: "Content did not match its sha256 digest (a corrupt or tampered blob); nothing was stored" },
  INVALID_LAYER: { status: 400, doc: "An image layer is malformed or hostile (path escapes, writes through symlinks); nothing outside the snapshot was written" },
  UNAUTHORIZED: { status: 401, doc: "A registry refused the credentials, or needs some (log in with `gantry login`); or the cluster API server got no valid bearer token (unknown, revoked, expired or malformed)" },
  FORBIDDEN: { status: 403, doc: "The caller is known but may not do this: a node token outside what its node may touch, or a write Kubernetes forbids (a new finalizer on an object being deleted)" },
  REGISTRY_ERROR: { status: 502, doc: "A registry answered with an error or could not be reached; the message carries its code and text" },
  UNAVAILABLE: { status: 503, doc: "A server the command needs (the cluster API server, an engine's monitor spawner) could not be reached; the message names its address. The engine also answers swarm requests with it, as a dockerd outside a swarm does" },
  NOT_IMPLEMENTED: { status: 501, doc: "The object's own configuration rules the operation out (logs of a container whose log driver keeps none)" },
  NETWORK_PLUGIN_FAILED: { status: 500, doc: "A CNI plugin reported an error; the message names the plugin, the CNI error code and its text" },
  INTERNAL: { status: 500, doc: "A bug in Gantry: please report it with the message" },
} as const;

export type ErrorCode = keyof typeof errorCatalogue;

export interface ErrorDetails {
  /** How the user can fix it. */
  hint?: string;
  /** The file, JSON path or object the error is about. */
  path?: string;
  /** errno name (e.g. "EPERM") when a syscall failed. */
  errno?: string;
  /** The plan step or operation that failed. */
  step?: string;
  cause?: unknown;
}

export class GantryError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "GantryError";
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return errorCatalogue[this.code].status;
  }

  /** The one-line form the CLIs print: message, then hint. */
  describe(): string {
    return this.details.hint ? `${this.message} (hint: ${this.details.hint})` : this.message;
  }
}

export const invalidArgument = (message: string, details?: ErrorDetails) =>
  new GantryError("INVALID_ARGUMENT", message, details);
export const notFound = (message: string, details?: ErrorDetails) => new GantryError("NOT_FOUND", message, details);
export const conflict = (message: string, details?: ErrorDetails) => new GantryError("CONFLICT", message, details);

/** Turns anything thrown into text fit for a terminal. */
export function describeError(err: unknown): string {
  if (err instanceof GantryError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
