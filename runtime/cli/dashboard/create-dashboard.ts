/**
 * The dashboard as a Hono app (a web-standard `fetch`): HTML pages for people, the same data as
 * JSON under `/api/` for scripts and tests, and a Server-Sent Events stream of the decoded
 * events (docs/guide/dashboard.md, docs/adr/0027-dashboard.md).
 *
 *   GET  /services, /streams, /dlq, /dlq/:seq, /events   pages (`?fragment=1`: the polled part)
 *   GET  /api/services, /api/streams, /api/dlq, /api/dlq/:seq
 *   GET  /api/events                                     SSE, one `traffic` event per message
 *   GET  /traces (`?q=` finds one), /traces/:id          pages; /api/traces, /api/traces/:id
 *   POST /dlq/:seq/redrive (form), /api/dlq/:seq/redrive (JSON)   admin only
 *   POST /v1/traces                                      OTLP/HTTP JSON receiver, admin only
 *
 * Admin actions (redrive, receiving traces) exist only when `admin` is set, which
 * `serveDashboard` does only on a loopback address; then requests must also name a loopback host (no DNS rebinding) and a form
 * POST must come from the dashboard's own origin (hono/csrf).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { streamSSE } from "hono/streaming";
import { createTrafficDecoder } from "../../inspect/traffic-decoder.ts";
import { redriveDeadLetter } from "../../jetstream/dead-letters.ts";
import { deadLetterStreamName, namespacePrefix } from "../../protocol/subjects.ts";
import { messageOf } from "../traffic/nats-target.ts";
import { headerRecord, recordOf } from "../traffic/traffic-record.ts";
import {
  deadLetterAt,
  deadLettersView,
  deadLetterView,
  servicesView,
  streamsView,
} from "./dashboard-data.ts";
import {
  type DeadLetterDetail,
  deadLetterPage,
  deadLettersFragment,
  deadLettersPage,
  errorFragment,
  eventsPage,
  layout,
  type PageName,
  polled,
  servicesFragment,
  streamsFragment,
  traceFragment,
  tracePage,
  tracesFragment,
  tracesPage,
} from "./dashboard-pages.ts";
import { createTraceStore, type TraceStore } from "./trace-store.ts";

export interface DashboardOptions {
  readonly nc: NatsConnection;
  /** The namespace of the subjects and streams shown ("" for none). */
  readonly namespace: string;
  /** Offer admin actions (redrive). Only ever true on a loopback listener. */
  readonly admin: boolean;
  /** What the header names as the server (its NATS URL). */
  readonly serverLabel: string;
  /** How many dead letters the list shows. */
  readonly deadLetterLimit: number;
  /** How long discovery waits for the first `$SRV` reply, and then for more. */
  readonly discoveryTimeoutMs: number;
  readonly discoveryStallMs: number;
  /** How many traces the dashboard keeps in memory (the least recently updated go first). */
  readonly maxTraces: number;
  /** The largest OTLP export request accepted, in bytes (after decompression). */
  readonly maxTraceRequestBytes: number;
}

export const defaultDashboardOptions: Omit<DashboardOptions, "nc"> = {
  namespace: "",
  admin: false,
  serverLabel: "",
  deadLetterLimit: 200,
  discoveryTimeoutMs: 1_000,
  discoveryStallMs: 200,
  maxTraces: 200,
  maxTraceRequestBytes: 8 * 1024 * 1024,
};

