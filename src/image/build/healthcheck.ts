// HEALTHCHECK as BuildKit's Dockerfile frontend parses it (instructions/parse.go
// parseHealthcheck): `HEALTHCHECK NONE` turns an inherited check off; `HEALTHCHECK [--interval=D]
// [--timeout=D] [--start-period=D] [--start-interval=D] [--retries=N] CMD command` sets one,
// the shell form as ["CMD-SHELL", command], the JSON form as ["CMD", argv...]. Durations are
// Go's ("30s", "1m30s") and stored in nanoseconds, as the image config's Healthcheck has them.
import { GantryError } from "../../common/errors.ts";
import { parseGoDuration } from "../../common/go-duration.ts";
import type { ContainerConfig } from "../spec.ts";
import { parseJsonForm, splitFlags } from "./parse.ts";

export type ImageHealthcheck = NonNullable<ContainerConfig["Healthcheck"]>;

const FLAGS = ["interval", "timeout", "start-period", "start-interval", "retries"];

export function parseHealthcheck(args: string, where: string): ImageHealthcheck {
  const fail = (message: string) => new GantryError("INVALID_ARGUMENT", `${where}: ${message}`);
  const { flags, rest } = splitFlags(args);
  const m = /^(\S+)\s*(.*)$/s.exec(rest);
  if (!m) throw fail("HEALTHCHECK requires at least one argument");
  const kind = m[1]!.toUpperCase();
  const command = m[2]!.trim();
  if (kind === "NONE") {
    if (command || Object.keys(flags).length) throw fail("HEALTHCHECK NONE takes no arguments");
    return { Test: ["NONE"] };
  }
  const unknown = Object.keys(flags).find((f) => !FLAGS.includes(f));
  if (unknown) throw fail(`unknown flag: ${unknown}`);
  if (kind !== "CMD") throw fail(`Unknown type "${kind}" in HEALTHCHECK (try CMD)`);
  const argv = parseJsonForm(command);
  if (argv ? argv.length === 0 : !command) throw fail("Missing command after HEALTHCHECK CMD");
  const hc: ImageHealthcheck = { Test: argv ? ["CMD", ...argv] : ["CMD-SHELL", command] };
  const duration = (flag: string, key: "Interval" | "Timeout" | "StartPeriod" | "StartInterval") => {
    const text = flags[flag];
    if (text === undefined || text === "") return;
    const ns = parseGoDuration(text);
    if (ns === undefined) throw fail(`time: invalid duration "${text}"`);
    if (ns !== 0 && ns < 1_000_000) throw fail(`Interval "${flag}" cannot be less than 1ms`);
    if (ns) hc[key] = ns;
  };
  duration("interval", "Interval");
  duration("timeout", "Timeout");
  duration("start-period", "StartPeriod");
  duration("start-interval", "StartInterval");
  const retries = flags.retries;
  if (retries !== undefined && retries !== "") {
    if (!/^-?\d+$/.test(retries)) throw fail(`strconv.ParseInt: parsing "${retries}": invalid syntax`);
    if (Number(retries) < 0) throw fail(`--retries cannot be negative (${retries})`);
    if (Number(retries)) hc.Retries = Number(retries);
  }
  return hc;
}
