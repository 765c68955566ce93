// The seed's TCP server, for the interop tests (tests/node_interop.rs).
// Same dialogue and output as `netloop server`. Differences from the seed,
// both for testing: the port comes from the command line (0 picks a free
// one), and the address is printed from the `listening` callback, because
// Node 20's server.address() is still null right after listen().
//
//   node tests/js/seed_server.js [PORT] [HOST]
'use strict';
const net = require('net');

const PORT = Number(process.argv[2] || 6969);
const HOST = process.argv[3] || '127.0.0.1';

const server = net.createServer();
server.listen(PORT, HOST, () => {
  console.log('Server listening on ' +
    server.address().address + ':' + server.address().port);
});

server.on('connection', (sock) => {
  console.log('CONNECTED: ' + sock.remoteAddress + ':' + sock.remotePort);
  const remote = [sock.remoteAddress, sock.remotePort];
  sock.on('data', (data) => {
    console.log('DATA ' + remote[0] + ': ' + data);
    sock.write('You said "' + data + '"');
  });
  sock.on('error', (err) => {
    console.error('ERROR ' + remote[0] + ': ' + err.message);
  });
  sock.on('close', () => {
    console.log('CLOSED: ' + remote[0] + ' ' + remote[1]);
  });
});
