// Package certs holds the household's certificate authority and everything
// built on it: the hub's server certificate, short-lived device
// certificates, device bundles and the TLS policy both ends use.
//
// Every key is ECDSA P-256, because the TLS stacks on toys (mbedTLS and
// similar) verify P-256 but not Ed25519. Private keys are written with mode
// 0600 through an atomic rename, so a crash leaves either the old file or
// the new one. certs knows nothing of MQTT, HTTP or the store; callers
// decide who may get a certificate. Values are safe for concurrent use once
// built; the CA's key never leaves the hub's data directory.
package certs
