/**
 * A "send the whole body first" flood client for bench/admission-refusal.ts (as Python's http.client and
 * clients built on it do): `connections` closed loops, each opening a connection, writing the request head
 * and its whole body, and only then reading the answer; the connection is closed after each answer (the
 * server said `Connection: close`). A reset or error counts as an error and the loop goes on. Runs in a
 * worker thread; `workerData`: { port, path, token, body, connections }. Posts { statuses, cpuMs } on 'stop'.
 */
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

const data = workerData as { port: number; path: string; token: string; body: Uint8Array; connections: number };
const head = Buffer.from(`POST ${data.path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${data.token}\r\ncontent-type: application/json\r\ncontent-length: ${data.body.length}\r\n\r\n`);
const body = Buffer.from(data.body);
const statuses = new Map<number, number>();
let stopped = false;
const cpuAtStart = process.threadCpuUsage();

const once = (): Promise<number> =>
  new Promise((resolve) => {
    let answer = '';
    let sent = false;
    let status = 0;
    const socket = net.connect(data.port, '127.0.0.1');
    const finish = (): void => {
      socket.destroy();
      resolve(status);
    };
    socket.on('error', () => finish());
    socket.on('close', () => resolve(status));
    socket.on('data', (chunk: Buffer) => {
      // Only read once the body is sent, as a send-first client does (the kernel keeps what arrives before).
      answer += chunk.toString('latin1');
      if (sent && answer.includes('\r\n\r\n')) {
        status = Number(answer.split(' ')[1]);
        finish();
      }
    });
    socket.write(head);
    socket.write(body, () => {
      sent = true;
      if (answer.includes('\r\n\r\n')) {
        status = Number(answer.split(' ')[1]);
        finish();
      }
    });
  });

const loops = Array.from({ length: data.connections }, async () => {
  while (!stopped) {
    const status = await once();
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
});

parentPort?.on('message', (message) => {
  if (message !== 'stop') return;
  stopped = true;
  void Promise.all(loops).then(() => {
    const cpu = process.threadCpuUsage(cpuAtStart);
    parentPort?.postMessage({ statuses: [...statuses], cpuMs: (cpu.user + cpu.system) / 1000 });
    parentPort?.close();
  });
});
