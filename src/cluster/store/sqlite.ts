import type { Store } from "./types.ts";
import { GantryError } from "../../common/errors.ts";

export async function openSqliteStore(path: string): Promise<Store> {
  throw new GantryError("UNSUPPORTED_OPTION", `the SQLite store at ${path} is not built yet`);
}
