// Bun's native `Bun.listen` echo server for bench/compare.sh.
//
//   bun bun_listen_echo.js [port]     (port 0 picks a free one)
//
// `socket.write` returns how many bytes the kernel took; the rest waits in
// a per-socket backlog until `drain`, so a client that stops reading is
// slowed down rather than dropped. Prints `listening on ADDR` once bound.
const port = Number(process.argv[2] || 0);

function flush(socket) {
  while (socket.data.backlog.length > 0) {
    const chunk = socket.data.backlog[0];
    const n = socket.write(chunk);
    if (n < chunk.length) {
      socket.data.backlog[0] = chunk.subarray(n);
      return;
    }
    socket.data.backlog.shift();
  }
}

const server = Bun.listen({
  hostname: '127.0.0.1',
  port,
  socket: {
    open(socket) {
      socket.data = { backlog: [] };
    },
    data(socket, data) {
      if (socket.data.backlog.length > 0) {
        socket.data.backlog.push(Buffer.from(data));
        return;
      }
      const n = socket.write(data);
      if (n < data.length) {
        // `data` is only valid during this callback: copy the rest.
        socket.data.backlog.push(Buffer.from(data.subarray(n)));
      }
    },
    drain(socket) {
      flush(socket);
    },
    error() {},
  },
});
console.log(`listening on ${server.hostname}:${server.port}`);
