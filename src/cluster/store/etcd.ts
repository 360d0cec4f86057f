import type { Store } from "./types.ts";
import { GantryError } from "../../common/errors.ts";

export async function openEtcdStore(endpoints: string[], _prefix: string): Promise<Store> {
  throw new GantryError("UNSUPPORTED_OPTION", `the etcd store at ${endpoints.join(",")} is not built yet`);
}
