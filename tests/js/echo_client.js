// Sends SIZE bytes of a fixed pattern to an echo server, ends its side
// (half-close), reads the echo until the server's FIN and checks it byte
// for byte. Prints one line and exits 0 only if every byte came back.
// The pattern is byte i = i % 251, the same as the Rust tests' `pattern`.
//
//   node tests/js/echo_client.js PORT SIZE [HOST]
'use strict';
const net = require('net');

const PORT = Number(process.argv[2]);
const SIZE = Number(process.argv[3] || 1024 * 1024);
const HOST = process.argv[4] || '127.0.0.1';

const data = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) data[i] = i % 251;

const chunks = [];
let finished = false;
const client = net.connect({ port: PORT, host: HOST, allowHalfOpen: true }, () => {
  // One big write: Node buffers what the kernel does not take yet.
  client.end(data);
});
client.on('finish', () => { finished = true; });
client.on('data', (d) => chunks.push(d));
client.on('end', () => {
  const back = Buffer.concat(chunks);
  if (!finished) {
    console.log('server ended before our FIN');
    process.exitCode = 1;
  } else if (back.length !== SIZE) {
    console.log('echoed ' + back.length + ' bytes, expected ' + SIZE);
    process.exitCode = 1;
  } else if (!back.equals(data)) {
    console.log('echoed ' + SIZE + ' bytes, but they differ');
    process.exitCode = 1;
  } else {
    console.log('echoed ' + SIZE + ' bytes, byte-exact');
  }
});
client.on('error', (err) => {
  console.log('error: ' + err.message);
  process.exitCode = 1;
});
