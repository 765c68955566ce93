// An echo server like `netloop echo`: each socket piped into itself, so a
// client that stops reading is slowed down by backpressure. When the
// client ends its side, the server finishes echoing and then ends its own
// (half-close: the client still reads after its FIN).
//
//   node tests/js/echo_server.js [PORT] [HOST]
'use strict';
const net = require('net');

const PORT = Number(process.argv[2] || 0);
const HOST = process.argv[3] || '127.0.0.1';

const server = net.createServer({ allowHalfOpen: true }, (sock) => {
  sock.pipe(sock);
  sock.on('error', (err) => console.error('echo: ' + err.message));
});
server.listen(PORT, HOST, () => {
  const a = server.address();
  console.log('echo listening on ' + a.address + ':' + a.port);
});
