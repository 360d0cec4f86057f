// Boolean query parameters, read as kube-apiserver reads them: its parameter codec converts
// `?watch=…`, `?allowWatchBookmarks=…`, `?pretty=…` and the rest with Go's strconv.ParseBool,
// so `True`, `T` and `1` are all true, and a value ParseBool refuses is a 400 naming it.
import { errBadRequest } from "./status.ts";

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** Go's strconv.ParseBool: true/false for its spellings, undefined for anything else. */
export function goParseBool(value: string): boolean | undefined {
  return TRUE.has(value) ? true : FALSE.has(value) ? false : undefined;
}

/**
 * The boolean query parameter NAME: undefined when absent, else its value as ParseBool reads
 * it; throws a 400 for a value it refuses (the empty one included).
 */
export function boolParam(params: URLSearchParams, name: string): boolean | undefined {
  const values = params.getAll(name);
  if (values.length === 0) return undefined;
  const v = values[0]!;
  const parsed = goParseBool(v);
  if (parsed === undefined) throw errBadRequest(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
  return parsed;
}

/** The boolean parameters of list, watch, get and write requests that are checked on every request. */
const COMMON_BOOL_PARAMS = ["watch", "allowWatchBookmarks", "sendInitialEvents", "pretty", "force", "orphanDependents", "follow", "previous", "timestamps", "insecureSkipTLSVerifyBackend", "stdin", "stdout", "stderr", "tty"];

/** Refuses a request whose boolean parameters ParseBool would not accept (before anything acts on it). */
export function checkBoolParams(params: URLSearchParams): void {
  for (const name of COMMON_BOOL_PARAMS) boolParam(params, name);
}
