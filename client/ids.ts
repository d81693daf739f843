/** A fresh id matching the protocol's ClientMessageId and RequestId (letters, digits, `-`): a UUID. */
export function newId(): string {
  return globalThis.crypto.randomUUID();
}

/**
 * The `sub` of a JWT, read without verifying it (the server verifies; the SDK only needs to recognise its own
 * events). Undefined when the token is not a JWT.
 */
export function tokenSubject(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const sub: unknown = JSON.parse(json).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}
