/**
 * The benchmark's request: an EchoRequest whose protobuf encoding is exactly `sizeBytes` long,
 * so the raw NATS peers (which send the encoded bytes) and the Connect and Troupe peers (which
 * send the message) move the same bytes. Also the subject every NATS peer uses: Troupe's own
 * subject for BenchService.Echo, so subject lengths match too.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { rpcMethodSubject } from "troupe/protocol";
import {
  BenchService,
  type EchoRequest,
  EchoRequestSchema,
} from "../../proto/gen/troupe/bench/v1/bench_pb.ts";

/** `rpc.troupe.bench.v1.BenchService.Echo` */
export const ECHO_SUBJECT = rpcMethodSubject(BenchService.method.echo);

/** An EchoRequest that encodes to exactly `sizeBytes` bytes (tag, length varint, payload). */
export function echoRequestOfSize(sizeBytes: number): EchoRequest {
  for (let payloadBytes = sizeBytes - 2; payloadBytes >= 0; payloadBytes--) {
    const payload = new Uint8Array(payloadBytes);
    for (let i = 0; i < payloadBytes; i++) payload[i] = (i * 31 + 7) & 0xff;
    const request = create(EchoRequestSchema, { payload });
    if (toBinary(EchoRequestSchema, request).length === sizeBytes) return request;
  }
  throw new Error(`no EchoRequest encodes to exactly ${sizeBytes} bytes`);
}

/** The encoded EchoRequest of `sizeBytes` bytes, as the raw NATS peers send it. */
export function encodedEchoRequestOfSize(sizeBytes: number): Uint8Array {
  return toBinary(EchoRequestSchema, echoRequestOfSize(sizeBytes));
}
