/** SIGTERM and SIGINT, the signals that ask a process to shut down gracefully. */
export function onShutdownSignal(handler: (signal: "SIGTERM" | "SIGINT") => void): () => void {
  const onTerm = () => handler("SIGTERM");
  const onInt = () => handler("SIGINT");
  process.on("SIGTERM", onTerm);
  process.on("SIGINT", onInt);
  return () => {
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onInt);
  };
}

/** Ends the process with `code` once pending output is written. */
export function exitProcess(code: number): never {
  process.exit(code);
}

/** SIGHUP: the controlling terminal went away. Returns a function that removes the handler. */
export function onHangup(handler: () => void): () => void {
  process.on("SIGHUP", handler);
  return () => process.off("SIGHUP", handler);
}
