// Small helpers for defaulting fields of objects held as plain JSON.
import { isPlainObject } from "../objects.ts";

export type Obj = Record<string, unknown>;

/** parent[key] as an object, created (or replacing a non-object) when needed. */
export const obj = (parent: Obj, key: string): Obj => {
  if (!isPlainObject(parent[key])) parent[key] = {};
  return parent[key] as Obj;
};

/** Sets o[key] to value when it is absent or null. */
export const dflt = (o: Obj, key: string, value: unknown) => {
  if (o[key] === undefined || o[key] === null) o[key] = value;
};
