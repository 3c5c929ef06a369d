import { connect } from "node:net";

export interface RawAnswer {
  /** undefined when the connection closed (or timed out) without a complete response. */
  status?: number;
  headers: Headers;
  text: string;
  /** Everything received, for failure messages. */
  raw: string;
}

/**
 * Sends bytes as they are on a fresh TCP connection and reads the first final response (1xx interim
 * responses skipped) — for requests a fetch client would never send.
 */
export function rawRequest(port: number, bytes: Buffer | string, timeoutMs = 3000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let received = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(received));
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseResponse(received);
      if (parsed.status !== undefined && parsed.complete) finish();
    });
    socket.on("error", finish);
    socket.on("close", finish);
    socket.write(bytes);
  });
}

function parseResponse(buffer: Buffer): RawAnswer & { complete: boolean } {
  let text = buffer.toString("latin1");
  const raw = text;
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) return { headers: new Headers(), text: "", raw, complete: false };
    const [statusLine = "", ...lines] = text.slice(0, end).split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
    if (!Number.isFinite(status)) return { headers: new Headers(), text: "", raw, complete: false };
    if (status >= 100 && status < 200) {
      text = text.slice(end + 4);
      continue;
    }
    const headers = new Headers();
    for (const line of lines) {
      const at = line.indexOf(":");
      if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
    }
    const length = Number(headers.get("content-length") ?? "0");
    const bodyBytes = Buffer.from(text.slice(end + 4), "latin1");
    const complete = bodyBytes.length >= length;
    return { status, headers, text: bodyBytes.subarray(0, length).toString("utf8"), raw, complete };
  }
}
