// The aggregator's own identity towards extension API servers, as kube-apiserver's
// --proxy-client-cert-file and --requestheader-client-ca-file: a separate CA (so no user's
// client certificate can pose as the proxy) and a client certificate `front-proxy-client`
// it signs. Extension servers learn both, and which headers carry the user, from the
// `extension-apiserver-authentication` ConfigMap in kube-system, as real ones read it.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openssl } from "../credentials.ts";

export const FRONT_PROXY_CLIENT_CN = "front-proxy-client";
export const EXTENSION_AUTH_CONFIGMAP = "extension-apiserver-authentication";

export interface FrontProxyCredentials {
  caCert: string;
  clientCert: string;
  clientKey: string;
}

/** Loads DATA_DIR/tls/front-proxy-*, making what is missing. */
export function ensureFrontProxyCredentials(dataDir: string): FrontProxyCredentials {
  const tls = join(dataDir, "tls");
  mkdirSync(tls, { recursive: true, mode: 0o700 });
  if (!existsSync(join(tls, "front-proxy-ca.crt")) || !existsSync(join(tls, "front-proxy-ca.key"))) {
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "front-proxy-ca.key", "-out", "front-proxy-ca.crt", "-days", "3650", "-subj", "/CN=gantry-front-proxy-ca"], tls);
    chmodSync(join(tls, "front-proxy-ca.key"), 0o600);
  }
  if (!existsSync(join(tls, "front-proxy-client.crt")) || !existsSync(join(tls, "front-proxy-client.key"))) {
    writeFileSync(join(tls, "front-proxy-client.ext"), "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n");
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "front-proxy-client.key", "-out", "front-proxy-client.csr", "-subj", `/CN=${FRONT_PROXY_CLIENT_CN}`], tls);
    openssl(["x509", "-req", "-in", "front-proxy-client.csr", "-CA", "front-proxy-ca.crt", "-CAkey", "front-proxy-ca.key", "-CAcreateserial", "-out", "front-proxy-client.crt", "-days", "825", "-extfile", "front-proxy-client.ext"], tls);
    chmodSync(join(tls, "front-proxy-client.key"), 0o600);
  }
  return {
    caCert: readFileSync(join(tls, "front-proxy-ca.crt"), "utf8"),
    clientCert: readFileSync(join(tls, "front-proxy-client.crt"), "utf8"),
    clientKey: readFileSync(join(tls, "front-proxy-client.key"), "utf8"),
  };
}

/** The ConfigMap's data as kube-apiserver publishes it (lists are JSON arrays in strings). */
export function extensionAuthData(clusterCaCert: string, fp: FrontProxyCredentials): Record<string, string> {
  return {
    "client-ca-file": clusterCaCert,
    "requestheader-client-ca-file": fp.caCert,
    "requestheader-allowed-names": JSON.stringify([FRONT_PROXY_CLIENT_CN]),
    "requestheader-username-headers": JSON.stringify(["X-Remote-User"]),
    "requestheader-uid-headers": JSON.stringify(["X-Remote-Uid"]),
    "requestheader-group-headers": JSON.stringify(["X-Remote-Group"]),
    "requestheader-extra-headers-prefix": JSON.stringify(["X-Remote-Extra-"]),
  };
}
