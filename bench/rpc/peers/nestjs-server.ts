/**
 * Echo server for the NestJS peer: a Nest microservice (`NestFactory.createMicroservice` with
 * `Transport.NATS`, NestJS 12 on nats.js v3, every option Nest's default, logger off) whose
 * controller answers the message pattern `rpc.troupe.bench.v1.BenchService.Echo` (Troupe's
 * subject, so the subjects match the NATS peers') with the `{ payload }` it got (json-echo.ts).
 * The decorators are called as functions (shared/decorate.ts).
 */
import "reflect-metadata";
import { Controller, Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { MessagePattern, type MicroserviceOptions, Transport } from "@nestjs/microservices";
import { decorateMethod } from "../../shared/decorate.ts";
import { ECHO_SUBJECT } from "../../shared/echo-request.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import type { JsonEcho } from "../json-echo.ts";

class EchoController {
  echo(request: JsonEcho): JsonEcho {
    return request;
  }
}
Controller()(EchoController);
decorateMethod(EchoController.prototype, "echo", MessagePattern(ECHO_SUBJECT));

class EchoModule {}
Module({ controllers: [EchoController] })(EchoModule);

await servePeer(async (natsUrl) => {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(EchoModule, {
    transport: Transport.NATS,
    options: { servers: [natsUrl] },
    logger: false,
  });
  await app.listen();
  return { target: natsUrl, close: () => app.close() };
});
