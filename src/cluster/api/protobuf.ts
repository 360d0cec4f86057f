// Placeholder, replaced by the protobuf decoder.
import { errUnsupportedMediaType } from "./status.ts";
export const PROTOBUF_TYPE = "application/vnd.kubernetes.protobuf";
export async function decodeProtobufObject(_buf: Buffer): Promise<unknown> {
  throw errUnsupportedMediaType(PROTOBUF_TYPE);
}
