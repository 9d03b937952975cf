/**
 * Request validation: the host refuses a request that breaks its contract's `buf.validate` rules
 * (protovalidate, https://protovalidate.com) before the handler runs, with `invalid_argument`
 * naming every violated field and rule, and the violations as a `buf.validate.Violations` error
 * detail. Whether a method's input has rules at all (on the message, its fields or any message it
 * nests) is decided once, when the host starts serving; a method without rules gets no check and
 * pays nothing per call. See docs/adr/0018-request-validation.md.
 */
import { create, type DescMessage, hasOption, type Message } from "@bufbuild/protobuf";
import {
  CompilationError,
  createValidator,
  type Validator,
  violationsToProto,
} from "@bufbuild/protovalidate";
import { field, message, oneof } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";

/** Throws `invalid_argument` for a message that breaks its rules. */
export type RequestCheck = (request: Message) => void;

export interface RequestValidator {
  /**
   * The check for requests of `schema`, or undefined when `schema` declares no rules. Compiles
   * the rules now, so a rule that cannot compile fails the host's start, not a call.
   */
  checkOf(schema: DescMessage): RequestCheck | undefined;
}

export function createRequestValidator(): RequestValidator {
  // Made on first use: a host whose methods declare no rules never builds one.
  let validator: Validator | undefined;
  return {
    checkOf(schema) {
      if (!declaresRules(schema, new Set())) return undefined;
      validator ??= createValidator();
      const compiled = validator.validate(schema, create(schema));
      if (compiled.kind === "error" && compiled.error instanceof CompilationError) {
        throw new Error(
          `the buf.validate rules of ${schema.typeName} do not compile: ${compiled.error.message}`,
        );
      }
      const checker = validator;
      return (request) => {
        const result = checker.validate(schema, request);
        if (result.kind === "valid") return;
        // A rule that fails to evaluate is the contract's fault: `internal`, logged by the host.
        if (result.kind === "error") throw result.error;
        const [violations, desc] = violationsToProto(result.violations);
        throw new ConnectError(result.violations.map(String).join("; "), Code.InvalidArgument, undefined, [
          { desc, value: violations },
        ]);
      };
    },
  };
}

/** True when `schema`, one of its fields or oneofs, or a message it nests carries a rule. */
function declaresRules(schema: DescMessage, seen: Set<DescMessage>): boolean {
  if (seen.has(schema)) return false;
  seen.add(schema);
  if (hasOption(schema, message) || schema.oneofs.some((o) => hasOption(o, oneof))) return true;
  // List and map fields of messages have `message` too.
  return schema.fields.some(
    (f) => hasOption(f, field) || (f.message !== undefined && declaresRules(f.message, seen)),
  );
}
