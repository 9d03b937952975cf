/**
 * The dashboard on its own port (runtime/platform/http2-server.ts, the gateway's listener).
 * Loopback by default; admin actions (redrive) only there: a dashboard bound to another
 * address is read only, whatever is asked (docs/adr/0027-dashboard.md).
 */
import { type HttpServer, serveHttp } from "../../platform/http2-server.ts";
import { createDashboard, type DashboardOptions } from "./create-dashboard.ts";

/** The dashboard's port in `troupe dev` and `troupe dashboard` (a free one when taken). */
export const DEFAULT_DASHBOARD_PORT = 8090;
export const DEFAULT_DASHBOARD_HOST = "127.0.0.1";

export interface ServeDashboardOptions {
  readonly port: number;
  readonly hostname: string;
}

export interface RunningDashboard {
  /** `http://<host>:<port>` */
  readonly url: string;
  readonly port: number;
  /** Whether admin actions are offered (the listener is on loopback). */
  readonly admin: boolean;
  stop(graceMs?: number): Promise<void>;
}

/** True for 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

export async function serveDashboard(
  init: Partial<Omit<DashboardOptions, "admin">> & Pick<DashboardOptions, "nc">,
  partial: Partial<ServeDashboardOptions> = {},
): Promise<RunningDashboard> {
  const options: ServeDashboardOptions = {
    port: DEFAULT_DASHBOARD_PORT,
    hostname: DEFAULT_DASHBOARD_HOST,
    ...partial,
  };
  const admin = isLoopback(options.hostname);
  const app = createDashboard({ ...init, admin });
  const server: HttpServer = await serveHttp({
    fetch: async (request) => app.fetch(request),
    grpc: undefined,
    port: options.port,
    hostname: options.hostname,
  });
  const host = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname;
  return {
    url: `http://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${server.port}`,
    port: server.port,
    admin,
    stop: (graceMs = 0) => server.close(graceMs),
  };
}
