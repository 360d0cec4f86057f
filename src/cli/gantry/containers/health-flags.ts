// `run`/`create`'s health check flags, turned into Config.Healthcheck as the docker CLI does
// (cli/command/container/opts.go): --health-cmd is ["CMD-SHELL", cmd]; durations are Go's
// ("30s", "1m30s") sent in nanoseconds, zero ones left out; --no-healthcheck is ["NONE"] and
// conflicts with every --health-* flag. Only the flags given are sent, so the daemon fills
// the rest from the image's HEALTHCHECK.
import type { Command } from "commander";
import { invalidArgument } from "../../../common/errors.ts";
import { parseGoDuration } from "../../../common/go-duration.ts";
import type { ContainerConfig } from "../../../engine/index.ts";
import { int } from "./argv.ts";

export interface HealthFlags {
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthStartPeriod?: string;
  healthStartInterval?: string;
  healthRetries?: string;
  /** commander's negation of --no-healthcheck: false when it is given. */
  healthcheck?: boolean;
}

export function addHealthOptions(c: Command): Command {
  return c
    .option("--health-cmd <command>", "command to run to check health (in a shell)")
    .option("--health-interval <duration>", "time between running the check (ms|s|m|h)")
    .option("--health-timeout <duration>", "maximum time to allow one check to run (ms|s|m|h)")
    .option("--health-start-period <duration>", "start period for the container to initialize before counting retries (ms|s|m|h)")
    .option("--health-start-interval <duration>", "time between checks during the start period (ms|s|m|h)")
    .option("--health-retries <n>", "consecutive failures needed to report unhealthy")
    .option("--no-healthcheck", "disable any container-specified HEALTHCHECK");
}

type Healthcheck = NonNullable<ContainerConfig["Healthcheck"]>;

/** Config.Healthcheck for these flags, or undefined when none was given. */
export function healthcheckOf(o: HealthFlags): Healthcheck | undefined {
  const duration = (text: string | undefined, flag: string): number => {
    if (text === undefined) return 0;
    const ns = parseGoDuration(text);
    if (ns === undefined) throw invalidArgument(`invalid argument "${text}" for "${flag}" flag: time: invalid duration "${text}"`);
    if (ns < 0) throw invalidArgument(`${flag} cannot be negative`);
    return ns;
  };
  const hc: Healthcheck = {};
  if (o.healthCmd) hc.Test = ["CMD-SHELL", o.healthCmd];
  const fields: [keyof Healthcheck, string | undefined, string][] = [
    ["Interval", o.healthInterval, "--health-interval"],
    ["Timeout", o.healthTimeout, "--health-timeout"],
    ["StartPeriod", o.healthStartPeriod, "--health-start-period"],
    ["StartInterval", o.healthStartInterval, "--health-start-interval"],
  ];
  for (const [key, text, flag] of fields) {
    const ns = duration(text, flag);
    if (ns) (hc as Record<string, number>)[key] = ns;
  }
  const retries = int(o.healthRetries, "--health-retries") ?? 0;
  if (retries < 0) throw invalidArgument("--health-retries cannot be negative");
  if (retries) hc.Retries = retries;
  const given = Object.keys(hc).length > 0;
  if (o.healthcheck === false) {
    if (given) throw invalidArgument("--no-healthcheck conflicts with --health-* options");
    return { Test: ["NONE"] };
  }
  return given ? hc : undefined;
}
