/**
 * An actor's contracts travel with it (docs/adr/0022-contract-descriptors.md): at start it stores
 * the FileDescriptorSet of what it serves, publishes and consumes in the descriptors bucket and
 * names the set's hash in its `$SRV` metadata, so a tool can decode its traffic without the
 * `.proto` files. Storing is not what the actor is for: JetStream that does not answer in time
 * is logged and tried again in the background while the actor serves; a server without JetStream
 * is noted in the metadata (`troupe.descriptors.bucket: none`) and the actor starts as before.
 */
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { NO_DESCRIPTORS_BUCKET, ServiceMetadata } from "../discovery/metadata-keys.ts";
import { type DescriptorsStored, storeDescriptors } from "../jetstream/descriptor-store.ts";
import { errorFields, type Logger } from "../observability/logger.ts";
import { buildDescriptorSet, type DescriptorSet, descriptorReference } from "../protocol/descriptor-set.ts";
import { descriptorsBucketName } from "../protocol/subjects.ts";

export interface PublishDescriptorsOptions {
  readonly namespace: string;
  /** Copies of the bucket; unset: the connection's default. */
  readonly replicas: number | undefined;
  readonly logger: Logger;
  /** The first wait before storing again after JetStream did not answer; doubles up to 30 s. */
  readonly retryDelayMs: number;
}

export interface PublishedDescriptors {
  /** The `$SRV` metadata that names the set (empty for an actor without contracts). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Stops storing again in the background (at drain). */
  stop(): void;
}

const MAX_RETRY_DELAY_MS = 30_000;

export async function publishDescriptors(
  nc: NatsConnection,
  types: readonly (DescService | DescMessage)[],
  options: PublishDescriptorsOptions,
): Promise<PublishedDescriptors> {
  const none: PublishedDescriptors = { metadata: {}, stop() {} };
  if (types.length === 0) return none;
  const set = await buildDescriptorSet(types);
  const bucket = descriptorsBucketName(options.namespace);
  const metadata = (where: string) => ({
    [ServiceMetadata.descriptors]: descriptorReference(set.hash),
    [ServiceMetadata.descriptorsBucket]: where,
  });
  const store = () =>
    storeDescriptors(nc, set, {
      namespace: options.namespace,
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    });
  try {
    if ((await store()) === "no-jetstream") {
      options.logger.log("debug", "no JetStream: contract descriptors are named, not stored", {
        descriptors: descriptorReference(set.hash),
      });
      return { ...none, metadata: metadata(NO_DESCRIPTORS_BUCKET) };
    }
    return { ...none, metadata: metadata(bucket) };
  } catch (err) {
    if (!isTransient(err)) throw err;
    options.logger.log("warn", "contract descriptors not stored yet; trying again while serving", {
      bucket,
      descriptors: descriptorReference(set.hash),
      ...errorFields(err),
    });
    return { metadata: metadata(bucket), stop: storeLater(set, store, options) };
  }
}

/** Stores again after growing pauses until it works, fails for good, or `stop` is called. */
function storeLater(
  set: DescriptorSet,
  store: () => Promise<DescriptorsStored>,
  options: PublishDescriptorsOptions,
) {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = (delayMs: number) => {
    timer = setTimeout(async () => {
      if (stopped) return;
      try {
        const stored = await store();
        const descriptors = descriptorReference(set.hash);
        if (stored === "no-jetstream") {
          options.logger.log("warn", "contract descriptors not stored: JetStream is gone", { descriptors });
        } else {
          options.logger.log("info", "contract descriptors stored", { descriptors });
        }
      } catch (err) {
        if (stopped) return;
        if (isTransient(err)) attempt(Math.min(delayMs * 2, MAX_RETRY_DELAY_MS));
        else options.logger.log("error", "contract descriptors cannot be stored", errorFields(err));
      }
    }, delayMs);
  };
  attempt(options.retryDelayMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function isTransient(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unavailable;
}
