// Go's time.Duration text, which Docker speaks wherever a duration is written out: the
// Dockerfile's HEALTHCHECK --interval=30s, `docker run --health-timeout 1m30s`, and dockerd's
// messages ("Health check exceeded timeout (1s)").

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** time.ParseDuration: "300ms", "-1.5h", "2h45m"; nanoseconds, or undefined when malformed. */
export function parseGoDuration(text: string): number | undefined {
  const m = /^([-+]?)(.*)$/s.exec(text)!;
  const body = m[2]!;
  if (body === "0") return 0;
  if (body === "") return undefined;
  let ns = 0;
  let rest = body;
  while (rest) {
    // µs and μs (micro sign, Greek mu) escaped: a regex literal is the one thing the bundler
    // cannot write in ASCII for us, and one non-ASCII character makes V8 keep the whole bundle's
    // source two bytes per character (scripts/build.mjs).
    const part = /^(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/.exec(rest);
    if (!part) return undefined;
    ns += Number(part[1]) * UNIT_NS[part[2]!]!;
    rest = rest.slice(part[0].length);
  }
  return Math.round(m[1] === "-" ? -ns : ns);
}

/** Duration.String() of a whole number of milliseconds: "500ms", "1s", "1m30s", "2h0m0s". */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${s}s`;
}
