/** Liveness of a stream's peer (docs/adr/0006-rpc-streams.md). */
/**
 * Pings the peer whenever this side has published nothing for `idleMs`; `touch()` on every
 * publish. The ping itself is ignored by the peer: its reply subject is what matters, because
 * the NATS server answers it with 503 when the peer's call inbox is gone.
 */
export interface IdlePinger {
  touch(): void;
  stop(): void;
}

export function startIdlePinger(idleMs: number, ping: () => void): IdlePinger {
  let last = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const check = () => {
    const silentMs = Date.now() - last;
    if (silentMs >= idleMs) {
      ping();
      last = Date.now();
    }
    if (!stopped) timer = setTimeout(check, Math.max(1, idleMs - (Date.now() - last)));
  };
  timer = setTimeout(check, idleMs);
  return {
    touch() {
      last = Date.now();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
