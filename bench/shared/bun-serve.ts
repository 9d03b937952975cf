/**
 * `Bun.serve` on a free loopback port for the what-if peers of bench/gateway (Bun only: elsewhere
 * it throws, and the driver reports that peer as failed). Typed locally, as runtime/platform/tcp-bun.ts
 * does, so the file type-checks on every runtime.
 */
interface BunServer {
  readonly port: number;
  requestIP(request: Request): { readonly address: string } | null;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

interface BunServeOptions {
  readonly port: number;
  readonly hostname: string;
  fetch(request: Request, server: BunServer): Response | Promise<Response>;
}

export interface BunServed {
  readonly url: string;
  stop(): Promise<void>;
}

export function bunServe(
  handle: (request: Request, remoteAddress: string | undefined) => Response | Promise<Response>,
): BunServed {
  const bun = (globalThis as unknown as { Bun?: { serve(options: BunServeOptions): BunServer } }).Bun;
  if (bun === undefined) throw new Error("this peer runs on Bun only (Bun.serve)");
  const server = bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (request, self) => handle(request, self.requestIP(request)?.address),
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    stop: async () => {
      await server.stop(true);
    },
  };
}
