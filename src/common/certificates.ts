// A certificate authority and the serving certificates it signs, kept as PEM files in one
// directory (keys mode 0600) and made with the `openssl` binary, which every host has. The
// cluster's API server keeps its CA and serving certificate this way (cluster/api
// credentials.ts), and the web dashboard its own serving certificate.
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GantryError, invalidArgument } from "./errors.ts";

export function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new GantryError("INTERNAL", `openssl ${args[0]} failed in ${cwd}: ${stderr || (err as Error).message}`, {
      hint: "install the openssl package",
      cause: err,
    });
  }
}

/** DIR/ca.crt and DIR/ca.key, made (named CN) when missing. */
export function ensureCa(dir: string, cn: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(join(dir, "ca.crt")) && existsSync(join(dir, "ca.key"))) return;
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650", "-subj", `/CN=${cn}`], dir);
  chmodSync(join(dir, "ca.key"), 0o600);
}

export interface ServingCertificate {
  cert: string;
  key: string;
  caCert: string;
}

/**
 * DIR/NAME.crt and DIR/NAME.key: a serving certificate signed by DIR's CA (ensureCa) for the
 * loopback addresses and NAMES (IP addresses and DNS names). One made before a name was
 * wanted is made again.
 */
export function ensureServingCertificate(dir: string, name: string, cn: string, names: string[]): ServingCertificate {
  const all = [...new Set(["localhost", "127.0.0.1", "::1", ...names])];
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (!existsSync(crt) || !existsSync(key) || !certificateNames(readFileSync(crt, "utf8"), all)) {
    const sans = all.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`));
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${sans.join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`);
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "825", "-extfile", `${name}.ext`], dir);
    chmodSync(key, 0o600);
  }
  return { cert: readFileSync(crt, "utf8"), key: readFileSync(key, "utf8"), caCert: readFileSync(join(dir, "ca.crt"), "utf8") };
}

/** Whether the certificate names every one of NAMES (IP addresses and DNS names). */
function certificateNames(pem: string, names: string[]): boolean {
  let alt: string;
  try {
    alt = new X509Certificate(pem).subjectAltName ?? "";
  } catch {
    return false;
  }
  const have = new Set(alt.split(", ").map((s) => s.replace(/^(IP Address|DNS):/, "")));
  // Node prints IPv6 addresses expanded; only the loopback one is ever asked for.
  return names.every((n) => have.has(n) || (n === "::1" && have.has("0:0:0:0:0:0:0:1")));
}

/**
 * A serving certificate of the user's own (--dashboard-cert/--dashboard-key, say: one a public
 * or company CA signed), read and checked before anything is served: both files or neither, a
 * PEM certificate (a chain may follow it) and the private key that belongs to it. FLAGS names
 * the two flags for the errors. Undefined when neither file is given.
 */
export function loadServingCertificate(
  certFile: string | undefined,
  keyFile: string | undefined,
  flags: { cert: string; key: string },
): { cert: string; key: string; subject: string; validTo: Date } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined)
    throw invalidArgument(`${flags.cert} and ${flags.key} go together: give both or neither`);
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      throw invalidArgument(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  };
  const cert = read(certFile, flags.cert);
  const key = read(keyFile, flags.key);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw invalidArgument(`${flags.cert} ${certFile} is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw invalidArgument(`${flags.key} ${keyFile} is not a PEM private key (an encrypted one needs its passphrase removed): ${(err as Error).message}`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey))
    throw invalidArgument(`${flags.key} ${keyFile} is not the private key of the certificate in ${certFile} (${x509.subject.replace(/\n/g, ", ")})`);
  return { cert, key, subject: x509.subject.replace(/\n/g, ", "), validTo: new Date(x509.validTo) };
}
