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
