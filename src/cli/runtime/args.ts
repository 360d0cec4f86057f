// runc's command-line shape — global options, a verb, the verb's options and operands —
// on node's own util.parseArgs. A general CLI library costs more to load than the whole
// runtime, and this binary starts once per container, so the table here is all it needs.
import { parseArgs } from "node:util";
import { GantryError } from "../../common/errors.ts";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[];
  /** the help line; "<value>" placeholders are taken from it */
  help: string;
}

export interface CommandSpec {
  name: string;
  aliases?: string[];
  help: string;
  /** operand names for the usage line, e.g. ["<id>", "[signal]"] */
  operands: string[];
  options: Record<string, OptionSpec>;
  /** options are read only before the first operand (exec ID CMD -c …, ps ID -ef) */
  stopAtFirstOperand?: boolean;
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  globals: Values;
  command?: CommandSpec;
  values: Values;
  operands: string[];
  /** --help or --version was asked for: print this and exit 0 */
  print?: string;
}

const usageError = (message: string) => new GantryError("INVALID_ARGUMENT", message, { hint: "see gantry-runtime --help" });

/** Index of the first operand in args: options that take a value consume the next token. */
function firstOperand(args: string[], options: Record<string, OptionSpec>): number {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== "string") continue;
    takesValue.add(`--${name}`);
    if (o.short) takesValue.add(`-${o.short}`);
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return i;
    if (!a.startsWith("-") || a === "-") return i;
    if (takesValue.has(a)) i++;
  }
  return args.length;
}

function parseOptions(args: string[], options: Record<string, OptionSpec>, allowOperands: boolean): { values: Values; operands: string[] } {
  try {
    const r = parseArgs({
      args,
      options: Object.fromEntries(
        // util.parseArgs rejects keys that are present but undefined
        Object.entries(options).map(([name, { help: _help, ...o }]) => [name, o]),
      ) as never,
      allowPositionals: allowOperands,
      strict: true,
    });
    return { values: r.values as Values, operands: r.positionals };
  } catch (err) {
    const msg = (err as Error).message;
    // util.parseArgs words its errors for node; say them the way runc users expect.
    const unknown = /Unknown option '([^']+)'/.exec(msg);
    if (unknown) throw usageError(`unknown option '${unknown[1]}'`);
    throw usageError(msg.replace(/\. To specify a positional argument.*$/s, ""));
  }
}

export function parseCommandLine(argv: string[], globalOptions: Record<string, OptionSpec>, commands: CommandSpec[], program: { name: string; help: string; version: string }): Parsed {
  const verbAt = firstOperand(argv, globalOptions);
  const { values: globals } = parseOptions(argv.slice(0, verbAt), globalOptions, false);
  if (globals.version) return { globals, values: {}, operands: [], print: program.version };
  const verb = argv[verbAt];
  if (globals.help || verb === undefined || verb === "help") {
    const topic = verb === "help" ? commands.find((c) => c.name === argv[verbAt + 1]) : undefined;
    return { globals, values: {}, operands: [], print: topic ? commandHelp(program.name, topic) : programHelp(program, globalOptions, commands) };
  }
  const command = commands.find((c) => c.name === verb || c.aliases?.includes(verb));
  if (!command) throw usageError(`unknown command '${verb}'`);
  const rest = argv.slice(verbAt + 1);
  if (rest.includes("--help") || rest.includes("-h")) {
    const cut = command.stopAtFirstOperand ? firstOperand(rest, command.options) : rest.length;
    if (rest.slice(0, cut).some((a) => a === "--help" || a === "-h")) return { globals, command, values: {}, operands: [], print: commandHelp(program.name, command) };
  }
  let values: Values;
  let operands: string[];
  if (command.stopAtFirstOperand) {
    const cut = firstOperand(rest, command.options);
    ({ values } = parseOptions(rest.slice(0, cut), command.options, false));
    operands = rest.slice(rest[cut] === "--" ? cut + 1 : cut);
  } else {
    ({ values, operands } = parseOptions(rest, command.options, true));
  }
  const required = command.operands.filter((o) => o.startsWith("<")).length;
  const variadic = command.operands.some((o) => o.endsWith("...]"));
  if (operands.length < required) throw usageError(`${command.name}: missing required argument '${command.operands[operands.length]!.replace(/[<>]/g, "")}'`);
  if (!variadic && operands.length > command.operands.length) throw usageError(`${command.name}: too many arguments (${operands.slice(command.operands.length).join(" ")})`);
  return { globals, command, values, operands };
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  return Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "string" ? " <value>" : ""}`;
    const dflt = o.default !== undefined && o.default !== false && !(Array.isArray(o.default) && !o.default.length) ? ` (default: ${String(o.default)})` : "";
    return `  ${flag.padEnd(34)} ${o.help}${dflt}`;
  });
}

function commandHelp(programName: string, c: CommandSpec): string {
  return [`Usage: ${programName} ${c.name} [options] ${c.operands.join(" ")}`, "", c.help, "", "Options:", ...optionLines(c.options)].join("\n");
}

function programHelp(program: { name: string; help: string }, globals: Record<string, OptionSpec>, commands: CommandSpec[]): string {
  return [
    `Usage: ${program.name} [options] <command> [command options]`,
    "",
    program.help,
    "",
    "Options:",
    ...optionLines(globals),
    "",
    "Commands:",
    ...commands.map((c) => `  ${[c.name, ...(c.aliases ?? [])].join("|").padEnd(12)} ${c.help}`),
    "",
    `Run '${program.name} help <command>' or '${program.name} <command> --help' for a command's options.`,
  ].join("\n");
}
