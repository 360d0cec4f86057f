// The kubelet server's certificate: at start the agent makes a fresh key and CSR (with the
// `openssl` binary, as the API server makes its own credentials) and has the API server sign
// it with the cluster CA (POST /v1-gantry/serving-kubelet.crt, authenticated by the node's
// token, as k3s agents fetch theirs). The answer also carries the CA, by which the kubelet
// server checks that a caller is the API server. The key stays in DATA_ROOT/kubelet-tls (0600).
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GantryError } from "../../common/errors.ts";
import type { Client } from "../client/index.ts";

const SERVING_CERT_PATH = "/v1-gantry/serving-kubelet.crt";

export interface KubeletTls {
  cert: string;
  key: string;
  /** The cluster CA: callers must present a client certificate it signed. */
  ca: string;
}

export async function obtainServingCert(client: Client, dir: string, nodeName: string, addresses: string[]): Promise<KubeletTls> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    execFileSync("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "kubelet.key", "-out", "kubelet.csr", "-subj", `/O=system:nodes/CN=system:node:${nodeName}`], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new GantryError("INTERNAL", `openssl req failed in ${dir}: ${stderr || (err as Error).message}`, { hint: "install the openssl package", cause: err });
  }
  chmodSync(join(dir, "kubelet.key"), 0o600);
  const csr = readFileSync(join(dir, "kubelet.csr"), "utf8");
  const reply = await client.send<{ certificate?: string; ca?: string }>("POST", SERVING_CERT_PATH, { csr, addresses });
  if (!reply?.certificate || !reply.ca) throw new GantryError("INTERNAL", `the API server did not sign the kubelet serving certificate of node ${nodeName}`);
  writeFileSync(join(dir, "kubelet.crt"), reply.certificate);
  writeFileSync(join(dir, "ca.crt"), reply.ca);
  return { cert: reply.certificate, key: readFileSync(join(dir, "kubelet.key"), "utf8"), ca: reply.ca };
}
