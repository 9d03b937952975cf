/**
 * Baseline: the minimal request multiplexer on one connection, the floor for any NATS client:
 * one wildcard subscription on a private inbox, `publish` with a reply subject per call, and a
 * map from reply token to the waiting call. No per-call timer, no timeout, no headers.
 */
import { createInbox, type Msg } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { ECHO_SUBJECT, encodedEchoRequestOfSize } from "../../shared/echo-request.ts";
import { checkEcho, type PeerClient } from "../peer-client.ts";

export async function connectMuxClient(natsUrl: string): Promise<PeerClient> {
  const nc = await connect({ servers: natsUrl });
  const inbox = createInbox();
  const tokenStart = inbox.length + 1;
  const waiting = new Map<string, (msg: Msg) => void>();
  nc.subscribe(`${inbox}.*`, {
    callback: (_err, msg) => {
      const token = msg.subject.slice(tokenStart);
      const resolve = waiting.get(token);
      if (resolve === undefined) return;
      waiting.delete(token);
      resolve(msg);
    },
  });
  let nextToken = 0;
  return {
    echo(sizeBytes) {
      const request = encodedEchoRequestOfSize(sizeBytes);
      return () =>
        new Promise<void>((resolve, reject) => {
          const token = String(nextToken++);
          waiting.set(token, (msg) => {
            try {
              checkEcho(request.length, msg.data.length);
              resolve();
            } catch (err) {
              reject(err);
            }
          });
          nc.publish(ECHO_SUBJECT, request, { reply: `${inbox}.${token}` });
        });
    },
    close: () => nc.close(),
  };
}
