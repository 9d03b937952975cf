/**
 * The shop's gateway: REST, Connect, gRPC-Web and gRPC on one port, forwarded to the actors
 * over NATS. Configuration from the environment (README "The gateway").
 */
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { OrderService } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentService } from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { runGateway } from "../../runtime/cli/run-gateway.ts";

await runGateway([UserService, ProductService, OrderService, PaymentService, InventoryService]);
