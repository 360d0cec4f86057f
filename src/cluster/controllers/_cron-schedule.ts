// CronJob schedules as kube-controller-manager reads them (robfig/cron's ParseStandard plus
// pkg/controller/cronjob/utils.go): five fields or a macro, evaluated in spec.timeZone (or
// the server's own zone, as the upstream controller uses its process's), and the
// missed-start arithmetic that decides, after any pause, which start is due now.
// The field matching itself is croner's (pinned); this file only narrows what it accepts
// to what Kubernetes accepts and adds robfig's `@every`.
import { Cron } from "croner";

/** When a schedule fires next, strictly after t (ms since the epoch); undefined if never. */
export interface Schedule {
  next(t: number): number | undefined;
}

export class ScheduleError extends Error {}

const MACROS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const FIELD_NAMES = ["minute", "hour", "day of month", "month", "day of week"];

/** Whether the runtime knows the IANA zone (time.LoadLocation's question). */
export function isKnownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses a CronJob's schedule. Accepts what robfig's standard parser does and croner also
 * would not refuse: five fields of numbers, names (months, weekdays), `*`, `?`, ranges,
 * steps and lists; the macros; `@every <Go duration>`. croner's extensions (seconds, L, W, #)
 * are refused so a schedule means the same here as on Kubernetes.
 */
export function parseSchedule(schedule: string, timeZone?: string): Schedule {
  const text = schedule.trim();
  if (/^(CRON_)?TZ=/.test(text)) throw new ScheduleError("TZ and CRON_TZ are not supported in the schedule, use spec.timeZone");
  if (timeZone !== undefined && !isKnownTimeZone(timeZone)) throw new ScheduleError(`unknown time zone ${timeZone}`);
  if (text.startsWith("@every ")) return everySchedule(text.slice("@every ".length).trim());
  const expr = text.startsWith("@") ? MACROS[text.toLowerCase()] : text;
  if (!expr) throw new ScheduleError(`unrecognized descriptor: ${text}`);
  const fields = expr.split(/\s+/);
  if (fields.length !== 5) throw new ScheduleError(`expected exactly 5 fields, found ${fields.length}: ${text}`);
  fields.forEach((f, i) => checkField(f, i));
  let cron: Cron;
  try {
    cron = new Cron(expr, { timezone: timeZone, mode: "5-part", paused: true });
  } catch (err) {
    throw new ScheduleError((err as Error).message);
  }
  return {
    next(t) {
      return cron.nextRun(new Date(t))?.getTime();
    },
  };
}

function checkField(field: string, index: number): void {
  if (!/^[0-9A-Za-z*?,/-]+$/.test(field)) throw new ScheduleError(`invalid ${FIELD_NAMES[index]} field: ${field}`);
  if (field.includes("?") && index !== 2 && index !== 4) throw new ScheduleError(`? is only allowed in the day fields: ${field}`);
  const names = index === 3 ? MONTHS : index === 4 ? DAYS : [];
  for (const word of field.match(/[A-Za-z]+/g) ?? []) {
    if (!names.includes(word.toLowerCase())) throw new ScheduleError(`invalid ${FIELD_NAMES[index]} field: ${field}`);
  }
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** robfig's ConstantDelaySchedule: every d (whole seconds, at least one), from the last run. */
function everySchedule(duration: string): Schedule {
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== duration) throw new ScheduleError(`failed to parse duration @every ${duration}`);
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * GO_UNITS[p[2]!]!, 0);
  const delay = Math.max(1000, ms - (ms % 1000));
  return { next: (t) => t - (t % 1000) + delay };
}

/** Whether a start was missed and how many (the upstream enum). */
export type Missed = "none" | "few" | "many";

export interface MostRecent {
  /** Where the search started: the last schedule time, else the CronJob's creation. */
  earliest: number;
  /** The latest start at or before now that is after earliest, if any. */
  mostRecent?: number;
  missed: Missed;
}

/**
 * mostRecentScheduleTime: the latest start due by now since the last one (or creation);
 * with the starting deadline, nothing older than now - deadline counts. More than 100
 * missed starts is "many" (the TooManyMissedTimes warning); the count is the upstream
 * estimate from the gap between two consecutive starts, so an arbitrarily old
 * lastScheduleTime costs no more than a hundred steps.
 */
export function mostRecentScheduleTime(opts: { created: number; lastScheduled?: number; startingDeadlineSeconds?: number }, now: number, schedule: Schedule, withDeadline: boolean): MostRecent {
  let earliest = opts.lastScheduled ?? opts.created;
  if (withDeadline && opts.startingDeadlineSeconds !== undefined) earliest = Math.max(earliest, now - opts.startingDeadlineSeconds * 1000);
  const t1 = schedule.next(earliest);
  if (t1 === undefined || now < t1) return { earliest, missed: "none" };
  const t2 = schedule.next(t1);
  if (t2 === undefined || now < t2) return { earliest, mostRecent: t1, missed: "none" };
  const between = Math.round((t2 - t1) / 1000);
  if (between < 1) throw new ScheduleError("time difference between two schedules is less than 1 second");
  const elapsed = Math.trunc((now - t1) / 1000);
  const count = Math.trunc(elapsed / between) + 1;
  let mostRecent: number | undefined;
  for (let t = schedule.next(t1 + (count - 2) * between * 1000); t !== undefined && t <= now; t = schedule.next(t)) mostRecent = t;
  return { earliest, mostRecent, missed: count > 100 ? "many" : "few" };
}

/** The padding after a start before the controller looks (upstream nextScheduleDelta, for clock skew). */
export const NEXT_SCHEDULE_DELTA_MS = 100;

/** How long until the controller should look again (nextScheduleTimeDuration). */
export function nextScheduleDelay(opts: { created: number; lastScheduled?: number }, now: number, schedule: Schedule): number | undefined {
  let from: number;
  try {
    const r = mostRecentScheduleTime(opts, now, schedule, false);
    from = r.mostRecent ?? (r.missed === "none" ? r.earliest : now);
  } catch {
    from = now;
  }
  const next = schedule.next(from);
  return next === undefined ? undefined : next + NEXT_SCHEDULE_DELTA_MS - now;
}

/** A Job's name for a start: `<cronjob>-<minutes since the epoch>`, so one start makes one Job however often it is tried. */
export function scheduledJobName(cronJobName: string, scheduled: number): string {
  return `${cronJobName}-${Math.floor(scheduled / 60_000)}`;
}

/** RFC 3339 in the zone (Go's time.Format(time.RFC3339) after In(location)); UTC without one, as upstream. */
export function formatInZone(t: number, timeZone?: string): string {
  const seconds = Math.floor(t / 1000) * 1000;
  if (!timeZone) return new Date(seconds).toISOString().replace(/\.\d+Z$/, "Z");
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "longOffset" })
      .formatToParts(new Date(seconds))
      .map((p) => [p.type, p.value]),
  );
  // Go writes a zero offset as Z whatever the zone.
  const offset = (parts.timeZoneName ?? "GMT").replace(/^GMT/, "").replace(/^[+-]00:00$/, "") || "Z";
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`;
}
