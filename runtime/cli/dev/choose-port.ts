import { freePort, portIsFree } from "../../platform/free-port.ts";

export interface ChosenPort {
  readonly port: number;
  /** True when `preferred` was taken and another free port was chosen instead. */
  readonly fellBack: boolean;
}

/**
 * `preferred` when it is free on 127.0.0.1, else a free port (0 always asks for a free one).
 * A local tool should start rather than fail on a busy port; the summary prints what was chosen.
 */
export async function choosePort(preferred: number): Promise<ChosenPort> {
  if (preferred !== 0 && (await portIsFree(preferred))) return { port: preferred, fellBack: false };
  return { port: await freePort(), fellBack: preferred !== 0 };
}
