/**
 * One extra process of troupe.json `services` (a mail sink, a database): started before the
 * actors on its preferred port (or a free one when taken), supervised like an actor, and ready
 * once its `ready` text appears in its output, else once its port accepts TCP connections, else
 * at once. Its `env` (placeholders filled in) is what every actor gets from it.
 */
import { portAccepts } from "../../platform/free-port.ts";
import type { OutputStream } from "../../platform/spawn-process.ts";
import { fillPlaceholders, type ServiceConfig } from "../project-config.ts";
import { projectProgram } from "../project-program.ts";
import { choosePort } from "./choose-port.ts";
import type { Printer } from "./dev-console.ts";
import {
  defaultRestartPolicy,
  type SupervisedProcess,
  startSupervisedProcess,
} from "./supervised-process.ts";
import { pause, type WaitOptions } from "./wait-until-ready.ts";

export interface DevServiceInit {
  readonly name: string;
  readonly config: ServiceConfig;
  /** A port from the command line (`--service-port name=port`) instead of `config.port`. */
  readonly port: number | undefined;
  /** The project root: the working directory, and where node_modules/.bin is looked for. */
  readonly root: string;
  /** The absolute data folder: `{dataDir}`. */
  readonly dataDir: string;
  /** What troupe dev gives the service besides its own `env` (NATS_URL). */
  readonly baseEnv: Readonly<Record<string, string>>;
  readonly printer: Printer;
  /** Told about each new child (the first and every restart), with the text its command line holds. */
  readonly onStarted: (pid: number, commandLine: string) => void;
}

export interface DevService {
  readonly name: string;
  readonly child: SupervisedProcess;
  /** The chosen port, if the service has one. */
  readonly port: number | undefined;
  /** True when the preferred port was taken and another one was chosen. */
  readonly fellBack: boolean;
  /** Its `env` with the placeholders filled in: given to every actor. */
  readonly env: Readonly<Record<string, string>>;
  /** Resolves once it is ready (see the file comment); rejects when `options.abandon` does or time is up. */
  waitUntilReady(options: WaitOptions): Promise<void>;
}

export async function startDevService(init: DevServiceInit): Promise<DevService> {
  const { config } = init;
  const preferred = init.port ?? config.port;
  const chosen = preferred === undefined ? undefined : await choosePort(preferred);
  const port = chosen?.port;
  const fill = (value: string) => fillPlaceholders(value, port, init.dataDir);
  const env = Object.fromEntries(Object.entries(config.env).map(([name, value]) => [name, fill(value)]));
  const [program = "", ...args] = config.command.map(fill);

  // The ready text is looked for across chunk boundaries: the tail of the last chunk is kept.
  let seen = false;
  let tail = "";
  let onSeen = () => {};
  const printer: Printer = {
    ...init.printer,
    output(chunk: string, stream: OutputStream) {
      init.printer.output(chunk, stream);
      if (seen || config.ready === undefined) return;
      const text = tail + chunk;
      if (text.includes(config.ready)) {
        seen = true;
        onSeen();
      }
      tail = text.slice(-config.ready.length);
    },
  };
  const child = startSupervisedProcess({
    name: init.name,
    command: projectProgram(init.root, program),
    args,
    cwd: init.root,
    env: { ...init.baseEnv, ...env },
    printer,
    restart: defaultRestartPolicy,
    // What a leftover's command line is recognised by (dev-state.ts): its arguments.
    onStarted: (pid) => init.onStarted(pid, args.length > 0 ? args.join(" ") : program),
  });

  return {
    name: init.name,
    child,
    port,
    fellBack: chosen?.fellBack ?? false,
    env,
    async waitUntilReady(options) {
      if (config.ready !== undefined) {
        const ready = config.ready;
        await withDeadline(
          seen ? Promise.resolve() : new Promise<void>((resolve) => (onSeen = resolve)),
          options,
          () => `${init.name} did not print "${ready}" within ${options.timeoutMs} ms`,
        );
      } else if (port !== undefined) {
        const deadline = Date.now() + options.timeoutMs;
        while (!(await Promise.race([portAccepts(port), options.abandon]))) {
          if (Date.now() > deadline) {
            throw new Error(
              `${init.name} did not accept connections on port ${port} within ${options.timeoutMs} ms`,
            );
          }
          await Promise.race([pause(100), options.abandon]);
        }
      }
    },
  };
}

async function withDeadline(done: Promise<void>, options: WaitOptions, message: () => string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), options.timeoutMs);
  });
  try {
    await Promise.race([done, timeout, options.abandon]);
  } finally {
    clearTimeout(timer);
  }
}
