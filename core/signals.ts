/**
 * In-process arrival signals. When publish and consume share a process (the local runtime, or one
 * warm container serving both), a publish tells the long polls waiting on its topic when the new message
 * falls due, so they wake for it instead of finding it at their next idle re-check. Across processes
 * (separate Lambda functions) nothing is signalled and the idle re-check bounds the wait.
 */
export class ArrivalSignals {
  private readonly waiters = new Map<string, Set<(dueAtMs: number) => void>>();

  notify(topic: string, dueAtMs: number): void {
    for (const waiter of this.waiters.get(topic) ?? []) waiter(dueAtMs);
  }

  /** Registers `onArrival` for the topic until the returned function is called. */
  listen(topic: string, onArrival: (dueAtMs: number) => void): () => void {
    let set = this.waiters.get(topic);
    if (!set) {
      set = new Set();
      this.waiters.set(topic, set);
    }
    set.add(onArrival);
    return () => {
      set.delete(onArrival);
      if (set.size === 0) this.waiters.delete(topic);
    };
  }
}
