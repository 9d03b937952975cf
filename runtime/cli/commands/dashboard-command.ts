/**
 * `troupe dashboard`: the dashboard (runtime/cli/dashboard/) against any NATS server, until
 * Ctrl-C. `troupe dev` serves the same dashboard by itself; this is for a NATS it did not start.
 */
import { DEFAULT_SERVER } from "../cli-connection.ts";
import { parseFlags, parsePort, UsageError } from "../command.ts";
import {
  DEFAULT_DASHBOARD_HOST,
  DEFAULT_DASHBOARD_PORT,
  serveDashboard,
} from "../dashboard/serve-dashboard.ts";
import { messageOf, natsTargetOf, processIo, type TrafficCommand, withNats } from "../traffic/nats-target.ts";

export const dashboardUsage = `Usage: troupe dashboard [options]

Serves a web dashboard of a Troupe system: services, instances and endpoint latencies
($SRV.STATS), streams and consumers, dead letters (inspect, redrive), and a live tail of the
decoded events. Redrive is offered only when the dashboard listens on loopback.

Options:
  -s, --server <urls>  the NATS server (default: $NATS_URL, else the one of a running troupe dev,
                       else ${DEFAULT_SERVER})
  --namespace <ns>     the namespace of the subjects and streams (default: $TROUPE_NAMESPACE)
  --port <n>           the dashboard's port (default ${DEFAULT_DASHBOARD_PORT}; 0: any free one)
  --host <address>     the address to listen on (default ${DEFAULT_DASHBOARD_HOST}: this machine only)
  -h, --help           this help
`;

export const dashboardCommand: TrafficCommand = {
  name: "dashboard",
  summary: "serve the web dashboard: services, streams, dead letters, events",
  usage: dashboardUsage,
  async run(args, io = processIo()) {
    const { values } = parseFlags(args, FLAGS, false);
    if (values.help === true) {
      io.out(dashboardUsage);
      return 0;
    }
    const target = natsTargetOf(values);
    const port = parsePort("port", values.port, DEFAULT_DASHBOARD_PORT);
    const hostname = values.host ?? DEFAULT_DASHBOARD_HOST;
    if (hostname.trim() === "") throw new UsageError("--host must name an address");
    return withNats("dashboard", target, io, async (nc) => {
      let dashboard: Awaited<ReturnType<typeof serveDashboard>>;
      try {
        dashboard = await serveDashboard(
          { nc, namespace: target.namespace, serverLabel: target.servers.join(",") },
          { port, hostname },
        );
      } catch (err) {
        io.err(`troupe dashboard: cannot listen on ${hostname}:${port}: ${messageOf(err)}`);
        return 1;
      }
      io.err(
        `troupe dashboard: ${dashboard.url} (NATS ${target.servers.join(",")})` +
          (dashboard.admin ? "" : "; read only: not on loopback, so no redrive"),
      );
      const stopped = nc.closed().then(() => "the NATS connection closed");
      const interrupted = new Promise<string>((resolve) => {
        if (io.signal.aborted) resolve("stopped");
        io.signal.addEventListener("abort", () => resolve("stopped"), { once: true });
      });
      const why = await Promise.race([stopped, interrupted]);
      await dashboard.stop(1_000);
      io.err(`troupe dashboard: ${why}`);
      return why === "stopped" ? 0 : 1;
    });
  },
};

const FLAGS = {
  server: { type: "string", short: "s" },
  namespace: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;
