/**
 * A gateway in the test's process over the services of a shop fixture, verifying ES256 tokens of
 * a key pair made for it, and a way to mint a token for any subject: for tests that call the
 * shop's public routes as one customer or another.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { type RunningGateway, serveGateway } from "troupe/gateway";

export interface GatewayWithTokens {
  readonly gateway: RunningGateway;
  /** A token for subject `sub`, valid five minutes. */
  token(sub: string): Promise<string>;
}

export async function serveGatewayWithTokens(
  nc: NatsConnection,
  namespace: string,
  services: readonly DescService[],
): Promise<GatewayWithTokens> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const gateway = await serveGateway(
    {
      nc,
      namespace,
      services: [...services],
      jwt: { publicKey: await exportSPKI(publicKey), algorithms: ["ES256"] },
    },
    { port: 0, hostname: "127.0.0.1", runtime: "test" },
  );
  return {
    gateway,
    token: (sub) =>
      new SignJWT({})
        .setProtectedHeader({ alg: "ES256" })
        .setSubject(sub)
        .setExpirationTime("5m")
        .sign(privateKey),
  };
}
