// --dashboard-cert/--dashboard-key: the dashboard serves the user's own certificate (one a
// company CA signed, say) instead of one the host's CA signs, and bad files are refused at
// start with what is wrong, before anything runs.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { ensureCa, ensureServingCertificate } from "../../src/common/certificates.ts";
import { gantryCli } from "../cluster-api/_server.ts";
import { appSkipReason, requestVerified } from "./_browser.ts";

/** The certificate a TLS server at URL presents, its chain checked against CA. */
function peerCertificate(url: string, ca: string): Promise<X509Certificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error("no peer certificate"));
    });
    socket.on("error", reject);
  });
}

describe("the dashboard with a certificate of the user's own", { skip: appSkipReason() }, () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-dashboard-cert-"));
  // "the company's" CA and the certificate it signed for the dashboard
  const company = join(dir, "company");
  ensureCa(company, "company-ca");
  const own = ensureServingCertificate(company, "dashboard", "dashboard.example", []);
  const certFile = join(company, "dashboard.crt");
  const keyFile = join(company, "dashboard.key");
  // a key of another certificate
  const other = join(dir, "other");
  ensureCa(other, "other-ca");
  const otherKey = join(other, "ca.key");
  let child: ChildProcess | undefined;

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  describe("gantry server", () => {
    let url = "";
    let out = "";
    before(async () => {
      child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "src/cli/gantry/main.ts",
          "server",
          "--no-agent",
          "--data-dir",
          join(dir, "data"),
          "--listen",
          "127.0.0.1:0",
          "--dashboard-listen",
          "127.0.0.1:0",
          "--dashboard-cert",
          certFile,
          "--dashboard-key",
          keyFile,
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
      child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
      const end = Date.now() + 60_000;
      for (;;) {
        const m = /dashboard on (https:\/\/\S+)/.exec(out);
        if (m) {
          url = m[1]!;
          break;
        }
        if (child.exitCode !== null || Date.now() > end) throw new Error(`no dashboard:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    test("serves the given certificate, whose chain the company's CA checks", async () => {
      const peer = await peerCertificate(url, own.caCert);
      assert.equal(peer.fingerprint256, new X509Certificate(own.cert).fingerprint256);
      assert.match(peer.subject, /CN=dashboard.example/);
      assert.match(out, new RegExp(`its certificate is ${certFile.replace(/[.]/g, "\\.")}`));
      // the cluster's own CA did not sign it
      const clusterCa = readFileSync(join(dir, "data", "tls", "ca.crt"), "utf8");
      await assert.rejects(requestVerified(new URL("/", url), clusterCa), /self-signed|unable to verify|certificate/i);
      // and it is the dashboard behind it: the app's page
      const page = await requestVerified(new URL("/", url), own.caCert);
      assert.equal(page.status, 200);
      assert.match(page.body, /<html/i);
    });
  });

  const refused = async (args: string[], message: RegExp) => {
    const r = await gantryCli(args);
    assert.notEqual(r.code, 0, `${args.join(" ")} should fail:\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
  };

  test("server: a certificate without its key, a key of another certificate, a file that is no certificate, no --dashboard-listen", async () => {
    const base = ["server", "--no-agent", "--data-dir", join(dir, "bad"), "--listen", "127.0.0.1:0"];
    const listen = ["--dashboard-listen", "127.0.0.1:0"];
    await refused([...base, ...listen, "--dashboard-cert", certFile], /--dashboard-cert and --dashboard-key go together/);
    await refused(
      [...base, ...listen, "--dashboard-cert", certFile, "--dashboard-key", otherKey],
      /--dashboard-key .*ca\.key is not the private key of the certificate in .*dashboard\.crt \(CN=dashboard\.example\)/,
    );
    const notPem = join(dir, "not.pem");
    writeFileSync(notPem, "hello\n");
    await refused(
      [...base, ...listen, "--dashboard-cert", notPem, "--dashboard-key", keyFile],
      /--dashboard-cert .*not\.pem is not a PEM certificate/,
    );
    await refused(
      [...base, ...listen, "--dashboard-cert", join(dir, "missing.crt"), "--dashboard-key", keyFile],
      /--dashboard-cert .*missing\.crt: ENOENT/,
    );
    await refused([...base, "--dashboard-cert", certFile, "--dashboard-key", keyFile], /give --dashboard-listen too/);
  });

  test("daemon: a key of another certificate is refused before the engine starts", async () => {
    await refused(
      [
        "daemon",
        "--data-root",
        join(dir, "engine"),
        "-H",
        `unix://${join(dir, "engine.sock")}`,
        "--dashboard-listen",
        "127.0.0.1:0",
        "--dashboard-cert",
        certFile,
        "--dashboard-key",
        otherKey,
      ],
      /is not the private key of the certificate/,
    );
  });
});
