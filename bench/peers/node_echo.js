// Node's `net` echo server for bench/compare.sh; Bun runs the same file
// for its `node:net` figures.
//
//   node node_echo.js [port]     (port 0 picks a free one)
//
// Each socket is piped into itself (backpressure included), the idiom
// Node's own docs use. Prints `listening on ADDR` once bound.
'use strict';
const net = require('node:net');

const port = Number(process.argv[2] || 0);
const server = net.createServer((sock) => {
  // A client that resets is not the server's failure.
  sock.on('error', () => {});
  sock.pipe(sock);
});
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  console.log(`listening on ${a.address}:${a.port}`);
});
