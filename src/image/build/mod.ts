// `gantry build` as a library: parse a Dockerfile, run it against the image store.
export { buildImage, RunStepFailed, type BuildOptions, type BuildResult } from "./builder.ts";
export { parseDockerfile, supportedInstructions, type Instruction } from "./parse.ts";
