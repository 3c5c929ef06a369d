import { type AddressInfo, type Server, type Socket, createServer } from "node:net";
import type { AmqpBroker } from "../core/amqp/broker.js";
import { type AmqpUsers, checkAmqpLogin, isLoopback } from "../core/amqp/credentials.js";
import { type AmqpLimits, AmqpConnection } from "../core/amqp/engine.js";
import type { Clock, Logger } from "../core/ports.js";

export interface AmqpServerOptions {
  broker: AmqpBroker;
  clock: Clock;
  log: Logger;
  users: AmqpUsers;
  host?: string;
  port: number;
  limits?: Partial<AmqpLimits>;
  /** How often each connection's heartbeats and timeouts are looked at. */
  tickMs?: number;
}

export interface AmqpServer {
  server: Server;
  port: number;
  host: string;
  connections(): number;
  /** Closes every open connection with connection.close 320 CONNECTION_FORCED and keeps listening (clients with automatic recovery reconnect). */
  closeConnections(reason: string): void;
  /**
   * Stops accepting connections and closes each open one with connection.close 320 CONNECTION_FORCED
   * (its unacked deliveries go back to their queues); sockets still open after `graceMs` are destroyed.
   */
  drain(graceMs: number): Promise<{ forced: number; tookMs: number }>;
}

/**
 * The AMQP door's runner: node:net sockets around the protocol engine. Everything the protocol does is
 * in core/amqp; this file moves bytes, pauses reading when the engine asks, and ticks heartbeats.
 */
export function startAmqpServer(options: AmqpServerOptions): Promise<AmqpServer> {
  const { broker, clock, log } = options;
  const open = new Map<Socket, AmqpConnection>();

  const server = createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {});
    const loopback = isLoopback(socket.remoteAddress);
    let ended = false;
    const connection = new AmqpConnection({
      broker,
      clock,
      log,
      ...(options.limits && { limits: options.limits }),
      authenticate: (user, password) => checkAmqpLogin(options.users, user, password, loopback),
      write: (bytes) => {
        if (!socket.destroyed) socket.write(bytes);
      },
      end: () => {
        if (ended) return;
        ended = true;
        socket.end();
        // A peer that never reads its last bytes does not keep the socket.
        setTimeout(() => socket.destroy(), 2000).unref();
      },
      pendingBytes: () => socket.writableLength,
      pause: (paused) => (paused ? socket.pause() : socket.resume()),
    });
    open.set(socket, connection);
    socket.on("data", (chunk: Buffer) => connection.receive(chunk));
    socket.once("close", () => {
      open.delete(socket);
      connection.transportClosed();
    });
  });

  const timer = setInterval(() => {
    const nowMs = clock.nowMs();
    for (const c of open.values()) c.tick(nowMs);
  }, options.tickMs ?? 1000);
  timer.unref();

  const host = options.host ?? "127.0.0.1";
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      const port = (server.address() as AddressInfo).port;
      resolve({
        server,
        port,
        host,
        connections: () => open.size,
        closeConnections: (reason) => {
          for (const c of open.values()) c.shutdown(reason);
        },
        async drain(graceMs) {
          const startedMs = Date.now();
          const closed = new Promise<void>((r) => server.close(() => r()));
          for (const c of open.values()) c.shutdown();
          if (open.size > 0) {
            await new Promise<void>((r) => {
              const check = setInterval(() => {
                if (open.size === 0 || Date.now() - startedMs >= graceMs) {
                  clearInterval(check);
                  r();
                }
              }, 20);
            });
          }
          const forced = open.size;
          for (const socket of open.keys()) socket.destroy();
          clearInterval(timer);
          broker.close();
          await closed;
          return { forced, tookMs: Date.now() - startedMs };
        },
      });
    });
  });
}
