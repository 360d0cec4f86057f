// Dockerfile/Containerfile parsing: a pure function from text to instructions, each with the
// line it started on (errors name it). Line continuations (`\` at the end of a line) and
// comments are folded here; ARG/ENV expansion happens later, when values are known.
import { GantryError } from "../../common/errors.ts";

export const supportedInstructions = ["FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "CMD", "ENTRYPOINT", "EXPOSE", "LABEL", "VOLUME", "HEALTHCHECK"] as const;
export type InstructionName = (typeof supportedInstructions)[number];

export interface Instruction {
  name: InstructionName;
  /** The text after the keyword, continuations joined, flags included. */
  args: string;
  /** 1-based line number where the instruction starts. */
  line: number;
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let body = lines[i] ?? "";
    if (/^\s*(#.*)?$/.test(body)) continue;
    // Docker folds `\`-terminated lines, skipping comment lines inside a continuation.
    while (/\\\s*$/.test(body) && i + 1 < lines.length) {
      body = body.replace(/\\\s*$/, "");
      i++;
      const next = lines[i] ?? "";
      if (/^\s*#/.test(next)) {
        body += "\\";
        continue;
      }
      body += next;
    }
    const m = /^\s*(\S+)\s*(.*)$/s.exec(body);
    if (!m) continue;
    const keyword = (m[1] ?? "").toUpperCase();
    if (!(supportedInstructions as readonly string[]).includes(keyword)) {
      throw new GantryError("INVALID_ARGUMENT", `Dockerfile line ${start}: unknown or unsupported instruction ${keyword}`, { hint: "supported: " + supportedInstructions.join(", ") });
    }
    out.push({ name: keyword as InstructionName, args: (m[2] ?? "").trim(), line: start });
  }
  if (out.length === 0) throw new GantryError("INVALID_ARGUMENT", "Dockerfile has no instructions");
  const first = out.findIndex((ins) => ins.name !== "ARG");
  if (first === -1 || out[first]?.name !== "FROM") throw new GantryError("INVALID_ARGUMENT", `Dockerfile line ${out[first]?.line ?? 1}: the first instruction must be FROM`);
  return out;
}

/** `["a","b"]` → exec form; anything else → undefined (shell form). */
export function parseJsonForm(args: string): string[] | undefined {
  if (!args.startsWith("[")) return undefined;
  try {
    const v: unknown = JSON.parse(args);
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  } catch {
    /* not JSON: Docker treats it as shell form */
  }
  return undefined;
}

/** Splits leading `--name=value` flags off an instruction's arguments. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
    if (!m) break;
    flags[m[1] ?? ""] = m[2] ?? "true";
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** Splits on whitespace, honouring double and single quotes and backslash escapes. */
export function splitWords(s: string): string[] {
  const words: string[] = [];
  let cur = "";
  let has = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? "";
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) words.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) words.push(cur);
  return words;
}

/** `K=V K2="v 2"` or the legacy `K V` form (ENV, LABEL, ARG). */
export function parseKeyValues(args: string, legacy: boolean): [string, string][] {
  const words = splitWords(args);
  if (words.length > 0 && !(words[0] ?? "").includes("=")) {
    if (!legacy) return words.map((w) => [w, ""]);
    const m = /^(\S+)\s+(.*)$/s.exec(args.trim());
    return [[m?.[1] ?? args.trim(), (m?.[2] ?? "").trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf("=");
    return eq === -1 ? [w, ""] : [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** Replaces $VAR, ${VAR}, ${VAR:-default} and ${VAR:+alt} from `vars`; `\$` stays literal. */
export function expandVariables(s: string, vars: Record<string, string>): string {
  return s.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced: string | undefined, op: string | undefined, word: string | undefined, bare: string | undefined) => {
    if (whole === "\\$") return "\\$";
    const name = braced ?? bare ?? "";
    const v = vars[name];
    if (op === "-") return v ? v : (word ?? "");
    if (op === "+") return v ? (word ?? "") : "";
    return v ?? "";
  });
}
