/**
 * The dashboard's HTML, rendered on the server with Hono's `html` tagged template (every
 * interpolated value is escaped; nested templates are not escaped twice). No JSX: Node runs
 * `.ts` files by stripping types and cannot run `.tsx` (docs/adr/0027-dashboard.md). The only
 * script is small and inline: a section with `data-poll` reloads itself from the same page's
 * `?fragment=1` every two seconds, and the events page reads a Server-Sent Events stream.
 */
import { html, raw } from "hono/html";
import type {
  DeadLetterView,
  EndpointView,
  Quantiles,
  ServiceConsumerView,
  ServiceView,
  StreamsView,
} from "./dashboard-data.ts";
import type { SpanView, TraceSummary, TraceView } from "./trace-store.ts";

type Html = ReturnType<typeof html>;

export type PageName = "services" | "streams" | "dlq" | "events" | "traces";

const NAV: readonly [PageName, string, string][] = [
  ["services", "/services", "Services"],
  ["streams", "/streams", "Streams"],
  ["dlq", "/dlq", "Dead letters"],
  ["events", "/events", "Events"],
  ["traces", "/traces", "Traces"],
];

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
header { background: #1d232a; color: #fff; padding: 8px 16px; display: flex; gap: 18px; align-items: baseline; }
header b { font-size: 16px; } header a { color: #c9d3dd; text-decoration: none; } header a.on { color: #fff; font-weight: 600; }
header small { margin-left: auto; color: #8f9ba8; }
main { padding: 12px 16px; } h2 { margin: 18px 0 6px; font-size: 16px; } h3 { margin: 10px 0 4px; font-size: 13px; color: #4b5562; }
table { border-collapse: collapse; background: #fff; margin-bottom: 8px; }
th, td { border: 1px solid #dde2e8; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #7a8591; } .bad { color: #b3261e; } .note { background: #e8f3e8; padding: 6px 10px; }
pre { background: #fff; border: 1px solid #dde2e8; padding: 8px; overflow: auto; max-width: 100%; }
.bar { position: relative; width: 520px; height: 14px; background: #eef1f4; }
.bar span { position: absolute; top: 2px; height: 10px; min-width: 2px; background: #3b7dd8; }
.bar span.error { background: #b3261e; } td.span-name { white-space: nowrap; }
button { cursor: pointer; } #events li { font-family: ui-monospace, monospace; font-size: 12px; margin: 2px 0; }
`;

/** Reloads each `[data-poll]` section from its URL every two seconds while the tab is visible. */
const POLL_SCRIPT = `
for (const el of document.querySelectorAll("[data-poll]")) {
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const res = await fetch(el.dataset.poll, { headers: { accept: "text/html" } });
      if (res.ok) { el.innerHTML = await res.text(); el.dataset.refreshed = String(Date.now()); }
    } catch {}
  }, 2000);
}
`;

/** Appends each decoded event of the SSE stream to the list, newest first, keeping 200. */
const EVENTS_SCRIPT = `
const list = document.getElementById("events");
const source = new EventSource("/api/events");
source.addEventListener("open", () => { list.dataset.connected = "true"; });
source.addEventListener("traffic", (e) => {
  const r = JSON.parse(e.data);
  const li = document.createElement("li");
  li.dataset.subject = r.subject;
  li.textContent = r.time.slice(11, 23) + "  " + r.subject + "  " + (r.type ?? "?") + "  " +
    (r.error === undefined ? JSON.stringify(r.body) : "! " + r.error);
  list.prepend(li);
  while (list.children.length > 200) list.lastElementChild.remove();
});
`;

/** The whole page around `body`: header, navigation, the polling script. */
export function layout(page: PageName, title: string, server: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Troupe</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<header><b>Troupe</b>${NAV.map(
    ([name, href, label]) => html`<a href="${href}" class="${name === page ? "on" : ""}">${label}</a>`,
  )}<small>${server}</small></header>
<main>${body}</main>
<script type="module">${raw(POLL_SCRIPT)}</script>
</body>
</html>`;
}

/** A section that reloads from `url` (the page's fragment). */
export function polled(url: string, inner: Html): Html {
  return html`<section data-poll="${url}">${inner}</section>`;
}

const ms = (value: number) => (value === 0 ? "–" : value < 1 ? value.toFixed(2) : value.toFixed(1));

const quantileCells = (q: Quantiles) =>
  html`<td class="n" data-field="p50">${ms(q.p50Ms)}</td><td class="n" data-field="p95">${ms(q.p95Ms)}</td><td class="n" data-field="p99">${ms(q.p99Ms)}</td>`;

function endpointRow(e: EndpointView): Html {
  return html`<tr data-endpoint="${e.name}">
<td>${e.name}</td><td class="muted">${e.subject}</td>
<td class="n" data-field="requests">${e.requests}</td>
<td class="n ${e.errors > 0 ? "bad" : ""}" data-field="errors" title="${e.lastError}">${e.errors}</td>
<td class="n" data-field="in-flight">${e.inFlight}</td>${quantileCells(e)}</tr>`;
}

function consumerStatRow(c: ServiceConsumerView): Html {
  return html`<tr data-consumer="${c.consumer}">
<td>${c.consumer}</td><td class="muted">${c.stream}</td><td>${c.kind}</td>
<td class="n" data-field="handled">${c.handled}</td><td class="n" data-field="failed">${c.failed}</td>
<td class="n" data-field="dead-lettered">${c.deadLettered}</td><td class="n" data-field="in-flight">${c.inFlight}</td>
<td class="n" data-field="pending">${c.pending ?? "?"}</td><td class="n" data-field="ack-pending">${c.ackPending ?? "?"}</td>
${quantileCells(c)}</tr>`;
}

/** The services, each with instances, endpoints and consumers. */
export function servicesFragment(services: readonly ServiceView[]): Html {
  if (services.length === 0) return html`<p class="muted">No service answered $SRV.INFO.</p>`;
  return html`${services.map(
    (s) => html`<div class="service" data-service="${s.name}">
<h2>${s.name} <span class="muted">${s.versions.join(", ")}</span></h2>
<div class="muted">${s.description}</div>
<h3>${s.instances.length} instance${s.instances.length === 1 ? "" : "s"}</h3>
<table><tr><th>id</th><th>version</th><th>runtime</th><th>host</th><th>started</th></tr>
${s.instances.map(
  (i) =>
    html`<tr data-instance="${i.id}"><td>${i.id}</td><td>${i.version}</td><td>${i.runtime}</td><td>${i.host}</td><td>${i.started}</td></tr>`,
)}</table>
${
  s.endpoints.length === 0
    ? ""
    : html`<h3>Endpoints</h3><table><tr><th>endpoint</th><th>subject</th><th>requests</th><th>errors</th><th>in flight</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>
${s.endpoints.map(endpointRow)}</table>`
}
${
  s.consumers.length === 0
    ? ""
    : html`<h3>Consumers</h3><table><tr><th>consumer</th><th>stream</th><th>kind</th><th>handled</th><th>failed</th><th>dead-lettered</th><th>in flight</th><th>pending</th><th>ack pending</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>
${s.consumers.map(consumerStatRow)}</table>`
}
</div>`,
  )}`;
}

/** Streams with their messages, consumers with what they have left. */
export function streamsFragment(view: StreamsView): Html {
  return html`<h2>Streams</h2>
${
  view.streams.length === 0
    ? html`<p class="muted">No Troupe streams yet.</p>`
    : html`<table><tr><th>stream</th><th>messages</th><th>bytes</th><th>first seq</th><th>last seq</th><th>consumers</th><th>retention</th><th>subjects</th></tr>
${view.streams.map(
  (
    s,
  ) => html`<tr data-stream="${s.name}"><td>${s.name}</td><td class="n" data-field="messages">${s.messages}</td>
<td class="n" data-field="bytes">${s.bytes}</td><td class="n">${s.firstSeq}</td><td class="n">${s.lastSeq}</td>
<td class="n" data-field="consumers">${s.consumers}</td><td>${s.retention}</td><td class="muted">${s.subjects.join(", ")}</td></tr>`,
)}</table>`
}
<h2>Consumers</h2>
${
  view.consumers.length === 0
    ? html`<p class="muted">No consumers yet.</p>`
    : html`<table><tr><th>stream</th><th>consumer</th><th>pending</th><th>ack pending</th><th>redelivered</th><th>lag</th><th>delivered</th><th>acknowledged</th><th>filter</th></tr>
${view.consumers.map(
  (c) => html`<tr data-consumer="${c.stream}/${c.name}"><td class="muted">${c.stream}</td><td>${c.name}</td>
<td class="n" data-field="pending">${c.pending}</td><td class="n" data-field="ack-pending">${c.ackPending}</td>
<td class="n" data-field="redelivered">${c.redelivered}</td><td class="n" data-field="lag">${c.lag}</td>
<td class="n">${c.delivered}</td><td class="n">${c.acknowledged}</td><td class="muted">${c.filter}</td></tr>`,
)}</table>`
}`;
}

const redriveForm = (seq: number) =>
  html`<form method="post" action="/dlq/${seq}/redrive"><button type="submit" data-redrive="${seq}">Redrive</button></form>`;

/** The dead letters, oldest first; a redrive button each when admin actions are allowed. */
export function deadLettersFragment(letters: readonly DeadLetterView[], admin: boolean): Html {
  if (letters.length === 0) return html`<p class="muted" data-empty="dlq">No dead letters.</p>`;
  return html`<table><tr><th>seq</th><th>dead at</th><th>subject</th><th>consumer</th><th>code</th><th>deliveries</th><th>error</th>${admin ? html`<th></th>` : ""}</tr>
${letters.map(
  (
    l,
  ) => html`<tr data-dead-letter="${l.seq}"><td><a href="/dlq/${l.seq}">${l.seq}</a></td><td>${l.deadAt.slice(0, 19).replace("T", " ")}</td>
<td>${l.subject}</td><td>${l.consumer}</td><td>${l.code}</td><td class="n">${l.deliveryCount}</td><td class="bad">${l.error}</td>
${admin ? html`<td>${redriveForm(l.seq)}</td>` : ""}</tr>`,
)}</table>`;
}

export function deadLettersPage(
  letters: readonly DeadLetterView[],
  admin: boolean,
  notice: string | undefined,
): Html {
  return html`<h2>Dead letters</h2>
${notice === undefined ? "" : html`<p class="note" data-notice>${notice}</p>`}
${admin ? "" : html`<p class="muted">Read only: redrive is offered when the dashboard listens on loopback.</p>`}
${polled("/dlq?fragment=1", deadLettersFragment(letters, admin))}`;
}

/** One dead letter: why it died, its headers, its original message decoded. */
export interface DeadLetterDetail extends DeadLetterView {
  readonly type: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly decodeError?: string;
}

export function deadLetterPage(letter: DeadLetterDetail, admin: boolean): Html {
  const fields: [string, string][] = [
    ["subject", letter.subject],
    ["type", letter.type ?? "?"],
    ["from", `${letter.stream} seq ${letter.streamSeq}, published ${letter.publishedAt}`],
    ["consumer", letter.consumer],
    ["why", `${letter.code} after ${letter.deliveryCount} deliveries: ${letter.error}`],
    ["dead at", letter.deadAt],
    ["id", letter.id],
  ];
  return html`<h2>Dead letter ${letter.seq}</h2>
<table>${fields.map(([k, v]) => html`<tr><th>${k}</th><td data-field="${k}">${v}</td></tr>`)}</table>
${admin ? redriveForm(letter.seq) : ""}
<h3>Message</h3>
${
  letter.decodeError === undefined
    ? html`<pre data-field="body">${JSON.stringify(letter.body, null, 2)}</pre>`
    : html`<p class="bad">Not decoded: ${letter.decodeError}</p>`
}
<h3>Headers</h3>
<table>${Object.entries(letter.headers).map(([k, v]) => html`<tr><th>${k}</th><td>${v}</td></tr>`)}</table>`;
}

export function eventsPage(subject: string): Html {
  return html`<h2>Events <span class="muted">${subject}, decoded, newest first</span></h2>
<ul id="events"></ul>
<script type="module">${raw(EVENTS_SCRIPT)}</script>`;
}

export function errorFragment(message: string): Html {
  return html`<p class="bad">${message}</p>`;
}

const durationText = (value: number) => (value < 1 ? value.toFixed(2) : value.toFixed(1));

/** Where traces come from, for the pages that have none to show. */
function noTraces(receiving: boolean): Html {
  return receiving
    ? html`<p class="muted" data-empty="traces">No traces yet. Processes started by troupe dev send theirs here; others need TROUPE_OTLP_ENDPOINT set to this dashboard's URL.</p>`
    : html`<p class="muted" data-empty="traces">Read only: traces are received when the dashboard listens on loopback.</p>`;
}

/** The recent traces, newest first. */
export function tracesFragment(traces: readonly TraceSummary[], receiving: boolean): Html {
  if (traces.length === 0) return noTraces(receiving);
  return html`<table><tr><th>started</th><th>root span</th><th>service</th><th>duration ms</th><th>spans</th><th>errors</th><th>services</th><th>trace id</th></tr>
${traces.map(
  (t) => html`<tr data-trace="${t.traceId}"><td>${t.start.slice(11, 23)}</td>
<td><a href="/traces/${t.traceId}" data-field="root">${t.rootName}</a></td><td data-field="service">${t.service}</td>
<td class="n" data-field="duration">${durationText(t.durationMs)}</td><td class="n" data-field="spans">${t.spanCount}</td>
<td class="n ${t.errorCount > 0 ? "bad" : ""}" data-field="errors">${t.errorCount}</td>
<td class="muted">${t.services.join(", ")}</td><td class="muted">${t.traceId}</td></tr>`,
)}</table>`;
}

const searchForm = (query: string) =>
  html`<form method="get" action="/traces"><input name="q" size="60" value="${query}" placeholder="trace id, traceparent or x-request-id" aria-label="trace"> <button type="submit">Find</button></form>`;

export function tracesPage(
  traces: readonly TraceSummary[],
  receiving: boolean,
  query: string,
  notice: string | undefined,
): Html {
  return html`<h2>Traces <span class="muted">the most recent, newest first</span></h2>
${searchForm(query)}
${notice === undefined ? "" : html`<p class="bad" data-notice>${notice}</p>`}
${polled("/traces?fragment=1", tracesFragment(traces, receiving))}`;
}

function spanRow(span: SpanView, totalMs: number): Html {
  const left = totalMs === 0 ? 0 : (span.offsetMs / totalMs) * 100;
  const width = totalMs === 0 ? 100 : (span.durationMs / totalMs) * 100;
  const attributes = Object.entries(span.attributes)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join("\n");
  return html`<tr data-span="${span.spanId}" data-parent="${span.parentSpanId}" data-depth="${span.depth}">
<td class="span-name" style="padding-left: ${8 + span.depth * 18}px" title="${attributes}" data-field="name">${span.name}</td>
<td data-field="service">${span.service}</td><td class="muted" data-field="kind">${span.kind}</td>
<td><div class="bar"><span class="${span.status === "error" ? "error" : ""}" style="left: ${left.toFixed(2)}%; width: ${width.toFixed(2)}%"></span></div></td>
<td class="n" data-field="offset">${durationText(span.offsetMs)}</td><td class="n" data-field="duration">${durationText(span.durationMs)}</td>
<td class="${span.status === "error" ? "bad" : ""}" data-field="status">${span.status}${span.statusMessage === "" ? "" : `: ${span.statusMessage}`}</td></tr>`;
}

/** One trace as a waterfall: a bar per span by start offset and duration, indented by parent. */
export function traceFragment(trace: TraceView): Html {
  return html`<h2>${trace.rootName} <span class="muted" data-field="trace-id">${trace.traceId}</span></h2>
<p>${trace.start} · <span data-field="duration">${durationText(trace.durationMs)}</span> ms · ${trace.spanCount} span${trace.spanCount === 1 ? "" : "s"} · ${trace.errorCount} error${trace.errorCount === 1 ? "" : "s"} · ${trace.services.join(", ")}</p>
<table class="waterfall"><tr><th>span</th><th>service</th><th>kind</th><th>0 – ${durationText(trace.durationMs)} ms</th><th>start ms</th><th>ms</th><th>status</th></tr>
${trace.spans.map((s) => spanRow(s, trace.durationMs))}</table>
<p class="muted">Hover over a span's name for its attributes.</p>`;
}

/** The trace page: the waterfall (polled, as late spans arrive) under the search form. */
export function tracePage(trace: TraceView): Html {
  return html`${searchForm("")}${polled(`/traces/${trace.traceId}?fragment=1`, traceFragment(trace))}`;
}
