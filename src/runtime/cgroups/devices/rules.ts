// OCI device cgroup rules, checked once and turned into the kernel's vocabulary.
import { GantryError } from "../../../common/errors.ts";
import type { LinuxResources } from "../../spec/oci.ts";

export interface DeviceRule {
  allow: boolean;
  /** "a" is every device (and resets the list, as in v1); "c" char, "b" block. */
  type: "a" | "c" | "b";
  /** null is the wildcard "*". */
  major: number | null;
  minor: number | null;
  /** Subset of "rwm", in that order. */
  access: string;
}

type OciDeviceRule = NonNullable<LinuxResources["devices"]>[number];

export function normaliseDeviceRule(rule: OciDeviceRule, index: number): DeviceRule {
  const where = `linux.resources.devices[${index}]`;
  const type = rule.type ?? "a";
  if (type !== "a" && type !== "c" && type !== "b") {
    throw new GantryError("INVALID_SPEC", `${where}.type ${JSON.stringify(type)} is not one of "a", "c", "b"`, { path: where });
  }
  const access = rule.access ?? "rwm";
  if (access === "" || /[^rwm]/.test(access)) {
    throw new GantryError("INVALID_SPEC", `${where}.access ${JSON.stringify(access)} is not made of "r", "w", "m"`, { path: where });
  }
  const number = (n: number | null | undefined, name: string): number | null => {
    // OCI tools write -1 for "any" as often as they leave the field out.
    if (n === undefined || n === null || n === -1) return null;
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      throw new GantryError("INVALID_SPEC", `${where}.${name} ${n} is not a device number`, { path: where });
    }
    return n;
  };
  const canonical = ["r", "w", "m"].filter((c) => access.includes(c)).join("");
  return { allow: rule.allow, type, major: number(rule.major, "major"), minor: number(rule.minor, "minor"), access: canonical };
}

export function deviceRules(resources: LinuxResources | undefined): DeviceRule[] | undefined {
  return resources?.devices?.map(normaliseDeviceRule);
}

/** The v1 text form: "c 1:3 rwm", "a *:* rwm". */
export function deviceRuleText(r: DeviceRule): string {
  return `${r.type} ${r.major ?? "*"}:${r.minor ?? "*"} ${r.access}`;
}
