/**
 * `troupe/protocol`: the wire contract (subjects, headers, codecs, stream frames, route records,
 * server versions) as pure functions, for tools that read or write Troupe traffic
 * (docs/adr/0004-rpc-over-nats.md, 0006-rpc-streams.md).
 */
export { type Codec, codecOf } from "./codec.ts";
export { buildDescriptorSet, type DescriptorSet } from "./descriptor-set.ts";
export { Header, StreamFrame } from "./headers.ts";
export {
  compileRoute,
  pickVersion,
  type RouteRecord,
  type RouteTable,
  type ServiceRoute,
} from "./route-record.ts";
export {
  formatServerVersion,
  isAtLeast,
  MIN_SERVER_VERSION,
  parseServerVersion,
  type ServerVersion,
} from "./server-version.ts";
export { decodeFrame, encodeFrame, type Frame } from "./stream-frames.ts";
export {
  deadLetterStreamName,
  deadLetterSubject,
  descriptorsBucketName,
  eventConsumerName,
  eventFilter,
  eventStreamName,
  eventSubject,
  jobConsumerName,
  jobStreamName,
  jobSubject,
  type ParsedSubject,
  parseSubject,
  privateInboxPrefix,
  rpcInstanceSubject,
  rpcMethodSubject,
  rpcServiceSubject,
  rpcServiceWildcard,
  rpcVersionSubject,
  ServiceVerb,
  serviceVerbSubject,
  versionToken,
} from "./subjects.ts";
