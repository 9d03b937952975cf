/**
 * Request validation: the host refuses a request that breaks its contract's `buf.validate` rules
 * (protovalidate, https://protovalidate.com) before the handler runs, with `invalid_argument`
 * naming every violated field and rule, and the violations as a `buf.validate.Violations` error
 * detail. Whether a method's input has rules at all (on the message, its fields or any message it
 * nests) is decided once, when the host starts serving; a method without rules gets no check and
 * pays nothing per call. See docs/adr/0018-request-validation.md.
 */
import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { Validator } from "@bufbuild/protovalidate";
import { Code, ConnectError } from "@connectrpc/connect";

/** Throws `invalid_argument` for a message that breaks its rules. */
export type RequestCheck = (request: Message) => void;

/**
 * The check of each of `inputs` that declares rules (an input without rules gets none). Compiles
 * the rules now, so a rule that cannot compile fails the host's start, not a call. protovalidate
 * (and its CEL interpreter) is loaded only when some input declares rules: an actor whose
 * contracts have none does not pay for it at start (about 100 ms on Node, 5 MB on Bun).
 */
export async function requestChecksOf(
  inputs: Iterable<DescMessage>,
): Promise<Map<DescMessage, RequestCheck>> {
  const checks = new Map<DescMessage, RequestCheck>();
  const withRules = [...new Set(inputs)].filter((schema) => declaresRules(schema, new Set()));
  if (withRules.length === 0) return checks;
  const { CompilationError, createValidator, violationsToProto } = await import("@bufbuild/protovalidate");
  const validator: Validator = createValidator();
  for (const schema of withRules) {
    const compiled = validator.validate(schema, create(schema));
    if (compiled.kind === "error" && compiled.error instanceof CompilationError) {
      throw new Error(
        `the buf.validate rules of ${schema.typeName} do not compile: ${compiled.error.message}`,
      );
    }
    checks.set(schema, (request) => {
      const result = validator.validate(schema, request);
      if (result.kind === "valid") return;
      // A rule that fails to evaluate is the contract's fault: `internal`, logged by the host.
      if (result.kind === "error") throw result.error;
      const [violations, desc] = violationsToProto(result.violations);
      throw new ConnectError(result.violations.map(String).join("; "), Code.InvalidArgument, undefined, [
        { desc, value: violations },
      ]);
    });
  }
  return checks;
}

/**
 * The field number of buf.validate's `message`, `oneof` and `field` options (buf/validate/
 * validate.proto). A descriptor's options keep an extension the code did not register among
 * their unknown fields, which is where protobuf-es's `hasOption` looks too: reading the number
 * there spares loading protovalidate's generated descriptors to find out.
 */
const RULES_OPTION_NUMBER = 1159;

function hasRules(options: { $unknown?: { no: number }[] | undefined } | undefined): boolean {
  return options?.$unknown?.some((field) => field.no === RULES_OPTION_NUMBER) ?? false;
}

/** True when `schema`, one of its fields or oneofs, or a message it nests carries a rule. */
function declaresRules(schema: DescMessage, seen: Set<DescMessage>): boolean {
  if (seen.has(schema)) return false;
  seen.add(schema);
  if (hasRules(schema.proto.options) || schema.oneofs.some((o) => hasRules(o.proto.options))) return true;
  // List and map fields of messages have `message` too.
  return schema.fields.some(
    (f) => hasRules(f.proto.options) || (f.message !== undefined && declaresRules(f.message, seen)),
  );
}
