/**
 * The registry of the contracts one instance names in `$SRV.INFO` (`troupe.descriptors`,
 * `troupe.descriptors.bucket`; docs/adr/0022-contract-descriptors.md): the FileDescriptorSet read
 * from the descriptors bucket, checked against the hash that names it. What the traffic decoder
 * and `troupe call` build their message schemas from, so neither needs a `.proto` file.
 */
import { createFileRegistry, type FileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { loadDescriptors } from "../jetstream/descriptor-store.ts";
import { descriptorReference, sha256Hex } from "../protocol/descriptor-set.ts";

/** Where one instance's descriptors are, as its `$SRV.INFO` metadata names them. */
export interface DescriptorSource {
  /** `<name>/<id>`, for messages. */
  readonly instance: string;
  /** The SHA-256 of the set, in hex. */
  readonly hash: string;
  readonly bucket: string;
}

/**
 * The registry of `source`'s set. Fails `not_found` when the bucket does not hold it (yet),
 * `data_loss` when the bytes are not the set the hash names or not a FileDescriptorSet, and as
 * loadDescriptors fails when the bucket cannot be read.
 */
export async function readDescriptorRegistry(
  nc: NatsConnection,
  source: DescriptorSource,
): Promise<FileRegistry> {
  const reference = descriptorReference(source.hash);
  const bytes = await loadDescriptors(nc, source.bucket, source.hash);
  if (bytes === undefined) {
    throw new ConnectError(
      `${source.instance} names descriptors ${reference}, which bucket ${source.bucket} does not hold ` +
        "(yet: see the instance's log)",
      Code.NotFound,
    );
  }
  if ((await sha256Hex(bytes)) !== source.hash) {
    throw new ConnectError(`bucket ${source.bucket} holds other bytes under ${reference}`, Code.DataLoss);
  }
  try {
    return createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  } catch (err) {
    throw new ConnectError(
      `the descriptors ${reference} in bucket ${source.bucket} are not a usable FileDescriptorSet: ${(err as Error).message}`,
      Code.DataLoss,
    );
  }
}