/** Host names a loopback dashboard answers to. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

export function createDashboard(partial: Partial<DashboardOptions> & Pick<DashboardOptions, "nc">): Hono {
  const options: DashboardOptions = { ...defaultDashboardOptions, ...partial };
  const { nc, namespace, admin } = options;
  namespacePrefix(namespace); // a bad namespace fails here, not on the first request
  const timings = { timeoutMs: options.discoveryTimeoutMs, stallMs: options.discoveryStallMs };
  const app = new Hono();

  if (admin) {
    app.use(async (c, next) => {
      const host = new URL(c.req.url).hostname;
      if (!LOOPBACK_HOSTS.has(host))
        return c.text(`this dashboard answers on loopback only, not ${host}`, 421);
      await next();
      return undefined;
    });
  }
  app.use(csrf());
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse(); // csrf's 403
    const message = messageOf(err);
    if (c.req.path.startsWith("/api/")) return c.json({ error: message }, 502);
    return c.html(errorFragment(`Cannot read from NATS: ${message}`), 502);
  });

  /** A page, or only its polled part when asked with `?fragment=1`. */
  const page = (c: Context, name: PageName, title: string, fragment: ReturnType<typeof polled>) =>
    c.req.query("fragment") === "1"
      ? c.html(fragment)
      : c.html(layout(name, title, options.serverLabel, polled(`${c.req.path}?fragment=1`, fragment)));

  app.get("/", (c) => c.redirect("/services"));
  app.get("/services", async (c) =>
    page(c, "services", "Services", servicesFragment(await servicesView(nc, timings))),
  );
  app.get("/api/services", async (c) => c.json(await servicesView(nc, timings)));
  app.get("/streams", async (c) =>
    page(c, "streams", "Streams", streamsFragment(await streamsView(nc, namespace))),
  );
  app.get("/api/streams", async (c) => c.json(await streamsView(nc, namespace)));

  app.get("/dlq", async (c) => {
    const letters = await deadLettersView(nc, namespace, options.deadLetterLimit);
    if (c.req.query("fragment") === "1") return c.html(deadLettersFragment(letters, admin));
    const notice = noticeOf(c.req.query("redriven"), c.req.query("failed"));
    return c.html(
      layout("dlq", "Dead letters", options.serverLabel, deadLettersPage(letters, admin, notice)),
    );
  });
  app.get("/api/dlq", async (c) => c.json(await deadLettersView(nc, namespace, options.deadLetterLimit)));
  app.get("/dlq/:seq", async (c) => {
    const seq = seqOf(c.req.param("seq"));
    const letter = seq === undefined ? undefined : await detailOf(seq);
    if (letter === undefined) {
      return c.html(
        layout(
          "dlq",
          "Dead letter",
          options.serverLabel,
          errorFragment(`No dead letter ${c.req.param("seq")}.`),
        ),
        404,
      );
    }
    return c.html(layout("dlq", `Dead letter ${seq}`, options.serverLabel, deadLetterPage(letter, admin)));
  });
  app.get("/api/dlq/:seq", async (c) => {
    const seq = seqOf(c.req.param("seq"));
    const letter = seq === undefined ? undefined : await detailOf(seq);
    if (letter === undefined) return c.json({ error: `no dead letter ${c.req.param("seq")}` }, 404);
    return c.json(letter);
  });

  const redrive = async (seq: number) => {
    const ack = await redriveDeadLetter(jetstream(nc), await jetstreamManager(nc), seq, { namespace });
    return { seq, stream: ack.stream, streamSeq: ack.seq, id: ack.id, duplicate: ack.duplicate };
  };
  app.post("/dlq/:seq/redrive", async (c) => {
    const seq = seqOf(c.req.param("seq"));
    if (!admin) return c.text("redrive is offered on a loopback dashboard only", 403);
    if (seq === undefined) return c.text(`"${c.req.param("seq")}" is not a dead-letter sequence`, 400);
    try {
      await redrive(seq);
      return c.redirect(`/dlq?redriven=${seq}`, 303);
    } catch (err) {
      return c.redirect(`/dlq?failed=${encodeURIComponent(`${seq}: ${messageOf(err)}`)}`, 303);
    }
  });
  app.post("/api/dlq/:seq/redrive", async (c) => {
    const seq = seqOf(c.req.param("seq"));
    if (!admin) return c.json({ error: "redrive is offered on a loopback dashboard only" }, 403);
    if (seq === undefined)
      return c.json({ error: `"${c.req.param("seq")}" is not a dead-letter sequence` }, 400);
    if ((await deadLetterAt(nc, namespace, seq)) === undefined) {
      return c.json({ error: `no dead letter ${seq}` }, 404);
    }
    return c.json(await redrive(seq));
  });

  const traces = createTraceStore({ maxTraces: options.maxTraces });
  registerTraceRoutes(app, traces, options);

  const eventSubject = `${namespacePrefix(namespace)}evt.>`;
  app.get("/events", (c) =>
    c.html(layout("events", "Events", options.serverLabel, eventsPage(eventSubject))),
  );
  app.get("/api/events", (c) =>
    streamSSE(c, async (stream) => {
      const decoder = createTrafficDecoder(nc, { namespace });
      const sub = nc.subscribe(eventSubject);
      stream.onAbort(() => sub.unsubscribe());
      await nc.flush();
      // A comment first: the browser's EventSource opens once headers and a first chunk arrive.
      await stream.write(": subscribed\n\n");
      for await (const msg of sub) {
        const record = await recordOf(decoder, {
          subject: msg.subject,
          data: msg.data,
          headers: msg.headers,
          time: new Date(),
        });
        if (stream.aborted || stream.closed) break;
        await stream.writeSSE({ event: "traffic", data: JSON.stringify(record) });
      }
    }),
  );

  /** The dead letter `seq` with its original message decoded; undefined when there is none. */
  async function detailOf(seq: number): Promise<DeadLetterDetail | undefined> {
    const letter = await deadLetterAt(nc, namespace, seq);
    if (letter === undefined) return undefined;
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage(deadLetterStreamName(namespace), { seq });
    if (stored === null) return undefined;
    const record = await recordOf(createTrafficDecoder(nc, { namespace }), {
      subject: stored.subject,
      data: stored.data,
      headers: stored.header,
      time: stored.time,
    });
    const headers = headerRecord(undefined);
    for (const [name, value] of letter.headers) headers[name] = value;
    return {
      ...deadLetterView(letter),
      type: record.type,
      headers,
      body: record.body,
      ...(record.error === undefined ? {} : { decodeError: record.error }),
    };
  }

  return app;
}

