import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { FrameReader, encodeWsFrame, Op, type WsFrame } from './raw-ws.js';

/**
 * A man in the middle on 127.0.0.1 between a dialling peer (client) and the listener it dials
 * (upstream). Bytes flow through unchanged until `tamper` is set: from then on every data frame
 * (binary, first byte 0xA7) the listener sends is passed to it, and whatever it returns is sent
 * in its place (re-framed), so the handshake stays genuine and only data frames are hostile.
 * Also records the close frames the client sends back.
 */
/** Returns the frames to send instead (none = drop it), or null to cut the connection there. */
export type Tamper = (payload: Buffer, index: number) => Buffer[] | null;

export interface Proxy {
  port: number;
  /** Data frames seen from the listener since the last arm(). */
  readonly dataFrames: number;
  arm(t: Tamper | null): void;
  /** Close codes the client sent towards the listener. */
  readonly clientCloseCodes: number[];
  close(): Promise<void>;
}

export async function startProxy(upstreamPort: number): Promise<Proxy> {
  let tamper: Tamper | null = null;
  let dataFrames = 0;
  const clientCloseCodes: number[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.setNoDelay(true);
    const upstream = connect({ host: '127.0.0.1', port: upstreamPort });
    upstream.setNoDelay(true);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);

    // Client → listener: forwarded as is; close frames are noted.
    let upgraded = false;
    const fromClient = new FrameReader();
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (!upgraded) return; // the HTTP request
      for (const f of fromClient.push(chunk)) if (f.opcode === Op.close && f.payload.length >= 2) clientCloseCodes.push(f.payload.readUInt16BE(0));
    });

    // Listener → client: the 101 response as is, then frame by frame.
    let head: Buffer | null = Buffer.alloc(0);
    const fromUpstream = new FrameReader();
    upstream.on('data', (chunk: Buffer) => {
      let rest = chunk;
      if (head !== null) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        client.write(head.subarray(0, end + 4));
        rest = head.subarray(end + 4);
        head = null;
        upgraded = true;
      }
      for (const f of fromUpstream.push(rest)) {
        const out = reframe(f);
        if (out === null) {
          drop();
          return;
        }
        client.write(out);
      }
    });
  });

  function reframe(f: WsFrame): Buffer | null {
    if (f.opcode !== Op.binary || f.payload[0] !== 0xa7 || !tamper) return encodeWsFrame(f.opcode, f.payload, { fin: f.fin, rsv: f.rsv });
    const out = tamper(f.payload, dataFrames++);
    if (out === null) return null;
    return Buffer.concat(out.map((p) => encodeWsFrame(Op.binary, p)));
  }

  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  return {
    port: (server.address() as AddressInfo).port,
    get dataFrames() {
      return dataFrames;
    },
    arm(t) {
      tamper = t;
      dataFrames = 0;
    },
    clientCloseCodes,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
