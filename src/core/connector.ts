/** A long-running upstream feed. start() returns at once; stop() closes gracefully and resolves when done. */
export interface Connector {
  readonly source: string;
  start(): void;
  stop(): Promise<void>;
}
