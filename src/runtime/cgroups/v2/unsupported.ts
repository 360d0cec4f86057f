// Settings cgroup v2 has no file for. They are refused, never silently dropped.
import { GantryError } from "../../../common/errors.ts";

export function unsupportedOnV2(field: string, why: string): GantryError {
  return new GantryError("UNSUPPORTED_OPTION", `linux.resources.${field} cannot be set on cgroup v2: ${why}`, {
    path: `linux.resources.${field}`,
    hint: `remove ${field} from the config`,
  });
}
