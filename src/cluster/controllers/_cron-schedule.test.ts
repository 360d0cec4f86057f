import { test } from "node:test";
import assert from "node:assert/strict";
import { formatInZone, mostRecentScheduleTime, nextScheduleDelay, parseSchedule, scheduledJobName, ScheduleError } from "./_cron-schedule.ts";

const at = (iso: string) => Date.parse(iso);
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

test("five fields and the macros fire as robfig/cron's standard parser would", () => {
  const from = at("2026-01-01T00:00:00Z");
  const next3 = (expr: string, tz?: string) => {
    const s = parseSchedule(expr, tz);
    const out: (string | undefined)[] = [];
    for (let t: number | undefined = from, i = 0; i < 3 && t !== undefined; i++) out.push(iso((t = s.next(t))));
    return out;
  };
  assert.deepEqual(next3("*/1 * * * *", "UTC"), ["2026-01-01T00:01:00.000Z", "2026-01-01T00:02:00.000Z", "2026-01-01T00:03:00.000Z"]);
  assert.deepEqual(next3("@hourly", "UTC"), ["2026-01-01T01:00:00.000Z", "2026-01-01T02:00:00.000Z", "2026-01-01T03:00:00.000Z"]);
  assert.deepEqual(next3("@midnight", "UTC").slice(0, 1), ["2026-01-02T00:00:00.000Z"]);
  assert.deepEqual(next3("@weekly", "UTC").slice(0, 1), ["2026-01-04T00:00:00.000Z"], "Sunday");
  assert.deepEqual(next3("@yearly", "UTC").slice(0, 1), ["2027-01-01T00:00:00.000Z"]);
  // Day of month and day of week both restricted: either matches (cron's OR).
  assert.deepEqual(next3("0 0 13 * FRI", "UTC"), ["2026-01-02T00:00:00.000Z", "2026-01-09T00:00:00.000Z", "2026-01-13T00:00:00.000Z"]);
  // One of them a star: only the other counts.
  assert.deepEqual(next3("0 0 * * 5", "UTC"), ["2026-01-02T00:00:00.000Z", "2026-01-09T00:00:00.000Z", "2026-01-16T00:00:00.000Z"]);
  // In a zone: 02:30 New York is 07:30 UTC in winter.
  assert.deepEqual(next3("30 2 * * *", "America/New_York").slice(0, 1), ["2026-01-01T07:30:00.000Z"]);
  assert.deepEqual(next3("@every 90s"), ["2026-01-01T00:01:30.000Z", "2026-01-01T00:03:00.000Z", "2026-01-01T00:04:30.000Z"]);
  assert.equal(parseSchedule("59 23 31 2 *", "UTC").next(from), undefined, "February 31st never comes");
});

test("what Kubernetes refuses is refused, with a reason", () => {
  for (const bad of ["* * * *", "0 * * * * *", "0 0 L * *", "0 0 * * MON#2", "0 0 * FOO *", "@fortnightly", "TZ=UTC 0 * * * *", "@every soon", "61 * * * *"]) {
    assert.throws(() => parseSchedule(bad), ScheduleError, bad);
  }
  assert.throws(() => parseSchedule("0 * * * *", "Mars/Olympus"), /unknown time zone Mars\/Olympus/);
});

test("the most recent missed start is the one run; more than 100 missed is 'many'", () => {
  const hourly = parseSchedule("0 * * * *", "UTC");
  const created = at("2026-01-01T00:30:00Z");
  assert.deepEqual(mostRecentScheduleTime({ created }, at("2026-01-01T00:59:00Z"), hourly, true), { earliest: created, missed: "none" });
  assert.equal(iso(mostRecentScheduleTime({ created }, at("2026-01-01T01:00:00Z"), hourly, true).mostRecent), "2026-01-01T01:00:00.000Z");
  const five = mostRecentScheduleTime({ created }, at("2026-01-01T05:10:00Z"), hourly, true);
  assert.equal(iso(five.mostRecent), "2026-01-01T05:00:00.000Z");
  assert.equal(five.missed, "few");
  const week = mostRecentScheduleTime({ created }, at("2026-01-08T05:10:00Z"), hourly, true);
  assert.equal(iso(week.mostRecent), "2026-01-08T05:00:00.000Z");
  assert.equal(week.missed, "many");
  // The last schedule time moves the start of the search.
  assert.equal(mostRecentScheduleTime({ created, lastScheduled: at("2026-01-01T05:00:00Z") }, at("2026-01-01T05:10:00Z"), hourly, true).mostRecent, undefined);
  // A starting deadline of 10 minutes: at 05:20 the 05:00 start is out of reach, at 05:09 it is not.
  assert.equal(mostRecentScheduleTime({ created, startingDeadlineSeconds: 600 }, at("2026-01-01T05:20:00Z"), hourly, true).mostRecent, undefined);
  assert.equal(iso(mostRecentScheduleTime({ created, startingDeadlineSeconds: 600 }, at("2026-01-01T05:09:00Z"), hourly, true).mostRecent), "2026-01-01T05:00:00.000Z");
});

test("the controller looks again just after the next start", () => {
  const minutely = parseSchedule("*/1 * * * *", "UTC");
  const created = at("2026-01-01T00:00:30Z");
  assert.equal(nextScheduleDelay({ created }, at("2026-01-01T00:00:40Z"), minutely), 20_100);
  assert.equal(nextScheduleDelay({ created, lastScheduled: at("2026-01-01T00:03:00Z") }, at("2026-01-01T00:03:00.100Z"), minutely), 60_000);
  // Starts missed: count from now.
  assert.equal(nextScheduleDelay({ created }, at("2026-01-01T00:07:10Z"), minutely), 50_100);
});

test("names and the scheduled-timestamp annotation", () => {
  assert.equal(scheduledJobName("hello", at("2026-01-01T00:01:00Z")), `hello-${at("2026-01-01T00:01:00Z") / 60_000}`);
  assert.equal(formatInZone(at("2026-01-01T07:30:00.250Z")), "2026-01-01T07:30:00Z");
  assert.equal(formatInZone(at("2026-01-01T07:30:00Z"), "America/New_York"), "2026-01-01T02:30:00-05:00");
  assert.equal(formatInZone(at("2026-01-01T07:30:00Z"), "Asia/Kolkata"), "2026-01-01T13:00:00+05:30");
  assert.equal(formatInZone(at("2026-01-01T07:30:00Z"), "Etc/UTC"), "2026-01-01T07:30:00Z");
});
