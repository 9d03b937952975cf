/**
 * Path templates of `google.api.http` rules: parsing, structural matching and variable decoding.
 * The grammar and the decoding rules are the ones in proto/google/api/http.proto
 * ("Path template syntax"):
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 *
 * Matching works on the raw (still percent-encoded) segments of a URL path, so an encoded
 * `%2F` never splits a segment; variables are decoded only once a route has been chosen.
 */
import { Code, ConnectError } from "@connectrpc/connect";

export type TemplateSegment =
  | { readonly kind: "literal"; readonly value: string }
  /** `*`: exactly one non-empty segment. */
  | { readonly kind: "wildcard" }
  /** `**`: zero or more segments; only as the last segment of a template. */
  | { readonly kind: "deep" };

export interface TemplateVariable {
  /** Field path as written, e.g. `book.name`. */
  readonly name: string;
  /** Index of the variable's first segment in `PathTemplate.segments`. */
  readonly start: number;
  /** Index after its last segment. */
  readonly end: number;
  /** `{var}` or `{var=*}`: one segment, fully decoded, never holding a `/`. */
  readonly singleSegment: boolean;
}

export interface PathTemplate {
  readonly source: string;
  readonly segments: readonly TemplateSegment[];
  readonly variables: readonly TemplateVariable[];
  /** The custom verb without its colon (`refund` in `…/{id}:refund`), if any. */
  readonly verb: string | undefined;
}

/**
 * How well each path segment was matched: 3 literal, 2 `*`, 1 `**`; one entry per segment of
 * the URL path, so two matches of one path compare element by element.
 */
export type MatchRank = readonly number[];

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LITERAL = /^[^/{}*:=]+$/;

/** Parses a template, throwing an Error that quotes it when it breaks the grammar. */
export function parsePathTemplate(source: string): PathTemplate {
  const fail = (why: string): never => {
    throw new Error(`path template "${source}" ${why}`);
  };
  if (!source.startsWith("/")) fail('must start with "/"');
  const { path, verb } = splitVerb(source.slice(1), fail);
  if (verb !== undefined && !LITERAL.test(verb)) fail(`has an invalid verb ":${verb}"`);
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];
  for (const token of splitTopLevel(path, fail)) {
    if (token.startsWith("{")) {
      if (!token.endsWith("}")) fail(`has an unclosed variable "${token}"`);
      const inner = token.slice(1, -1);
      const eq = inner.indexOf("=");
      const name = eq < 0 ? inner : inner.slice(0, eq);
      if (!name.split(".").every((part) => IDENT.test(part))) fail(`has an invalid field path "${name}"`);
      if (variables.some((v) => v.name === name)) fail(`binds "${name}" twice`);
      const start = segments.length;
      const sub = eq < 0 ? ["*"] : inner.slice(eq + 1).split("/");
      for (const part of sub) {
        if (part.includes("{")) fail("nests a variable in a variable");
        segments.push(plainSegment(part, fail));
      }
      const singleSegment = sub.length === 1 && sub[0] === "*";
      variables.push({ name, start, end: segments.length, singleSegment });
    } else {
      segments.push(plainSegment(token, fail));
    }
  }
  const deep = segments.findIndex((s) => s.kind === "deep");
  if (deep >= 0 && deep !== segments.length - 1) fail('uses "**" before its last segment');
  return { source, segments, variables, verb };
}

function splitVerb(path: string, fail: (why: string) => never): { path: string; verb: string | undefined } {
  let depth = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === ":" && depth === 0) {
      const verb = path.slice(i + 1);
      if (verb.includes("/")) fail('has a ":" before its last segment');
      return { path: path.slice(0, i), verb };
    }
  }
  return { path, verb: undefined };
}

/** Splits at the `/` outside braces: `v1/{name=shelves/*}/books` → three tokens. */
function splitTopLevel(path: string, fail: (why: string) => never): string[] {
  const tokens: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i <= path.length; i++) {
    const c = path[i];
    if (c === "{") {
      if (depth > 0) fail("nests a variable in a variable");
      depth++;
    } else if (c === "}") {
      if (depth === 0) fail('has a "}" without "{"');
      depth--;
    } else if ((c === "/" && depth === 0) || i === path.length) {
      tokens.push(path.slice(from, i));
      from = i + 1;
    }
  }
  if (depth !== 0) fail("has an unclosed variable");
  return tokens;
}

function plainSegment(token: string, fail: (why: string) => never): TemplateSegment {
  if (token === "*") return { kind: "wildcard" };
  if (token === "**") return { kind: "deep" };
  if (!LITERAL.test(token)) fail(token === "" ? "has an empty segment" : `has an invalid segment "${token}"`);
  return { kind: "literal", value: token };
}

/**
 * Splits a URL path (as received: percent-encoded, without the query) into raw segments, or
 * returns undefined for something that is not an absolute path.
 */
export function splitPath(path: string): string[] | undefined {
  if (!path.startsWith("/")) return undefined;
  return path.slice(1).split("/");
}

/**
 * Matches raw path segments against a template's structure. Returns the rank of the match and
 * the segments (verb removed), or undefined. Variables are not decoded here: see `decodeVariables`.
 */
