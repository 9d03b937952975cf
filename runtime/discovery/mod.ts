/**
 * `troupe/discovery`: services, instances, endpoints and stats over $SRV (NATS ADR-32;
 * docs/adr/0005-discovery-with-srv.md, 0012), and the traffic decoder that reads the contracts
 * the instances publish (docs/adr/0022-contract-descriptors.md).
 */

export {
  createTrafficDecoder,
  type DecodedDeadLetter,
  type DecodedKind,
  type DecodedMessage,
  type DecodeOptions,
  decodeTraffic,
  defaultTrafficDecoderOptions,
  type TrafficDecoder,
  type TrafficDecoderOptions,
  type TrafficMessage,
} from "../inspect/traffic-decoder.ts";
export { defaultDirectCallerOptions } from "./direct-caller.ts";
export {
  type DiscoverOptions,
  defaultDiscoverOptions,
  pingServices,
  serviceInfos,
  serviceStats,
} from "./discover.ts";
export {
  type DiscoverServiceOptions,
  defaultDiscoverServiceOptions,
  discoverService,
  discoverServing,
  type InstanceEndpoint,
  type ServiceInstance,
} from "./discover-service.ts";
export {
  EndpointMetadata,
  Idempotency,
  NO_DESCRIPTORS_BUCKET,
  RpcKind,
  ServiceMetadata,
} from "./metadata-keys.ts";
export { defaultPickOptions, type PickOptions, type PickStrategy, pickInstance } from "./pick-instance.ts";
export type {
  EndpointInfo,
  EndpointStats,
  InfoResponse,
  PingResponse,
  StatsResponse,
} from "./service-responses.ts";