/**
 * The OTLP/HTTP receiver and the trace pages. The receiver takes the JSON encoding, the one
 * Troupe's exporter sends (https://opentelemetry.io/docs/specs/otlp/#otlphttp), gzipped or not;
 * a protobuf body is refused with 415 and a hint, not misread.
 */
function registerTraceRoutes(app: Hono, traces: TraceStore, options: DashboardOptions): void {
  const { admin } = options;
  app.post(
    "/v1/traces",
    bodyLimit({
      maxSize: options.maxTraceRequestBytes,
      onError: (c) =>
        c.json(
          { code: 3, message: `an export request may have ${options.maxTraceRequestBytes} bytes at most` },
          413,
        ),
    }),
    async (c) => {
      if (!admin)
        return c.json({ code: 7, message: "traces are received on a loopback dashboard only" }, 403);
      const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
      if (type !== "application/json") {
        return c.json(
          {
            code: 3,
            message: `send OTLP/HTTP in its JSON encoding (content-type application/json), not ${type || "no content type"}`,
          },
          415,
        );
      }
      let request: unknown;
      try {
        request = JSON.parse(await bodyText(c.req.raw, options.maxTraceRequestBytes));
      } catch (err) {
        return c.json({ code: 3, message: `not an OTLP JSON export request: ${messageOf(err)}` }, 400);
      }
      let result: ReturnType<TraceStore["receive"]>;
      try {
        result = traces.receive(request);
      } catch (err) {
        return c.json({ code: 3, message: `not an OTLP JSON export request: ${messageOf(err)}` }, 400);
      }
      // ExportTraceServiceResponse: empty on success, partialSuccess when spans were dropped.
      return c.json(
        result.rejected === 0
          ? {}
          : { partialSuccess: { rejectedSpans: result.rejected, errorMessage: result.reason } },
      );
    },
  );

  app.get("/traces", (c) => {
    const query = (c.req.query("q") ?? "").trim();
    if (c.req.query("fragment") === "1") return c.html(tracesFragment(traces.list(), admin));
    let notice: string | undefined;
    if (query !== "") {
      const found = traces.find(query);
      if (found !== undefined) return c.redirect(`/traces/${found}`, 303);
      notice = `No trace ${query} among the ${traces.list().length} kept.`;
    }
    return c.html(
      layout("traces", "Traces", options.serverLabel, tracesPage(traces.list(), admin, query, notice)),
      notice === undefined ? 200 : 404,
    );
  });
  app.get("/api/traces", (c) => c.json(traces.list()));
  app.get("/traces/:id", (c) => {
    const trace = traces.get(c.req.param("id"));
    if (trace === undefined) {
      return c.html(
        layout("traces", "Trace", options.serverLabel, errorFragment(`No trace ${c.req.param("id")}.`)),
        404,
      );
    }
    if (c.req.query("fragment") === "1") return c.html(traceFragment(trace));
    return c.html(layout("traces", `Trace ${trace.rootName}`, options.serverLabel, tracePage(trace)));
  });
  app.get("/api/traces/:id", (c) => {
    const trace = traces.get(c.req.param("id"));
    return trace === undefined ? c.json({ error: `no trace ${c.req.param("id")}` }, 404) : c.json(trace);
  });
}

/** The request's body as text, gunzipped when it says so, at most `maxBytes` either way. */
async function bodyText(request: Request, maxBytes: number): Promise<string> {
  const encoding = (request.headers.get("content-encoding") ?? "identity").toLowerCase();
  if (encoding === "identity") return request.text();
  if (encoding !== "gzip") throw new Error(`content-encoding ${encoding} is not supported (gzip is)`);
  if (request.body === null) return "";
  const reader = request.body.pipeThrough(new DecompressionStream("gzip")).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`more than ${maxBytes} bytes once decompressed`);
    }
    chunks.push(value);
  }
  const decoder = new TextDecoder();
  return chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join("") + decoder.decode();
}

function seqOf(text: string): number | undefined {
  return /^\d+$/.test(text) && Number(text) >= 1 && Number.isSafeInteger(Number(text))
    ? Number(text)
    : undefined;
}

function noticeOf(redriven: string | undefined, failed: string | undefined): string | undefined {
  if (redriven !== undefined && seqOf(redriven) !== undefined) return `Redrove dead letter ${redriven}.`;
  if (failed !== undefined) return `Redrive failed: ${failed}`;
  return undefined;
}
