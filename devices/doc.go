// Package devices is the other end of the wire: the client that toys and
// family devices run, and the simulator built on it. It speaks the
// protocol of package wire over MQTT (paho) with mutual TLS, pinning the
// household CA from the device's bundle; it imports only wire and certs.
//
// A Client is one connection. Its methods are safe for concurrent use:
// incoming messages are sorted by the paho handler, which never blocks,
// into per-request channels. Anything lost on the way (a dropped
// connection, a full queue) is recovered by the protocol: uploads resume
// from the hub's Next, fetches are repeated, and a sync resends every
// pending notification.
package devices
