// Node's `tls` echo server for bench/compare.sh's TLS rows; Bun runs the
// same file for its `node:tls` figures.
//
//   node node_tls_echo.js PORT CERT KEY     (port 0 picks a free one)
//
// TLS 1.3 only, with Node's defaults otherwise: its cipher list (the
// client's first choice among them, TLS_AES_256_GCM_SHA384 for OpenSSL
// and rustls clients), its key exchange groups, and its session tickets
// (stateless, two after a full handshake), so resumed handshakes are what
// a default Node server does. Each socket is piped into itself, as in
// node_echo.js. Prints `listening on ADDR` once bound.
'use strict';
const fs = require('node:fs');
const tls = require('node:tls');

const [port, certFile, keyFile] = process.argv.slice(2);
if (!certFile || !keyFile) {
  console.error('usage: node_tls_echo.js PORT CERT KEY');
  process.exit(2);
}
const server = tls.createServer(
  {
    cert: fs.readFileSync(certFile),
    key: fs.readFileSync(keyFile),
    minVersion: 'TLSv1.3',
  },
  (sock) => {
    // A client that resets is not the server's failure.
    sock.on('error', () => {});
    sock.pipe(sock);
  },
);
// A handshake the client abandons (the generator stopping mid-handshake).
server.on('tlsClientError', () => {});
server.listen(Number(port || 0), '127.0.0.1', () => {
  const a = server.address();
  console.log(`listening on ${a.address}:${a.port}`);
});
