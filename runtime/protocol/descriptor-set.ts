/**
 * The descriptors of a set of contracts as one `google.protobuf.FileDescriptorSet`
 * (docs/adr/0022-contract-descriptors.md): every file that declares one of the given services or
 * messages, and every file those import, transitively. Files come in one canonical order (each
 * after the files it imports, ties broken by name), so the same files always give the same bytes
 * and the same SHA-256, whatever order the types were given in; the set is stored under that hash
 * and named by it (`sha256:<hex>`) in discovery metadata.
 */
import { create, type DescFile, type DescMessage, type DescService, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/** A serialized FileDescriptorSet and its content hash. */
export interface DescriptorSet {
  /** The serialized `google.protobuf.FileDescriptorSet`. */
  readonly bytes: Uint8Array;
  /** SHA-256 of `bytes`, lower-case hex: the set's key in the descriptors bucket. */
  readonly hash: string;
  /** The file names, in the set's order: `google/protobuf/timestamp.proto`, … */
  readonly files: readonly string[];
}

const REFERENCE_PREFIX = "sha256:";
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** The set of the files that declare `types`, with every file they import. */
export async function buildDescriptorSet(
  types: Iterable<DescService | DescMessage | DescFile>,
): Promise<DescriptorSet> {
  const files = canonicalOrder(closureOf(types));
  const bytes = toBinary(
    FileDescriptorSetSchema,
    create(FileDescriptorSetSchema, { file: files.map((f) => f.proto) }),
  );
  return { bytes, hash: await sha256Hex(bytes), files: files.map((f) => f.proto.name) };
}

/** SHA-256 of `bytes` as lower-case hex (Web Crypto: the same on Bun, Deno and Node). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  let hex = "";
  for (const byte of digest) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** `sha256:<hex>`: how discovery metadata names a set. */
export function descriptorReference(hash: string): string {
  if (!HEX_SHA256.test(hash)) throw new Error(`"${hash}" is not a SHA-256 in lower-case hex`);
  return `${REFERENCE_PREFIX}${hash}`;
}

/** The hash a `sha256:<hex>` reference names; undefined for anything else. */
export function hashOfReference(reference: string | undefined): string | undefined {
  if (reference?.startsWith(REFERENCE_PREFIX) !== true) return undefined;
  const hash = reference.slice(REFERENCE_PREFIX.length);
  return HEX_SHA256.test(hash) ? hash : undefined;
}

/** The files of `types` and everything they import, one per file name. */
function closureOf(types: Iterable<DescService | DescMessage | DescFile>): Map<string, DescFile> {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const type of types) visit(type.kind === "file" ? type : type.file);
  return files;
}

/**
 * Each file after the files it imports (what `createFileRegistry` and protoc's own sets need), and
 * among the files that could come next, the first by name: an order that depends only on the files.
 */
function canonicalOrder(files: Map<string, DescFile>): DescFile[] {
  const ordered: DescFile[] = [];
  const placed = new Set<string>();
  const waiting = [...files.keys()].sort();
  while (waiting.length > 0) {
    const next = waiting.findIndex((name) =>
      (files.get(name)?.dependencies ?? []).every(
        (d) => placed.has(d.proto.name) || !files.has(d.proto.name),
      ),
    );
    // Protobuf forbids import cycles; should a set hold one anyway, it is kept in name order.
    const [name] = waiting.splice(Math.max(next, 0), 1);
    const file = files.get(name ?? "");
    if (name === undefined || file === undefined) break;
    placed.add(name);
    ordered.push(file);
  }
  return ordered;
}
