/**
 * `make()` on the first call only. The deployed handlers read their configuration on the first
 * invocation (so importing a handler module needs no environment) and keep it, with their clients and
 * caches, for the container's life. Its own module, so both glues (handler.ts with middy, plain-handler.ts
 * without, for the signer) share it without one importing the other.
 */
export function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}
