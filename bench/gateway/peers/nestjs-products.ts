/**
 * The microservice behind the NestJS peer: a Nest microservice (`Transport.NATS` on the driver's
 * nats-server, Nest's defaults, logger off) whose controller answers the message pattern
 * `rpc.shop.v1.ProductService.GetProduct` with the shared handler's proto3 JSON
 * (product-json.ts), or an `RpcException` for an unknown id. The decorators are called as
 * functions (shared/decorate.ts). Its "ready" target is the NATS URL it serves on.
 */
import "reflect-metadata";
import type { JsonValue } from "@bufbuild/protobuf";
import { Controller, Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { MessagePattern, type MicroserviceOptions, RpcException, Transport } from "@nestjs/microservices";
import { decorateMethod } from "../../shared/decorate.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { NEST_PRODUCT_PATTERN, NOT_FOUND, type ProductRequest, productJson } from "../product-json.ts";

class ProductsController {
  getProduct(request: ProductRequest): JsonValue {
    const answer = productJson(request);
    if (answer === null) throw new RpcException(NOT_FOUND);
    return answer;
  }
}
Controller()(ProductsController);
decorateMethod(ProductsController.prototype, "getProduct", MessagePattern(NEST_PRODUCT_PATTERN));

class ProductsModule {}
Module({ controllers: [ProductsController] })(ProductsModule);

await servePeer(async (natsUrl) => {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(ProductsModule, {
    transport: Transport.NATS,
    options: { servers: [natsUrl] },
    logger: false,
  });
  await app.listen();
  return { target: natsUrl, close: () => app.close() };
});
