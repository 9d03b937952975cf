/**
 * gRPC server reflection at the gateway (docs/adr/0021-grpc-server-reflection.md): `buf curl`
 * calls a method knowing nothing but the gateway's address, reflection lists the public services
 * only and serves their files with every import, both protocol versions answer alike, and a
 * gateway with `reflection: false` answers `unimplemented`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { RunningGateway } from "troupe/gateway";
import * as v1 from "troupe/gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "troupe/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { BillingService } from "../../proto/gen/shop/v1/billing_pb.ts";
import { EmailService } from "../../proto/gen/shop/v1/email_pb.ts";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { runProcess } from "../../runtime/platform/spawn-process.ts";
import { REPO_ROOT } from "../support/actor-process.ts";
import { type GatewayFixture, startGatewayFixture } from "../support/gateway-fixture.ts";

const TIMEOUT = { timeout: 60_000 };
const BIN = join(REPO_ROOT, "node_modules", ".bin");
const PUBLIC = ["shop.v1.ProductService", "shop.v1.UserService", "shop.v1.InventoryService"];

/** `buf curl` (the pinned one, through the pinned node) with reflection, on h2c. */
async function bufCurl(args: string[], protocol = "grpc"): Promise<{ code: number | null; output: string }> {
  return runProcess(join(BIN, "node"), [
    join(BIN, "buf"),
    "curl",
    "--reflect",
    "--protocol",
    protocol,
    "--http2-prior-knowledge",
    ...args,
  ]);
}

type Answer = v1.ServerReflectionResponse["messageResponse"];

/** A request's oneof as a plain object, which `create` turns into either version's message. */
type Question =
  | {
      case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices";
      value: string;
    }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: undefined };

/**
 * Asks `questions` on one reflection stream (v1 or v1alpha) and returns the answers in order.
 * Like grpcurl and buf curl, it asks the next question once the previous one is answered.
 */
async function reflect(url: string, version: "v1" | "v1alpha", questions: Question[]): Promise<Answer[]> {
  const transport = createGrpcTransport({ baseUrl: url });
  const answers: Answer[] = [];
  let answered = () => {};
  async function* ask<T>(make: (question: Question) => T) {
    for (const question of questions) {
      const next = new Promise<void>((resolve) => {
        answered = resolve;
      });
      yield make(question);
      await next;
    }
  }
  const responses =
    version === "v1"
      ? createClient(v1.ServerReflection, transport).serverReflectionInfo(
          ask((q) => create(v1.ServerReflectionRequestSchema, { messageRequest: q as never })),
        )
      : // v1alpha is v1 on the wire under another service name: the same questions and answers.
        createClient(v1alpha.ServerReflection, transport).serverReflectionInfo(
          ask((q) => create(v1alpha.ServerReflectionRequestSchema, { messageRequest: q as never })),
        );
  for await (const res of responses) {
    answers.push(res.messageResponse as Answer);
    answered();
  }
  return answers;
}

/** The answer, once asserted to be of the `wanted` kind. */
function answerOf<C extends NonNullable<Answer["case"]>>(
  answer: Answer | undefined,
  wanted: C,
): Extract<Answer, { case: C }> {
  assert.equal(answer?.case, wanted, JSON.stringify(answer));
  return answer as Extract<Answer, { case: C }>;
}

