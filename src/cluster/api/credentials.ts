// The server's credentials, made at first start in the data directory (as k3s does under
// /var/lib/rancher/k3s/server/tls): a CA, a serving certificate signed by it for the
// loopback and listen addresses, the client certificate the server presents to kubelets, and
// the admin bearer token. Keys never leave the directory (mode 0600). Certificates are made
// with the `openssl` binary, which every host has. Node agents get their kubelet serving
// certificates signed by the same CA (signKubeletServingCert), so the API server can check
// whom it streams to, and agents can check that only the API server talks to them.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { ensureCa, ensureServingCertificate, openssl, type ServingCertificate } from "../../common/certificates.ts";
import { writeFileAtomic } from "../../common/atomic-file.ts";

export interface ServerCredentials {
  caCert: string;
  cert: string;
  key: string;
  adminToken: string;
  /** What the server presents to kubelets (kube-apiserver's --kubelet-client-certificate/-key). */
  kubeletClient: { cert: string; key: string };
}

export { openssl };

/**
 * The dashboard's serving certificate (`--dashboard-listen`), signed by the cluster's CA for
 * the loopback addresses and HOSTS, so a browser that trusts the CA the kubeconfig carries
 * trusts the dashboard too.
 */
export function ensureDashboardCertificate(dataDir: string, hosts: string[]): ServingCertificate {
  const tls = join(dataDir, "tls");
  ensureCa(tls, "gantry-server-ca");
  return ensureServingCertificate(tls, "dashboard", "gantry-dashboard", hosts);
}

/** The kubelet client certificate's CN, as kubeadm names it; agents answer only this CN. */
export const KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client";

/** Loads the credentials under dir/tls, making any that are missing. */
export function ensureCredentials(dataDir: string, hosts: string[]): ServerCredentials {
  const tls = join(dataDir, "tls");
  ensureCa(tls, "gantry-server-ca");
  const serving = ensureServingCertificate(tls, "serving", "gantry-server", hosts);
  if (!existsSync(join(tls, "kubelet-client.crt")) || !existsSync(join(tls, "kubelet-client.key"))) {
    writeFileSync(join(tls, "kubelet-client.ext"), "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n");
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "kubelet-client.key", "-out", "kubelet-client.csr", "-subj", `/O=system:masters/CN=${KUBELET_CLIENT_CN}`], tls);
    openssl(["x509", "-req", "-in", "kubelet-client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "kubelet-client.crt", "-days", "825", "-extfile", "kubelet-client.ext"], tls);
    chmodSync(join(tls, "kubelet-client.key"), 0o600);
  }
  const tokenFile = join(dataDir, "token");
  if (!existsSync(tokenFile)) writeFileAtomic(tokenFile, `${randomBytes(32).toString("hex")}\n`, 0o600);
  return {
    caCert: serving.caCert,
    cert: serving.cert,
    key: serving.key,
    adminToken: readFileSync(tokenFile, "utf8").trim(),
    kubeletClient: { cert: readFileSync(join(tls, "kubelet-client.crt"), "utf8"), key: readFileSync(join(tls, "kubelet-client.key"), "utf8") },
  };
}

/**
 * Signs a node's kubelet serving certificate from its CSR (k3s signs its agents' the same
 * way): the subject is set here to system:node:NODE in system:nodes, whatever the CSR says,
 * and the names are the node's addresses, so the API server can verify the kubelet it dials.
 */
export function signKubeletServingCert(dataDir: string, csrPem: string, node: string, addresses: string[]): string {
  const tls = join(dataDir, "tls");
  const work = mkdtempSync(join(tls, "sign-"));
  try {
    const sans = [...new Set([node, ...addresses])].map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`));
    writeFileSync(join(work, "csr.pem"), csrPem);
    writeFileSync(join(work, "ext"), `subjectAltName=${sans.join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`);
    openssl(["x509", "-req", "-in", "csr.pem", "-subj", `/O=system:nodes/CN=system:node:${node}`, "-CA", join(tls, "ca.crt"), "-CAkey", join(tls, "ca.key"), "-set_serial", `0x${randomBytes(16).toString("hex")}`, "-out", "crt.pem", "-days", "365", "-extfile", "ext"], work);
    return readFileSync(join(work, "crt.pem"), "utf8");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Constant-time comparison of a presented bearer token with the admin token. */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A kubeconfig for the admin user, as kubectl and client libraries read it. */
export function adminKubeconfig(server: string, creds: ServerCredentials): string {
  return tokenKubeconfig({ server, caCert: creds.caCert, user: "gantry-admin", token: creds.adminToken, namespace: "default" });
}

/** A kubeconfig that presents a bearer token (the admin's, or a node's join token) to SERVER. */
export function tokenKubeconfig(o: { server: string; caCert: string; user: string; token: string; namespace?: string }): string {
  const ca = Buffer.from(o.caCert).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: gantry",
    "  cluster:",
    `    server: ${o.server}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    `- name: ${JSON.stringify(o.user)}`,
    "  user:",
    `    token: ${JSON.stringify(o.token)}`,
    "contexts:",
    "- name: gantry",
    "  context:",
    "    cluster: gantry",
    `    user: ${JSON.stringify(o.user)}`,
    ...(o.namespace ? [`    namespace: ${o.namespace}`] : []),
    "current-context: gantry",
    "",
  ].join("\n");
}
