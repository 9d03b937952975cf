/**
 * Runs synchronous clean-up when this process ends: a normal exit, or SIGINT/SIGTERM/SIGHUP
 * (after which the process exits with the conventional 128+n code). A SIGKILL runs nothing;
 * whoever starts resources must also be able to reap what an earlier, killed process left.
 */
const hooks = new Set<() => void>();
let installed = false;

const SIGNAL_CODES = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

function runHooks(): void {
  for (const hook of [...hooks]) {
    hooks.delete(hook);
    try {
      hook();
    } catch {
      // clean-up is best effort; one failing hook must not stop the others
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runHooks);
  for (const [signal, number] of Object.entries(SIGNAL_CODES)) {
    process.once(signal, () => {
      runHooks();
      process.exit(128 + number);
    });
  }
}

/** Registers `hook` to run once when the process ends; returns a function that unregisters it. */
export function onProcessExit(hook: () => void): () => void {
  install();
  hooks.add(hook);
  return () => hooks.delete(hook);
}

/**
 * Registers `hook` for the process's `exit` event only (any `process.exit`, or the event loop
 * running dry), without taking over SIGINT/SIGTERM: for a process that handles those signals
 * itself and still needs a last, synchronous clean-up if it ends some other way.
 */
export function onExitEvent(hook: () => void): () => void {
  process.on("exit", hook);
  return () => process.off("exit", hook);
}
