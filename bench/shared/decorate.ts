/**
 * Decorators applied as plain function calls, for the NestJS peers: the repository's TypeScript
 * is erasable (Bun, Deno and Node's type stripping run it without a build), and decorator syntax
 * is not, so a class is declared plainly and Nest's decorators are then called on it the way
 * compiled decorator code calls them (`Controller()(Class)`, `Get(path)(prototype, key,
 * descriptor)`). No `emitDecoratorMetadata` either: injected constructor parameters name their
 * token with `Inject(token)`.
 */

/** Applies method decorators to `prototype[key]`, last first, as TypeScript's `__decorate` does. */
export function decorateMethod(prototype: object, key: string, ...decorators: MethodDecorator[]): void {
  let descriptor = Object.getOwnPropertyDescriptor(prototype, key);
  if (descriptor === undefined) throw new Error(`no method ${key} to decorate`);
  for (const decorator of [...decorators].reverse()) {
    descriptor = decorator(prototype, key, descriptor) ?? descriptor;
  }
  Object.defineProperty(prototype, key, descriptor);
}