export function matchTemplate(
  template: PathTemplate,
  rawSegments: readonly string[],
): { rank: MatchRank; segments: readonly string[] } | undefined {
  let segments = rawSegments;
  if (template.verb !== undefined) {
    const last = segments[segments.length - 1] ?? "";
    const suffix = `:${template.verb}`;
    if (!last.endsWith(suffix)) return undefined;
    segments = [...segments.slice(0, -1), last.slice(0, -suffix.length)];
  }
  const rank: number[] = [];
  const { segments: pattern } = template;
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i] as TemplateSegment;
    if (seg.kind === "deep") {
      for (let j = i; j < segments.length; j++) rank.push(1);
      return { rank, segments };
    }
    const raw = segments[i];
    if (raw === undefined || raw === "") return undefined;
    if (seg.kind === "literal") {
      if (raw !== seg.value && decodeOrUndefined(raw) !== seg.value) return undefined;
      rank.push(3);
    } else {
      rank.push(2);
    }
  }
  return segments.length === pattern.length ? { rank, segments } : undefined;
}

/** Compares two ranks of the same path: positive when `a` is the more specific match. */
export function compareRanks(a: MatchRank, b: MatchRank): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * Decodes the variables of a matched template. A one-segment variable is fully decoded and must
 * not contain `/` (an encoded `%2F` would otherwise smuggle a path separator into an id); a
 * multi-segment variable keeps `%2F` encoded, as http.proto prescribes. Malformed percent
 * escapes are `invalid_argument`.
 */
export function decodeVariables(template: PathTemplate, segments: readonly string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  const deep = template.segments[template.segments.length - 1]?.kind === "deep";
  for (const v of template.variables) {
    const end = deep && v.end === template.segments.length ? segments.length : v.end;
    const raw = segments.slice(v.start, end);
    if (v.singleSegment) {
      const value = decodeOrUndefined(raw[0] ?? "");
      if (value === undefined) throw badVariable(v.name, "is not valid percent-encoding");
      if (value.includes("/")) throw badVariable(v.name, 'is one path segment and cannot contain "/"');
      vars[v.name] = value;
    } else {
      const parts = raw.map((seg) => decodeKeepingSlashes(seg));
      if (parts.some((p) => p === undefined)) throw badVariable(v.name, "is not valid percent-encoding");
      vars[v.name] = parts.join("/");
    }
  }
  return vars;
}

function badVariable(name: string, why: string): ConnectError {
  return new ConnectError(`path variable "${name}" ${why}`, Code.InvalidArgument);
}

function decodeOrUndefined(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function decodeKeepingSlashes(raw: string): string | undefined {
  const parts = raw.split(/(%2[Ff])/);
  for (let i = 0; i < parts.length; i += 2) {
    const decoded = decodeOrUndefined(parts[i] as string);
    if (decoded === undefined) return undefined;
    parts[i] = decoded;
  }
  return parts.join("");
}

/** A parameter of a template in OpenAPI's form (see `openApiPath`). */
export interface OpenApiPathParameter {
  readonly name: string;
  readonly variable: TemplateVariable;
  /** `whole`: the variable itself; `segment`: one `*` of it; `rest`: its trailing `**`. */
  readonly part: "whole" | "segment" | "rest";
}

// The template in OpenAPI's form. A one-segment variable stays `{name}`; a multi-segment one is
// spelled out, each `*` a parameter named after the literal before it, so that
// `/v1/{name=shelves/*/books/*}` becomes `/v1/shelves/{shelves}/books/{books}`: OpenAPI
// clients percent-encode a `/` inside a parameter, which would not match the template. A `**`
// stays one parameter whose `/` must be sent unencoded (OpenAPI has no way to say so).
export function openApiPath(template: PathTemplate): { path: string; parameters: OpenApiPathParameter[] } {
  const out: string[] = [];
  const parameters: OpenApiPathParameter[] = [];
  const taken = new Set(template.variables.filter((v) => v.singleSegment).map((v) => v.name));
  const unique = (base: string): string => {
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}_${n}`;
    taken.add(name);
    return name;
  };
  template.segments.forEach((seg, i) => {
    const v = template.variables.find((x) => x.start <= i && i < x.end);
    if (seg.kind === "literal") out.push(seg.value);
    else if (v === undefined) out.push(seg.kind === "wildcard" ? "*" : "**");
    else if (v.singleSegment) {
      out.push(`{${v.name}}`);
      parameters.push({ name: v.name, variable: v, part: "whole" });
    } else {
      const before = i > v.start ? template.segments[i - 1] : undefined;
      const name = unique(seg.kind === "wildcard" && before?.kind === "literal" ? before.value : v.name);
      out.push(`{${name}}`);
      parameters.push({ name, variable: v, part: seg.kind === "wildcard" ? "segment" : "rest" });
    }
  });
  const verb = template.verb === undefined ? "" : `:${template.verb}`;
  return { path: `/${out.join("/")}${verb}`, parameters };
}

// The variable as written after its `=`, for descriptions: `shelves/*/books/*`.
export function variableText(template: PathTemplate, v: TemplateVariable): string {
  return template.segments
    .slice(v.start, v.end)
    .map((seg) => (seg.kind === "literal" ? seg.value : seg.kind === "wildcard" ? "*" : "**"))
    .join("/");
}
