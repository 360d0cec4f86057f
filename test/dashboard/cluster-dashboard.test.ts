// The web dashboard of `gantry server --dashboard-listen`, in a real browser (Debian's
// chromium driven by playwright-core, headless): one server with this host's node, one
// browser, each check below a step a user takes. Everything the page shows came through the
// real API with the token typed into the login form; kubectl is the independent witness.
// Screenshots go to test-results/dashboard/ (ignored by git).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { BrowserContext, Page } from "playwright-core";
import { browserSkipReason, launchChromium, requestVerified, SHOTS } from "./_browser.ts";
import { KUBECTL } from "../cluster-api/_server.ts";
import { makeBusyboxImage } from "../engine/_daemon.ts";
import {
  assertNoRulesFor,
  removeNodeLeftovers,
  repo,
  skipReason as nodeSkipReason,
  until,
} from "../cluster-agent/_node.ts";

// this file's own pod subnet (no other test file uses 10.238.41.0/24)
const SUBNET = "10.238.41.0/24";
const VIEWER_TOKEN = randomBytes(16).toString("hex");
const DEV_TOKEN = randomBytes(16).toString("hex");

describe(
  "gantry server --dashboard-listen in chromium",
  { skip: browserSkipReason() ?? nodeSkipReason() },
  () => {
    let dir = "";
    const bridge = `gtd${randomBytes(3).toString("hex")}`;
    const node = hostname().toLowerCase();
    let child: ChildProcess;
    let out = "";
    let url = "";
    let adminToken = "";
    let browser: BrowserContext;
    let page: Page;

    const run = (args: string[], input = "") =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const c = execFile(
          KUBECTL,
          ["--kubeconfig", join(dir, "data", "admin.kubeconfig"), "--cache-dir", join(dir, "cache"), ...args],
          { timeout: 60_000 },
          (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
        c.stdin!.end(input);
      });
    const kubectl = (...args: string[]) => run(args);
    const ok = async (...args: string[]) => {
      const r = await kubectl(...args);
      assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    /** What the page says went wrong, for a failure's message. */
    const alerts = async () => (await page.getByRole("alert").allInnerTexts()).join("; ") || "no error shown";
    const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "gantry-dashboard-"));
      await makeBusyboxImage(join(dir, "data", "agent"));
      // a user no binding names: it may log in (system:basic-user) and nothing more
      // and one a RoleBinding lets view the team-a namespace only
      writeFileSync(join(dir, "users.csv"), `${VIEWER_TOKEN},viewer,2001\n${DEV_TOKEN},dev,2002\n`);
      child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          join(repo, "src", "cli", "gantry", "main.ts"),
          "server",
          "--data-dir",
          join(dir, "data"),
          "--listen",
          "127.0.0.1:0",
          "--pod-bridge",
          bridge,
          "--pod-subnet",
          SUBNET,
          "--dashboard-listen",
          "127.0.0.1:0",
          "--token-auth-file",
          join(dir, "users.csv"),
        ],
        {
          stdio: ["ignore", "pipe", "pipe"],
          cwd: repo,
        },
      );
      child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
      child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
      url = await until(
        "the dashboard's address",
        () =>
          /dashboard on (https:\/\/\S+)/.exec(out)?.[1] ??
          (child.exitCode !== null ? Promise.reject(new Error(out)) : undefined),
      );
      await until(`node ${node} runs pods`, () => out.includes(`node ${node} runs pods`) || undefined);
      adminToken = readFileSync(join(dir, "data", "token"), "utf8").trim();
      browser = await launchChromium(join(dir, "chromium"), { width: 1100, height: 900 }, url);
      page = browser.pages()[0] ?? (await browser.newPage());
    });

    after(async () => {
      await browser?.close();
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
      if (!dir) return;
      removeNodeLeftovers(join(dir, "data", "agent"), dir);
      spawnSync("ip", ["link", "del", bridge], { stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
      assertNoRulesFor(SUBNET);
    });

    test("a wrong token is refused with the API's own answer, and nothing is shown", async () => {
      await page.goto(url);
      await page.getByLabel(/Bearer token/).fill("not-a-token");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("alert").filter({ hasText: "401" }).waitFor();
      assert.match(await page.getByRole("alert").innerText(), /401 Unauthorized/);
      assert.equal(
        await page.getByRole("navigation", { name: "Views" }).count(),
        0,
        "no views without a good token",
      );
      // the dashboard passes requests on without credentials of its own; it is HTTPS, its
      // certificate the cluster's CA's (the one the kubeconfig carries) for its address
      const ca = readFileSync(join(dir, "data", "tls", "ca.crt"), "utf8");
      const bare = await requestVerified(new URL("/api/v1/nodes", url), ca);
      assert.equal(bare.status, 401);
      assert.ok(
        readFileSync(join(dir, "data", "admin.kubeconfig"), "utf8").includes(
          Buffer.from(ca).toString("base64"),
        ),
        "the kubeconfig's CA is the one the dashboard's certificate chains to",
      );
    });

    test("logging in with a token shows who the API says it is, and the node with its capacity", async () => {
      await page.getByLabel(/Bearer token/).fill(adminToken);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByLabel("Signed in as").filter({ hasText: "system:admin" }).waitFor();
      const row = page.locator(`tr[data-node="${node}"]`);
      await row.filter({ hasText: "Ready" }).waitFor({ timeout: 60_000 });
      const allocatable = JSON.parse(await ok("get", "node", node, "-o", "jsonpath={.status.capacity}")) as {
        pods: string;
      };
      assert.match(
        await row.innerText(),
        new RegExp(`\\d+ / ${allocatable.pods}`),
        "pods / capacity as the API has them",
      );
      await shot("nodes");
    });

    test("a Deployment created with kubectl appears with its pod, live", async () => {
      await page.getByRole("link", { name: "Workloads" }).click();
      await page.getByRole("region", { name: "Deployments" }).waitFor();
      // the page is already showing (its watches are open) when kubectl creates the Deployment
      // its shell doubles a string every second up to 16 MiB: memory the charts must see grow
      const grow =
        "a=$(printf %1024s); i=0; while [ $i -lt 14 ]; do a=$a$a; i=$((i+1)); sleep 1; done; echo grown; exec sleep 3600";
      const deployment = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "web", namespace: "default" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                { name: "web", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", grow] },
              ],
            },
          },
        },
      };
      const created = await run(["apply", "-f", "-"], JSON.stringify(deployment));
      assert.equal(created.code, 0, created.stderr);
      const pods = page.getByRole("list", { name: "Pods of web" });
      await pods.locator("a", { hasText: "Running" }).first().waitFor({ timeout: 90_000 });
      const name = (await pods.locator("a[data-pod]").first().getAttribute("data-pod"))!;
      assert.match(
        await ok("get", "pod", name, "-o", "jsonpath={.status.phase}"),
        /Running/,
        "kubectl sees the pod the page shows",
      );
      await shot("workloads");
    });

    test("a pod's memory chart moves as its container allocates", async () => {
      const pods = page.getByRole("list", { name: "Pods of web" });
      await pods.locator("a", { hasText: "Running" }).first().click();
      await page.getByRole("tab", { name: "Usage" }).click();
      const memory = page.getByRole("figure", { name: "memory chart" });
      const values = await until(
        "the memory chart to rise by 4 MiB",
        async () => {
          const v = JSON.parse((await memory.getAttribute("data-values")) ?? "[]") as number[];
          return v.length >= 3 && Math.max(...v) - Math.min(...v) > 4 * 2 ** 20 ? v : undefined;
        },
        90_000,
      );
      assert.ok(
        values.every((v) => v > 0),
        `working set samples are cgroup readings: ${values}`,
      );
      assert.equal(
        (await page.locator("figure.chart canvas").count()) >= 3,
        true,
        "uPlot drew the cpu, memory and pids charts",
      );
      await shot("pod-usage");
    });

    test("its namespace table's inodes are /proc/PID/ns's, shared through the sandbox; its kernel steps are listed", async () => {
      await page.getByRole("tab", { name: "Namespaces & cgroup" }).click();
      const pid = Number(await page.getByLabel("pid of web").innerText());
      assert.match(
        readFileSync(`/proc/${pid}/cmdline`, "utf8"),
        /while \[ \$i -lt 14 \]/,
        "the page's pid is the pod's container",
      );
      const rows = page.getByRole("table", { name: "Namespaces of web" }).locator("tbody tr");
      assert.ok((await rows.count()) >= 6);
      for (const row of await rows.all()) {
        const type = (await row.getAttribute("data-ns-type"))!;
        const shown = await row.locator("td.inode").innerText();
        assert.equal(
          `${type}:[${shown}]`,
          readlinkSync(`/proc/${pid}/ns/${type}`),
          `${type} namespace inode`,
        );
      }
      assert.match(
        await page.getByLabel("Namespaces web shares through its pod").innerText(),
        /net/,
        "the pod's network namespace is the sandbox's",
      );
      await page.getByRole("table", { name: "Pod cgroup files of web" }).waitFor();
      await shot("pod-namespaces");
      await page.getByRole("tab", { name: "Kernel steps" }).click();
      const steps = page.getByRole("list", { name: "Kernel steps of web" });
      await steps.waitFor();
      assert.ok((await steps.locator("li").count()) > 5, "the steps recorded at create");
      await steps.locator('li[data-step="pivot-root"]').waitFor();
    });

    test("its log streams, its Service shows its endpoint, its events are listed", async () => {
      await page.getByRole("tab", { name: "Logs" }).click();
      await page
        .getByRole("log")
        .or(page.getByLabel("Logs of web"))
        .filter({ hasText: "grown" })
        .waitFor({ timeout: 30_000 });
      await ok("expose", "deployment", "web", "--port", "80", "--target-port", "8080");
      await page.getByRole("link", { name: "Services" }).click();
      const ip = await until(
        "the Service's endpoint",
        async () =>
          (await ok("get", "endpoints", "web", "-o", "jsonpath={.subsets[0].addresses[0].ip}")) || undefined,
      );
      await page
        .locator('tr[data-service="default/web"]')
        .filter({ hasText: `${ip}:8080` })
        .waitFor();
      await page.getByRole("link", { name: "Events" }).click();
      await page
        .getByRole("region", { name: "Events" })
        .locator("tr", { hasText: "Scheduled" })
        .first()
        .waitFor();
    });

    test("scaling the Deployment from the page: kubectl agrees, and the API's refusal is shown as it is", async () => {
      await page.getByRole("link", { name: "Workloads" }).click();
      const replicas = page.getByLabel("Replicas of web");
      await replicas.fill("-1");
      await page
        .locator('[data-workload="Deployment/default/web"]')
        .getByRole("button", { name: "Scale" })
        .click();
      const refused = await page
        .locator('[data-workload="Deployment/default/web"]')
        .getByRole("alert")
        .innerText();
      assert.match(refused, /^422 .*replicas/i, "the API's validation message, unchanged");
      await replicas.fill("2");
      await page
        .locator('[data-workload="Deployment/default/web"]')
        .getByRole("button", { name: "Scale" })
        .click();
      await until(
        `kubectl to see 2 replicas (${await alerts()})`,
        async () =>
          (await ok("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")) === "2" || undefined,
      );
      await page
        .getByRole("list", { name: "Pods of web" })
        .locator("a[data-pod]")
        .nth(1)
        .waitFor({ timeout: 60_000 });
    });

    test("rollout restart and delete pod from the page reach the API", async () => {
      await page.getByRole("button", { name: "Rollout restart web" }).click();
      await until(
        `the restartedAt annotation (${await alerts()})`,
        async () =>
          (await ok(
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
          )) || undefined,
      );
      const victim = (await page
        .getByRole("list", { name: "Pods of web" })
        .locator("a[data-pod]")
        .first()
        .getAttribute("data-pod"))!;
      await page.getByRole("list", { name: "Pods of web" }).locator(`a[data-pod="${victim}"]`).click();
      await page.getByRole("button", { name: `Delete pod ${victim}` }).click();
      await until(`kubectl to see ${victim} go`, async () => {
        const r = await kubectl("get", "pod", victim, "-o", "jsonpath={.metadata.deletionTimestamp}");
        return r.code !== 0 || r.stdout !== "" || undefined;
      });
    });

    test("a user RBAC gives nothing logs in, and sees the API's Forbidden as it is", async () => {
      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByLabel(/Bearer token/).fill(VIEWER_TOKEN);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByLabel("Signed in as").filter({ hasText: "viewer" }).waitFor();
      await page.goto(`${url}#/nodes`);
      const alert = await page.getByRole("alert").first().innerText();
      assert.match(alert, /^403 nodes is forbidden: User "viewer" cannot list resource "nodes"/);
      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByLabel(/Bearer token/).fill(adminToken);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByLabel("Signed in as").filter({ hasText: "system:admin" }).waitFor();
    });

    test("a user a RoleBinding lets into one namespace picks it and sees its pods, not others'", async () => {
      // pods no node can take: they stay Pending, objects to list and nothing to run
      const pending = (ns: string, name: string) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: ns },
        spec: {
          nodeSelector: { "dashboard-test": "nowhere" },
          containers: [{ name: "c", image: "busybox" }],
        },
      });
      const objects = {
        apiVersion: "v1",
        kind: "List",
        items: [
          { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } },
          { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-b" } },
          pending("team-a", "a-pod"),
          pending("team-b", "b-pod"),
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: { name: "dev-view", namespace: "team-a" },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
            subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "dev" }],
          },
        ],
      };
      const applied = await run(["apply", "-f", "-"], JSON.stringify(objects));
      assert.equal(applied.code, 0, applied.stderr);
      const bare = page.getByRole("list", { name: "Pods without a controller" });

      // the admin may list everywhere: the picker lists the namespaces, and narrows the lists
      await page.goto(`${url}#/workloads`);
      await bare.locator('a[data-pod="b-pod"]').waitFor();
      await page.getByLabel("Namespace").selectOption("team-a");
      await bare.locator('a[data-pod="a-pod"]').waitFor();
      assert.equal(await bare.locator('a[data-pod="b-pod"]').count(), 0, "team-b's pod is not in team-a");
      await page.getByLabel("Namespace").selectOption("");
      await bare.locator('a[data-pod="b-pod"]').waitFor();

      // dev: the cluster-wide list is refused as the API words it, with the way out
      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByLabel(/Bearer token/).fill(DEV_TOKEN);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByLabel("Signed in as").filter({ hasText: "dev" }).waitFor();
      await page.goto(`${url}#/workloads`);
      await page.getByRole("alert").filter({ hasText: "403" }).first().waitFor();
      assert.match(
        await page.getByRole("alert").first().innerText(),
        /^403 .* User "dev" cannot list resource "\w+"/,
      );
      await page.getByRole("note").filter({ hasText: "choose your namespace" }).waitFor();
      // dev may not list namespaces: the namespace is typed
      const picker = page.getByLabel("Namespace");
      await picker.fill("team-a");
      await page.getByRole("button", { name: "Show" }).click();
      await bare.locator('a[data-pod="a-pod"]').waitFor();
      assert.equal(await bare.locator('a[data-pod="b-pod"]').count(), 0, "dev sees nothing of team-b");
      assert.equal(await page.getByRole("alert").count(), 0, `no refusal left: ${await alerts()}`);
      await shot("namespace-picker");
      // another namespace is refused by the API, not hidden by the page
      await picker.fill("team-b");
      await page.getByRole("button", { name: "Show" }).click();
      await page
        .getByRole("alert")
        .filter({ hasText: /403 .*"team-b"/ })
        .first()
        .waitFor();
      assert.equal(await bare.locator("a[data-pod]").count(), 0);

      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByLabel(/Bearer token/).fill(adminToken);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByLabel("Signed in as").filter({ hasText: "system:admin" }).waitFor();
    });

    test("phone width: nothing overflows the screen sideways", async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      for (const view of ["events", "services", "nodes", "workloads"]) {
        await page.goto(`${url}#/${view}`);
        await page.locator("tbody tr, li.workload").first().waitFor();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `#/${view} is ${overflow}px wider than the screen`);
      }
      await shot("phone-workloads");
    });
  },
);
