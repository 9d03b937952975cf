/**
 * The NestJS peer's HTTP side: a Nest application (`NestFactory.create`, its default Express
 * adapter, logger off) on a free loopback port, whose controller serves `GET /v1/products/:id`
 * by calling the products microservice through a NATS `ClientProxy` injected from
 * `ClientsModule.register` (`send(pattern, { id })`, returned as the Observable Nest writes as
 * JSON); an unknown id is Nest's 404. The decorators are called as functions
 * (shared/decorate.ts), and the injected client names its token with `Inject`.
 */
import "reflect-metadata";
import type { AddressInfo } from "node:net";
import type { JsonValue } from "@bufbuild/protobuf";
import { Controller, Get, Inject, Module, NotFoundException, Param } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { type ClientProxy, ClientsModule, Transport } from "@nestjs/microservices";
import { catchError, type Observable, throwError } from "rxjs";
import { decorateMethod } from "../../shared/decorate.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { NEST_PRODUCT_PATTERN, NOT_FOUND, PRODUCT_ROUTE, type ProductRequest } from "../product-json.ts";

/** The injection token of the products microservice's client. */
const PRODUCTS_CLIENT = "PRODUCTS";

class ProductsController {
  readonly #products: ClientProxy;
  constructor(products: ClientProxy) {
    this.#products = products;
  }
  getProduct(id: string): Observable<JsonValue> {
    return this.#products
      .send<JsonValue, ProductRequest>(NEST_PRODUCT_PATTERN, { id })
      .pipe(
        catchError((err: unknown) =>
          throwError(() => (isNotFound(err) ? new NotFoundException(`product "${id}" not found`) : err)),
        ),
      );
  }
}
Controller()(ProductsController);
Inject(PRODUCTS_CLIENT)(ProductsController, undefined, 0);
decorateMethod(ProductsController.prototype, "getProduct", Get(PRODUCT_ROUTE));
Param("id")(ProductsController.prototype, "getProduct", 0);

function isNotFound(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === NOT_FOUND.code;
}

await servePeer(async (natsUrl) => {
  class AppModule {}
  Module({
    imports: [
      ClientsModule.register([
        { name: PRODUCTS_CLIENT, transport: Transport.NATS, options: { servers: [natsUrl] } },
      ]),
    ],
    controllers: [ProductsController],
  })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, "127.0.0.1");
  const { port } = (app.getHttpServer() as { address(): AddressInfo }).address();
  return { target: `http://127.0.0.1:${port}`, close: () => app.close() };
});
