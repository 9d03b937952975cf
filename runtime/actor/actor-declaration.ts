/**
 * What an actor declares it does on the bus (`serves`, `calls`, `publishes`, `consumes`,
 * `state` in its definition), and the checks that hold it to that in-process: the same
 * declaration is what its NATS credentials allow (runtime/security, docs/adr/0030-credentials-from-declarations.md),
 * so an undeclared call or bucket fails here first, with a message that names the declaration
 * to add, instead of as a permissions violation on the bus. Nothing declared, nothing allowed.
 */
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { HandlerSpec } from "../jetstream/subscriptions.ts";
import type { ProcessDeclaration } from "../protocol/declaration.ts";
import { keyedContractOf } from "../protocol/partitions.ts";
import type { ActorDefinition } from "./define-actor.ts";

/** An actor's declaration as data (runtime/protocol/declaration.ts). */
export type ActorDeclaration = ProcessDeclaration;

type Declares = Pick<
  ActorDefinition,
  "name" | "version" | "serves" | "calls" | "publishes" | "consumes" | "state"
>;

const names = (list: readonly { typeName: string }[] | undefined) => [
  ...new Set((list ?? []).map((d) => d.typeName)),
];

/** The declaration of `actor`, with type names in the order declared. */
export function declarationOf(actor: Declares): ActorDeclaration {
  return {
    name: actor.name,
    version: actor.version,
    serves: names(actor.serves),
    ...keyedOf(actor.serves),
    calls: names(actor.calls),
    publishes: { events: names(actor.publishes?.events), jobs: names(actor.publishes?.jobs) },
    consumes: { events: names(actor.consumes?.events), jobs: names(actor.consumes?.jobs) },
    state: [...new Set(actor.state ?? [])],
  };
}

/** The keyed services among `serves`, when there are any. */
function keyedOf(serves: readonly DescService[] | undefined): { keyed?: string[] } {
  const keyed = names((serves ?? []).filter((s) => keyedContractOf(s) !== undefined));
  return keyed.length === 0 ? {} : { keyed };
}

const shortName = (typeName: string) => typeName.slice(typeName.lastIndexOf(".") + 1);

/** Throws unless `service` is in the actor's `calls`: `permission_denied`, naming what to add. */
export function checkDeclaredCall(actor: Declares, service: DescService): void {
  if (actor.calls?.includes(service) === true) return;
  throw new ConnectError(
    `actor ${actor.name} calls ${service.typeName} without declaring it: add ${shortName(service.typeName)} to \`calls\` in its defineActor`,
    Code.PermissionDenied,
  );
}

/** Throws unless `bucket` is in the actor's `state`: `permission_denied`, naming what to add. */
export function checkDeclaredBucket(actor: Declares, bucket: string): void {
  if (actor.state?.includes(bucket) === true) return;
  throw new ConnectError(
    `actor ${actor.name} opens the state bucket "${bucket}" without declaring it: add "${bucket}" to \`state\` in its defineActor`,
    Code.PermissionDenied,
  );
}

/**
 * Throws unless the services an actor builds are those it declares in `serves`, and the types it
 * handles are in `consumes`: a start that would need permissions its credentials lack fails
 * at once, saying which declaration to add.
 */
export function checkDeclaredServing(
  actor: Declares,
  served: readonly DescService[],
  handlers: readonly Pick<HandlerSpec, "kind" | "schema">[],
): void {
  const problems: string[] = [];
  for (const service of served) {
    if (actor.serves?.includes(service) !== true) {
      problems.push(`it serves ${service.typeName}: add ${shortName(service.typeName)} to \`serves\``);
    }
  }
  for (const { kind, schema } of handlers) {
    const list: readonly DescMessage[] | undefined =
      kind === "event" ? actor.consumes?.events : actor.consumes?.jobs;
    if (list?.includes(schema) !== true) {
      const field = kind === "event" ? "consumes.events" : "consumes.jobs";
      problems.push(
        `it handles the ${kind} ${schema.typeName}: add ${shortName(schema.typeName)} to \`${field}\``,
      );
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `actor ${actor.name} does more than it declares in its defineActor: ${problems.join("; ")}`,
    );
  }
}
