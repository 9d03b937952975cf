/**
 * The emails the shop writes (shop.v1.EmailTemplate): a subject and a plain-text body from the
 * template's variables. A missing or unusable variable is the caller's error (`invalid_argument`,
 * as EmailService.SendEmail's contract says); variables a template does not use are ignored.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { EmailTemplate } from "../../proto/gen/shop/v1/email_pb.ts";

/** The shop's name as emails show it. */
export const SHOP_NAME = "Troupe Shop";
/** The longest variable value accepted. */
export const MAX_VARIABLE_LENGTH = 500;

export interface RenderedEmail {
  readonly subject: string;
  readonly text: string;
}

type Variables = Readonly<Record<string, string>>;

interface Template {
  /** The variables the template needs, by their names in SendEmailRequest.variables. */
  readonly variables: readonly string[];
  render(v: Variables): RenderedEmail;
}

const signature = `\n\n— ${SHOP_NAME}\n`;

const templates: ReadonlyMap<EmailTemplate, Template> = new Map<EmailTemplate, Template>([
  [
    EmailTemplate.WELCOME,
    {
      variables: ["display_name"],
      render: (v) => ({
        subject: `Welcome to ${SHOP_NAME}, ${v.display_name}!`,
        text:
          `Hello ${v.display_name},\n\n` +
          `welcome to ${SHOP_NAME}: your account is ready, and you can start shopping right away.` +
          signature,
      }),
    },
  ],
  [
    EmailTemplate.ORDER_CONFIRMATION,
    {
      variables: ["display_name", "order_id", "total"],
      render: (v) => ({
        subject: `Your order ${v.order_id} is confirmed`,
        text:
          `Hello ${v.display_name},\n\n` +
          `thank you for your order ${v.order_id}. Total: ${v.total}.\n` +
          `We will write again when it ships.` +
          signature,
      }),
    },
  ],
  [
    EmailTemplate.INVOICE,
    {
      variables: ["invoice_number", "order_id", "total"],
      render: (v) => ({
        subject: `Invoice ${v.invoice_number} for order ${v.order_id}`,
        text: `Invoice ${v.invoice_number}\nOrder: ${v.order_id}\nTotal: ${v.total}${signature}`,
      }),
    },
  ],
  [
    EmailTemplate.REFUND_CONFIRMATION,
    {
      variables: ["order_id", "amount"],
      render: (v) => ({
        subject: `Your refund for order ${v.order_id}`,
        text: `We have refunded ${v.amount} for your order ${v.order_id}.${signature}`,
      }),
    },
  ],
  [
    EmailTemplate.CART_REMINDER,
    {
      variables: ["display_name", "item_count", "subtotal"],
      render: (v) => ({
        subject: `${v.display_name}, your cart is waiting for you`,
        text:
          `Hello ${v.display_name},\n\n` +
          `you left ${v.item_count === "1" ? "1 item" : `${v.item_count} items`} in your cart (${v.subtotal}). ` +
          `They are still there whenever you want to check out.` +
          signature,
      }),
    },
  ],
]);

// Control characters have no place in a subject or a one-line value (line breaks included).
const CONTROL = /\p{Cc}/u;

/** Renders `template` with `variables`; `invalid_argument` for an unknown template or a bad variable. */
export function renderEmail(template: EmailTemplate, variables: Variables): RenderedEmail {
  const definition = templates.get(template);
  if (definition === undefined) {
    throw new ConnectError(
      template === EmailTemplate.UNSPECIFIED ? "template is required" : `unknown template ${template}`,
      Code.InvalidArgument,
    );
  }
  const used: Record<string, string> = {};
  for (const name of definition.variables) {
    const value = (Object.hasOwn(variables, name) ? variables[name] : undefined)?.trim() ?? "";
    if (value === "") throw invalidVariable(name, "is required");
    if (value.length > MAX_VARIABLE_LENGTH) {
      throw invalidVariable(name, `must be at most ${MAX_VARIABLE_LENGTH} characters`);
    }
    if (CONTROL.test(value)) throw invalidVariable(name, "must not contain control characters");
    used[name] = value;
  }
  return definition.render(used);
}

function invalidVariable(name: string, problem: string): ConnectError {
  return new ConnectError(`variable ${name} ${problem}`, Code.InvalidArgument);
}
