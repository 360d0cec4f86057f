// kube-apiserver's --token-auth-file: static bearer tokens in a CSV file, one user a line,
//
//   token,user,uid,"group1,group2"
//
// (the groups column is optional; lines starting with "#" and blank lines are skipped). Each
// token authenticates as its user, in its groups plus system:authenticated. Read once at
// start, as kube-apiserver reads it; a malformed file stops the server with the line named.
import { readFileSync } from "node:fs";
import { GantryError } from "../../common/errors.ts";
import type { UserInfo } from "./authentication.ts";

/** One CSV record (RFC 4180 quoting, as Go's encoding/csv reads it), with leading spaces trimmed. */
function csvFields(line: string): string[] | undefined {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === " " || line[i] === "\t") i++;
    let field = "";
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) return undefined;
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      if (i < line.length && line[i] !== ",") return undefined;
    } else {
      const end = line.indexOf(",", i);
      field = end < 0 ? line.slice(i) : line.slice(i, end);
      if (field.includes('"')) return undefined;
      i = end < 0 ? line.length : end;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/** Parses the file's text: token → user. */
export function parseTokenAuthFile(text: string, path = "token file"): Map<string, UserInfo> {
  const users = new Map<string, UserInfo>();
  text.split(/\r?\n/).forEach((line, n) => {
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const f = csvFields(line);
    const where = `${path} line ${n + 1}`;
    if (!f) throw new GantryError("INVALID_ARGUMENT", `${where}: malformed CSV (a quote is not closed or stands inside a field)`);
    if (f.length < 3) throw new GantryError("INVALID_ARGUMENT", `${where}: expected token,user,uid[,"group1,group2"], found ${f.length} field(s)`);
    const [token, username, uid] = f as [string, string, string];
    if (!token || !username) throw new GantryError("INVALID_ARGUMENT", `${where}: the token and the user name may not be empty`);
    if (users.has(token)) throw new GantryError("INVALID_ARGUMENT", `${where}: the token is already given to user "${users.get(token)!.username}"`);
    const groups = (f[3] ?? "").split(",").map((g) => g.trim()).filter(Boolean);
    if (!groups.includes("system:authenticated")) groups.push("system:authenticated");
    users.set(token, { username, uid, groups });
  });
  return users;
}

export function readTokenAuthFile(path: string): Map<string, UserInfo> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new GantryError("NOT_FOUND", `cannot read the token auth file ${path}: ${(err as Error).message}`);
  }
  return parseTokenAuthFile(text, path);
}
