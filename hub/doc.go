// Package hub is the toyhub daemon's composition root: from one Config it
// builds every part of the hub, each in its own package and each from
// what it needs (the store, the CA, its slice of the configuration, a
// logger, and small interfaces it defines), never the whole hub; starts
// them; and stops them in the reverse order. Nothing imports hub but the
// toyhub command.
//
// # Parts
//
//   - household: every operation a family does (devices, contacts,
//     invites, settings, messages, accounts, exports, backups, wiping),
//     written once for every door;
//   - broker: the mutual-TLS MQTT broker, its authorization hook and the
//     router of the wire protocol, and the message path;
//   - enroll: the enrollment endpoint (pairing and invites) and the issuer
//     of every device certificate;
//   - selfcheck: the security self-check, on a schedule and on demand;
//   - control: the console's protocol over a Unix socket; console.go binds
//     each of its operations to the household service;
//   - web: the web app, whose door webdoor.go adapts to the household;
//   - remote: remote access for family far away, one certificate-gated
//     port that remotedoor.go hands to the broker, the enrollment
//     endpoint (joining only) and the web app;
//   - discovery, health, archive, servercert, lan, connlimit, live and
//     datadir: mDNS, metrics and systemd, backups and exports, the TLS
//     certificate, the LAN, per-address limits, live pages, and the data
//     directory's files.
//
// # Listeners
//
// listeners.go binds every socket, in one place: the broker (mutual TLS;
// every client needs a household certificate), the enrollment endpoint
// (TLS 1.3, server authentication only), the web app (HTTPS), optionally
// a plain-HTTP listener that only redirects to it, and /healthz and
// /metrics in plain HTTP on loopback only; and the console's Unix socket
// in the data directory, which only the hub's user can open. While remote
// access is on, remotedoor.go also listens on the remote port (TLS 1.3: a
// household certificate, or an open invite's page; see package remote).
// It answers from anywhere and opens nothing beyond the LAN: the only
// thing it asks of anyone is a port mapping from the home router, and
// only when a parent chooses it. There is no plaintext listener of
// anything else, and no anonymous or password login on the broker.
//
// # Authorization
//
// Every decision is taken on the hub, for every request: at the TLS
// handshake and at CONNECT (package broker), for every topic and message
// ID (the router), for every page and action (the web app's route table),
// and for every household operation (the household service, whichever
// door the request came through).
//
// # Concurrency
//
// A Hub is started once and closed once. Its parts run their own
// goroutines, which end before Close returns.
package hub