/** The files of a file_descriptor_response, in the order sent. */
function filesOf(answer: Answer | undefined): FileDescriptorProto[] {
  return answerOf(answer, "fileDescriptorResponse").value.fileDescriptorProto.map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

/** The file names of a file_descriptor_response, in the order sent. */
function fileNames(answer: Answer | undefined): string[] {
  return filesOf(answer).map((file) => file.name);
}

/** The files ordered so that each comes after what it imports, as a FileDescriptorSet wants. */
function importsFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((file) => [file.name, file]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (file: FileDescriptorProto | undefined) => {
    if (file === undefined || ordered.includes(file)) return;
    for (const name of file.dependency) visit(byName.get(name));
    ordered.push(file);
  };
  for (const file of files) visit(file);
  return ordered;
}

describe("gRPC server reflection at the gateway", () => {
  let fx: GatewayFixture;
  /** Fronts two services without a public method too: reflection must not name them. */
  let gateway: RunningGateway;
  before(async () => {
    fx = await startGatewayFixture();
    gateway = await fx.extraGateway({
      services: [ProductService, UserService, InventoryService, BillingService, EmailService],
    });
  });
  after(async () => {
    await fx?.close();
  });

  test(
    "buf curl calls GetProduct with no .proto file, learning the schema by reflection",
    TIMEOUT,
    async () => {
      const res = await bufCurl([
        `${gateway.url}/shop.v1.ProductService/GetProduct`,
        "-d",
        '{"id":"p-1001"}',
      ]);
      assert.equal(res.code, 0, res.output);
      const answer = JSON.parse(res.output) as { product: { id: string; name: string; price: unknown } };
      assert.equal(answer.product.id, "p-1001");
      assert.equal(answer.product.name, "Organic cotton T-shirt, white, M");

      // v1alpha (what grpcurl and Postman ask), and reflection over Connect, buf curl's default protocol.
      for (const [args, protocol] of [
        [["--reflect-protocol", "grpc-v1alpha"], "grpc"],
        [[], "connect"],
      ] as const) {
        const other = await bufCurl(
          [...args, `${gateway.url}/shop.v1.ProductService/GetProduct`, "-d", '{"id":"p-1002"}'],
          protocol,
        );
        assert.equal(other.code, 0, `${args} ${protocol}: ${other.output}`);
        assert.equal((JSON.parse(other.output) as { product: { id: string } }).product.id, "p-1002");
      }

      // The request is checked against its contract's rules as for any caller.
      const refused = await bufCurl([`${gateway.url}/shop.v1.ProductService/GetProduct`, "-d", "{}"]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.output, /invalid_argument/);
    },
  );

  test("buf curl lists the public services and their public methods only", TIMEOUT, async () => {
    const services = await bufCurl(["--list-services", gateway.url]);
    assert.equal(services.code, 0, services.output);
    assert.deepEqual(services.output.trim().split("\n").sort(), [...PUBLIC].sort());

    const methods = await bufCurl(["--list-methods", gateway.url]);
    assert.equal(methods.code, 0, methods.output);
    const listed = methods.output.trim().split("\n");
    assert.ok(listed.includes("shop.v1.ProductService/GetProduct"), methods.output);
    // GetStock is public; ReserveStock, AdjustStock, ImportStock … are for the actors only.
    assert.deepEqual(
      listed.filter((m) => m.startsWith("shop.v1.InventoryService/")),
      ["shop.v1.InventoryService/GetStock"],
    );
    assert.ok(!listed.some((m) => m.startsWith("shop.v1.BillingService/")), methods.output);
  });

  for (const version of ["v1", "v1alpha"] as const) {
    test(`${version}: list_services, files with their imports, symbols, extensions`, TIMEOUT, async () => {
      const answers = await reflect(gateway.url, version, [
        { case: "listServices", value: "" },
        { case: "fileContainingSymbol", value: "shop.v1.ProductService" },
        // Already sent on this stream: only the file itself comes again.
        { case: "fileByFilename", value: "shop/v1/product.proto" },
        { case: "fileContainingSymbol", value: "shop.v1.ProductService.GetProduct" },
        { case: "fileContainingSymbol", value: "shop.v1.BillingService" },
        { case: "fileContainingSymbol", value: "shop.v1.InventoryService.ReserveStock" },
        { case: "fileByFilename", value: "shop/v1/billing.proto" },
        { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" },
        {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 51200 },
        },
        { case: "fileContainingSymbol", value: "shop.v1.NoSuchThing" },
      ]);
      assert.equal(answers.length, 10);
      const [
        listed,
        bySymbol,
        byName,
        method,
        billing,
        privateMethod,
        billingFile,
        numbers,
        extension,
        missing,
      ] = answers;

      assert.deepEqual(
        answerOf(listed, "listServicesResponse").value.service.map((s) => s.name),
        PUBLIC,
      );

      const sent = fileNames(bySymbol);
      assert.equal(sent[0], "shop/v1/product.proto");
      for (const dependency of [
        "buf/validate/validate.proto",
        "google/api/annotations.proto",
        "google/api/http.proto",
        "google/protobuf/descriptor.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/duration.proto",
        "shop/v1/money.proto",
        "troupe/v1/options.proto",
      ]) {
        assert.ok(sent.includes(dependency), `${dependency} is sent with product.proto: ${sent}`);
      }
      assert.equal(new Set(sent).size, sent.length, "no file twice");
      assert.deepEqual(fileNames(byName), ["shop/v1/product.proto"]);
      assert.deepEqual(fileNames(method), ["shop/v1/product.proto"]);

      // The files form a whole: protobuf-es links them, GetProduct keeps its options, and the
      // private LookupProducts is not in the served file.
      const files = importsFirst(filesOf(bySymbol));
      const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
      const product = registry.getService("shop.v1.ProductService");
      assert.deepEqual(
        product?.methods.map((m) => m.name),
        ["GetProduct", "ListProducts", "WatchProducts"],
      );
      assert.ok(registry.getMessage("buf.validate.FieldRules"), "the validate rules are there");

      for (const [answer, what] of [
        [billing, "shop.v1.BillingService"],
        [privateMethod, "shop.v1.InventoryService.ReserveStock"],
        [billingFile, "shop/v1/billing.proto"],
        [missing, "shop.v1.NoSuchThing"],
      ] as const) {
        const error = answerOf(answer, "errorResponse").value;
        assert.equal(error.errorCode, Code.NotFound, what);
        assert.ok(error.errorMessage.includes(what), error.errorMessage);
      }

      const extensionNumbers = answerOf(numbers, "allExtensionNumbersResponse").value.extensionNumber;
      // google.api.http and troupe.v1.method (plus buf.validate's predefined rules, if any).
      assert.ok(
        extensionNumbers.includes(72295728) && extensionNumbers.includes(51200),
        `${extensionNumbers}`,
      );
      assert.deepEqual(fileNames(extension), ["troupe/v1/options.proto"]);
    });
  }

  test("served files hold only the types the public methods reach", TIMEOUT, async () => {
    const answers = await reflect(gateway.url, "v1", [
      { case: "fileContainingSymbol", value: "shop.v1.InventoryService" },
      // A private method's request, an event and a job beside the public GetStock.
      { case: "fileContainingSymbol", value: "shop.v1.ReserveStockRequest" },
      { case: "fileContainingSymbol", value: "shop.v1.StockAdjusted" },
      { case: "fileContainingSymbol", value: "shop.v1.ReserveStockRequest.order_id" },
      { case: "allExtensionNumbersOfType", value: "shop.v1.StockReserved" },
      // A public method's types are there.
      { case: "fileContainingSymbol", value: "shop.v1.GetStockResponse" },
    ]);
    const files = importsFirst(filesOf(answers[0]));
    const inventory = files.find((f) => f.name === "shop/v1/inventory.proto");
    const messages = inventory?.messageType.map((m) => m.name) ?? [];
    assert.deepEqual(messages.sort(), ["GetStockRequest", "GetStockResponse", "StockLevel"]);
    assert.deepEqual(
      inventory?.enumType.map((e) => e.name),
      [],
    );
    for (const [i, what] of [
      [1, "shop.v1.ReserveStockRequest"],
      [2, "shop.v1.StockAdjusted"],
      [3, "shop.v1.ReserveStockRequest.order_id"],
      [4, "shop.v1.StockReserved"],
    ] as const) {
      assert.equal(answerOf(answers[i], "errorResponse").value.errorCode, Code.NotFound, what);
    }
    assert.deepEqual(fileNames(answers[5]), ["shop/v1/inventory.proto"]);
    // What is served still links into a registry, options and validation rules included.
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
    assert.ok(registry.getMessage("shop.v1.GetStockResponse"));
    assert.equal(registry.getMessage("shop.v1.ReserveStockRequest"), undefined);
    assert.ok(registry.getMessage("buf.validate.FieldRules"));
  });

  test("a request that asks nothing ends the stream with invalid_argument", TIMEOUT, async () => {
    await assert.rejects(
      reflect(gateway.url, "v1", [{ case: undefined }]),
      (err) => ConnectError.from(err).code === Code.InvalidArgument,
    );
  });

  test("reflection: false answers unimplemented, and buf curl cannot learn the schema", TIMEOUT, async () => {
    const closed = await fx.extraGateway({ reflection: false });
    for (const version of ["v1", "v1alpha"] as const) {
      await assert.rejects(
        reflect(closed.url, version, [{ case: "listServices", value: "" }]),
        (err) => ConnectError.from(err).code === Code.Unimplemented,
      );
    }
    const res = await bufCurl([`${closed.url}/shop.v1.ProductService/GetProduct`, "-d", '{"id":"p-1001"}']);
    assert.notEqual(res.code, 0);
    // Both reflection versions answered unimplemented, so buf curl knows no schema at all.
    assert.match(res.output, /failed to find service named "shop\.v1\.ProductService"/);
    // The gateway still serves gRPC to callers that have the contract.
    const products = createClient(ProductService, createGrpcTransport({ baseUrl: closed.url }));
    assert.equal((await products.getProduct({ id: "p-1001" })).product?.id, "p-1001");
  });
});
