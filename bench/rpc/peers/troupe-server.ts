/**
 * The Troupe peer's server: the echo actor (echo-actor.ts) served by `serveActor`, over NATS.
 */
import { serveActorPeer } from "../../shared/serve-actor-peer.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { echoActor } from "./echo-actor.ts";

await servePeer((natsUrl) => serveActorPeer(natsUrl, echoActor));
