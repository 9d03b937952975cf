/**
 * Message types by name, from the contracts the running services publish
 * (docs/adr/0022-contract-descriptors.md): what `troupe publish` and `troupe enqueue` build
 * their message from, so they need no `.proto` file either. `OrderPlaced` is enough when one
 * package has it; `shop.v1.OrderPlaced` names it fully.
 */

import { createFileRegistry, type DescMessage, type FileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { NatsConnection } from "@nats-io/nats-core";
import { serviceInfos } from "../../discovery/discover.ts";
import { NO_DESCRIPTORS_BUCKET, ServiceMetadata } from "../../discovery/metadata-keys.ts";
import { loadDescriptors } from "../../jetstream/descriptor-store.ts";
import { hashOfReference } from "../../protocol/descriptor-set.ts";
import { CommandError } from "../command-errors.ts";

export interface FoundType {
  readonly schema: DescMessage;
  /** Every type of the set it came from (for `Any` fields in JSON). */
  readonly registry: FileRegistry;
}

/** The message type `name` (full or short), from the descriptor sets the instances name. */
export async function findMessageType(
  nc: NatsConnection,
  name: string,
  accept: (schema: DescMessage) => string | undefined = () => undefined,
): Promise<FoundType> {
  const infos = await serviceInfos(nc, {});
  const sources = new Map<string, string>();
  for (const info of infos) {
    const hash = hashOfReference(info.metadata[ServiceMetadata.descriptors]);
    const bucket = info.metadata[ServiceMetadata.descriptorsBucket] ?? "";
    if (hash !== undefined && bucket !== "" && bucket !== NO_DESCRIPTORS_BUCKET) sources.set(hash, bucket);
  }
  const candidates = new Map<string, FoundType>();
  for (const [hash, bucket] of sources) {
    const bytes = await loadDescriptors(nc, bucket, hash);
    if (bytes === undefined) continue;
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
    for (const type of registry) {
      if (type.kind !== "message") continue;
      if (type.typeName === name || type.name === name) {
        if (!candidates.has(type.typeName)) candidates.set(type.typeName, { schema: type, registry });
      }
    }
  }
  if (candidates.size === 0) {
    throw new CommandError(
      `no running service describes a message ${name} (${infos.length} instance${infos.length === 1 ? "" : "s"} answered $SRV.INFO, ${sources.size} descriptor set${sources.size === 1 ? "" : "s"} read)`,
    );
  }
  const exact = candidates.get(name);
  if (exact === undefined && candidates.size > 1) {
    throw new CommandError(
      `${name} is ambiguous: ${[...candidates.keys()].sort().join(", ")}; name it fully`,
    );
  }
  const found = exact ?? [...candidates.values()][0];
  if (found === undefined) throw new CommandError(`no message ${name}`);
  const refused = accept(found.schema);
  if (refused !== undefined) throw new CommandError(refused);
  return found;
}
