/**
 * The ring's view of the network: one link to send to the successor, one to receive from the
 * predecessor. collective/ is written against these two interfaces only.
 */
export interface SendLink {
  /** Queues a frame; resolves once it has been handed to the socket (the bytes may be reused). */
  send(frame: Uint8Array): Promise<void>;
  /** Bytes sent on this link so far (frames, headers included). */
  readonly bytesSent: number;
}

export interface RecvLink {
  /** The next data frame from the predecessor, in order. Rejects when the link fails or times out. */
  recv(): Promise<Uint8Array>;
  readonly bytesReceived: number;
}
