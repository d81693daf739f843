/** Builds a value on first use and returns that same value ever after: once per cold start. */
export function once<T>(build: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    value ??= { v: build() };
    return value.v;
  };
}
