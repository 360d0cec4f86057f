// NODE_EXTRA_CA_CERTS, honoured at the first TLS connection that needs it instead of at start.
// node parses the file that variable names into an OpenSSL store as it starts, whatever the
// process goes on to do: Debian's 220 kB bundle costs ~1.8 MB of RSS. `gantry agent`'s
// launcher (bin/gantry) hands the path on in GANTRY_EXTRA_CA_CERTS instead, and the agent's
// TLS clients that trust public roots add the file's certificates themselves: the API client
// when no --ca-file names the cluster's CA, and the registry client.
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";

/** The variable bin/gantry moves NODE_EXTRA_CA_CERTS to. */
export const HANDED_ON_EXTRA_CA_VAR = "GANTRY_EXTRA_CA_CERTS";

let loaded: { file: string; pem: string | undefined } | undefined;

/** The extra CA file's PEM text (GANTRY_EXTRA_CA_CERTS, else NODE_EXTRA_CA_CERTS), read once;
 * undefined when neither is set or the file cannot be read (node too warns and goes on). */
export function extraCaCertificates(): string | undefined {
  const file = process.env[HANDED_ON_EXTRA_CA_VAR] || process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return undefined;
  if (loaded?.file !== file) {
    let pem: string | undefined;
    try {
      pem = readFileSync(file, "utf8");
    } catch (err) {
      process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    }
    loaded = { file, pem };
  }
  return loaded.pem;
}

/**
 * What a client that would trust node's default roots passes as `ca` when NODE_EXTRA_CA_CERTS
 * was handed on: node's bundled roots plus the extra file, as node's own store would hold.
 * Undefined when nothing was handed on (node's default store then already has everything).
 */
export function defaultRootsWithHandedOnExtras(): string[] | undefined {
  if (!process.env[HANDED_ON_EXTRA_CA_VAR]) return undefined;
  const extra = extraCaCertificates();
  return extra ? [...rootCertificates, extra] : undefined;
}
