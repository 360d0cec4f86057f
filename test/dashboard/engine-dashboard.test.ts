// The web dashboard of `gantry daemon --dashboard-listen`, in chromium: one daemon, one
// browser. The login takes the daemon's dashboard token (the engine's socket has none of its
// own); a container started with the docker CLI appears live, its memory chart (the engine's
// stats stream) rises, its namespace table matches /proc/PID/ns, and its recorded kernel
// steps are listed. Screenshots go to test-results/dashboard/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { browserSkipReason, launchChromium, requestVerified, SHOTS } from "./_browser.ts";
import {
  DOCKER,
  cleanup,
  docker,
  makeBusyboxImage,
  newDaemonDirs,
  skipReason,
  startTestDaemon,
} from "../engine/_daemon.ts";
import { until } from "../cluster-agent/_node.ts";

const skip =
  browserSkipReason() ?? skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

describe("gantry daemon --dashboard-listen in chromium", { skip }, () => {
  const d = newDaemonDirs();
  let url = "";
  let browser: BrowserContext;
  let page: Page;

  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, undefined, undefined, ["--dashboard-listen", "127.0.0.1:0"]);
    url = await until(
      "the dashboard's address",
      () => /dashboard on (https:\/\/\S+)/.exec(d.log.join(""))?.[1],
    );
    browser = await launchChromium(join(d.dir, "chromium"), { width: 1100, height: 900 }, url);
    page = browser.pages()[0] ?? (await browser.newPage());
  });

  after(async () => {
    await browser?.close();
    docker(d, ["rm", "-f", "dash-web"]);
    await cleanup(d);
    rmSync(d.dir, { recursive: true, force: true });
  });

  test("the token file is root's alone, and a wrong token is refused", async () => {
    const tokenFile = join(d.root, "dashboard-token");
    assert.equal(readFileSync(tokenFile, "utf8").trim().length >= 32, true);
    assert.equal(statSync(tokenFile).mode & 0o077, 0, "no one but the owner may read it");
    await page.goto(url);
    await page.getByLabel(/Dashboard token/).fill("wrong");
    await page.getByRole("button", { name: "Log in" }).click();
    assert.match(
      await page.getByRole("alert").innerText(),
      /^401 the token is not this daemon's dashboard token/,
    );
    // and without the page: the engine is not reachable through the dashboard without it;
    // it is HTTPS, its certificate signed by the daemon's own CA (DATA_ROOT/dashboard-tls)
    const ca = readFileSync(join(d.root, "dashboard-tls", "ca.crt"), "utf8");
    assert.equal(
      statSync(join(d.root, "dashboard-tls", "ca.key")).mode & 0o077,
      0,
      "the CA key is root's alone",
    );
    assert.equal((await requestVerified(new URL("/engine/containers/json", url), ca)).status, 401);
  });

  test("a container run with the docker CLI appears, live", async () => {
    await page
      .getByLabel(/Dashboard token/)
      .fill(readFileSync(join(d.root, "dashboard-token"), "utf8").trim());
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("region", { name: "Containers" }).waitFor();
    const grow =
      "a=$(printf %1024s); i=0; while [ $i -lt 14 ]; do a=$a$a; i=$((i+1)); sleep 1; done; exec sleep 3600";
    const run = docker(d, [
      "run",
      "-d",
      "--name",
      "dash-web",
      "--memory",
      "64m",
      "busybox",
      "sh",
      "-c",
      grow,
    ]);
    assert.equal(run.status, 0, run.stderr);
    await page
      .locator('tr[data-container="dash-web"]')
      .filter({ hasText: /Up/ })
      .waitFor({ timeout: 30_000 });
  });

  test("its memory chart rises, its namespace table matches /proc/PID/ns, its kernel steps are listed", async () => {
    await page.getByRole("link", { name: "dash-web" }).click();
    const memory = page.getByRole("figure", { name: "memory chart" });
    await until(
      "the memory chart to rise by 4 MiB",
      async () => {
        const v = JSON.parse((await memory.getAttribute("data-values")) ?? "[]") as number[];
        return v.length >= 3 && Math.max(...v) - Math.min(...v) > 4 * 2 ** 20 ? v : undefined;
      },
      60_000,
    );
    const pid = Number(await page.getByLabel("pid of dash-web").innerText());
    const inspected = JSON.parse(
      docker(d, ["inspect", "-f", "{{json .State.Pid}}", "dash-web"]).stdout,
    ) as number;
    assert.equal(pid, inspected, "the page's pid is the container's");
    const rows = page.getByRole("table", { name: "Namespaces of dash-web" }).locator("tbody tr");
    assert.ok((await rows.count()) >= 6);
    for (const row of await rows.all()) {
      const type = (await row.getAttribute("data-ns-type"))!;
      const shown = await row.locator("td.inode").innerText();
      assert.equal(`${type}:[${shown}]`, readlinkSync(`/proc/${pid}/ns/${type}`), `${type} namespace inode`);
    }
    const cgroup = await page.getByRole("table", { name: "Cgroup files of dash-web" }).innerText();
    assert.match(
      cgroup,
      /memory\.max\s+67108864|memory\.limit_in_bytes\s+67108864/,
      "the 64m limit as the kernel holds it",
    );
    const steps = page.getByRole("list", { name: "Kernel steps of dash-web" }).locator("li");
    assert.ok((await steps.count()) > 5, "the steps recorded at create");
    await page.screenshot({ path: join(SHOTS, "engine-container.png"), fullPage: true });
  });
});
