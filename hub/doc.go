// Package hub is the toyhub daemon: the composition root that builds the
// store, the household CA, the embedded mTLS MQTT broker with its
// authorization hook, the message router and the control socket from one
// Config, and runs them. Nothing imports hub.
//
// # Listeners
//
// The hub listens on exactly one network socket, the MQTT broker, which
// accepts only TLS 1.2+ connections presenting a client certificate from
// the household CA; and on a Unix socket in the data directory for the
// admin CLI. There is no plaintext listener and no anonymous or password
// login.
//
// # Authorization
//
// Every decision is taken on the hub, for every request: at the TLS
// handshake (the certificate must be known to the database and not
// revoked), at CONNECT (the client ID must equal the certificate's device
// ID), for every topic (wire.MayPublish, wire.MaySubscribe), and in the
// router for every message ID (only a message's recipients may read it).
//
// # Concurrency
//
// A Hub is started once and closed once. The router serves each device's
// requests on that device's connection goroutine; the store serialises
// writes through its group-commit writer.
package hub
