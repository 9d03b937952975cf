/**
 * The "direct" peer's server: the same echo actor, also listening for direct calls by address on
 * 127.0.0.1 (an OS-chosen port, advertised in discovery; docs/adr/0031-direct-calls-by-address.md).
 */
import { serveActorPeer } from "../../shared/serve-actor-peer.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { echoActor } from "./echo-actor.ts";

await servePeer((natsUrl) => serveActorPeer(natsUrl, echoActor, { direct: {} }));
