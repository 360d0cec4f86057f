// A container's health check as the Docker API carries it (Config.Healthcheck, the image
// config's Healthcheck): Test is ["CMD", argv...], ["CMD-SHELL", command], ["NONE"] or empty
// (inherit the image's); durations are nanoseconds, 0 meaning "the default". Here: dockerd's
// create-time checks with its messages, the merge of the request with the image's check
// (moby's daemon/commit.go merge), and the settings a running check uses, defaults applied.
import { invalidArgument } from "../../common/errors.ts";

export interface HealthConfig {
  Test?: string[] | null;
  /** Nanoseconds between probes (after the end of one, to the start of the next). */
  Interval?: number;
  /** Nanoseconds a probe may run before it counts as failed (and is killed). */
  Timeout?: number;
  /** Nanoseconds after start in which failures do not count, until a first success. */
  StartPeriod?: number;
  /** Nanoseconds between probes during the start period. */
  StartInterval?: number;
  /** Consecutive failures that make the container unhealthy. */
  Retries?: number;
}

const NS_PER_MS = 1_000_000;
/** dockerd's MinimumDuration (api/types/container/config.go): 1ms. */
const MINIMUM_NS = NS_PER_MS;

/** moby daemon/health.go's defaults. */
export const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, startIntervalMs: 5_000, retries: 3 } as const;

/**
 * Checks a create request's Healthcheck as dockerd's validateHealthCheck does, with its
 * messages (400). Beyond dockerd, a Test of an unknown kind (or CMD without a command) is
 * refused too: dockerd accepts it and then never probes, so a typo would go unnoticed.
 */
export function validateHealthConfig(hc: unknown): HealthConfig | undefined {
  if (hc === undefined || hc === null) return undefined;
  if (typeof hc !== "object" || Array.isArray(hc)) throw invalidArgument("Healthcheck must be an object");
  const h = hc as Record<string, unknown>;
  for (const k of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"]) {
    if (h[k] !== undefined && h[k] !== null && !Number.isInteger(h[k])) throw invalidArgument(`${k} in Healthcheck must be an integer`);
  }
  // In dockerd's order, so the first fault named is the one it names.
  const atLeastOneMs = (key: string) => {
    const v = (h[key] as number | undefined) ?? 0;
    if (v !== 0 && v < MINIMUM_NS) throw invalidArgument(`${key} in Healthcheck cannot be less than 1ms`);
  };
  atLeastOneMs("Interval");
  atLeastOneMs("Timeout");
  if (((h.Retries as number | undefined) ?? 0) < 0) throw invalidArgument("Retries in Healthcheck cannot be negative");
  atLeastOneMs("StartPeriod");
  atLeastOneMs("StartInterval");
  const test = h.Test;
  if (test !== undefined && test !== null) {
    if (!Array.isArray(test) || !test.every((x) => typeof x === "string")) throw invalidArgument("Test in Healthcheck must be an array of strings");
    const kind = test[0];
    if (kind !== undefined && !["CMD", "CMD-SHELL", "NONE"].includes(kind)) {
      throw invalidArgument(`unknown Healthcheck Test type ${JSON.stringify(kind)}: use ["CMD", ...], ["CMD-SHELL", command] or ["NONE"]`);
    }
    if ((kind === "CMD" || kind === "CMD-SHELL") && test.length < 2) throw invalidArgument(`Healthcheck Test ${JSON.stringify(test)} has no command`);
  }
  return withoutEmptyFields(h as HealthConfig);
}

/** Without null, empty or zero fields: what dockerd stores and shows (every field omitempty;
 * docker-py sends `"StartPeriod": null`). */
function withoutEmptyFields(hc: HealthConfig): HealthConfig {
  const out: HealthConfig = {};
  if (hc.Test?.length) out.Test = hc.Test;
  for (const k of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] as const) if (hc[k]) out[k] = hc[k];
  return out;
}

/** The request's check over the image's: a missing Test or zero field takes the image's. */
export function mergeHealthConfig(user: HealthConfig | undefined, image: HealthConfig | null | undefined): HealthConfig | undefined {
  if (!image) return user ? withoutEmptyFields(user) : undefined;
  if (!user) return withoutEmptyFields(image);
  return withoutEmptyFields({
    Test: user.Test?.length ? user.Test : image.Test,
    Interval: user.Interval || image.Interval,
    Timeout: user.Timeout || image.Timeout,
    StartPeriod: user.StartPeriod || image.StartPeriod,
    StartInterval: user.StartInterval || image.StartInterval,
    Retries: user.Retries || image.Retries,
  });
}

/** What a running check needs: the probe's argv and its timings, defaults applied. */
export interface HealthSettings {
  argv: string[];
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  startIntervalMs: number;
  retries: number;
}

/** The settings of a check that runs, or undefined: none configured, NONE, or unusable. */
export function healthSettings(hc: HealthConfig | undefined, shell: string[] = ["/bin/sh", "-c"]): HealthSettings | undefined {
  const test = hc?.Test ?? [];
  let argv: string[];
  if (test[0] === "CMD") argv = test.slice(1);
  else if (test[0] === "CMD-SHELL") argv = [...shell, test.slice(1).join(" ")];
  else return undefined;
  if (argv.length === 0) return undefined;
  const ms = (ns: number | undefined, dflt: number) => (ns ? ns / NS_PER_MS : dflt);
  return {
    argv,
    intervalMs: ms(hc?.Interval, HEALTH_DEFAULTS.intervalMs),
    timeoutMs: ms(hc?.Timeout, HEALTH_DEFAULTS.timeoutMs),
    startPeriodMs: ms(hc?.StartPeriod, HEALTH_DEFAULTS.startPeriodMs),
    startIntervalMs: ms(hc?.StartInterval, HEALTH_DEFAULTS.startIntervalMs),
    retries: hc?.Retries && hc.Retries > 0 ? hc.Retries : HEALTH_DEFAULTS.retries,
  };
}
