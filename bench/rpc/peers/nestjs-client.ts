/**
 * The NestJS peer's client: a Nest `ClientProxy` for `Transport.NATS` (ClientProxyFactory, Nest's
 * defaults) calling `send(pattern, { payload })` and awaiting the answer with `firstValueFrom`,
 * as a Nest service awaits a microservice call (json-echo.ts).
 */
import { ClientProxyFactory, Transport } from "@nestjs/microservices";
import { firstValueFrom } from "rxjs";
import { ECHO_SUBJECT } from "../../shared/echo-request.ts";
import { type JsonEcho, jsonEcho } from "../json-echo.ts";
import type { PeerClient } from "../peer-client.ts";

export async function connectNestjsClient(natsUrl: string): Promise<PeerClient> {
  const client = ClientProxyFactory.create({ transport: Transport.NATS, options: { servers: [natsUrl] } });
  await client.connect();
  return {
    echo: jsonEcho((request) => firstValueFrom(client.send<JsonEcho, JsonEcho>(ECHO_SUBJECT, request))),
    close: () => client.close(),
  };
}
