/** A small typed event emitter: `on` returns the function that unsubscribes. */
export class Emitter<M extends object> {
  private readonly handlers: { [K in keyof M]?: Set<(payload: M[K]) => void> } = {};

  constructor(private readonly onHandlerError: (error: unknown, type: keyof M) => void = () => undefined) {}

  on<K extends keyof M>(type: K, handler: (payload: M[K]) => void): () => void {
    let set = this.handlers[type];
    if (!set) {
      set = new Set();
      this.handlers[type] = set;
    }
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  /** Calls every handler of `type`; a handler that throws does not stop the others, nor the SDK. */
  emit<K extends keyof M>(type: K, payload: M[K]): void {
    const set = this.handlers[type];
    if (!set) return;
    for (const handler of [...set]) {
      try {
        handler(payload);
      } catch (error) {
        this.onHandlerError(error, type);
      }
    }
  }
}
