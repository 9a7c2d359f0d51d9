// Package health says how the hub is doing, to the machine it runs on:
// Prometheus metrics and /healthz on a loopback-only plain-HTTP listener,
// and systemd's readiness and watchdog notifications. Nothing it serves
// names a person or holds a message.
//
// Counters are safe for concurrent use and cost nothing when metrics are
// off.
package health

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Counters count, since the hub started, what the metrics report.
type Counters struct {
	messagesStored    prometheus.Counter
	messagesDelivered prometheus.Counter
	messageBytes      prometheus.Counter
	handshakeFailures prometheus.Counter
	loginFailures     prometheus.Counter
}

// NewCounters makes the counters; a Server registers them.
func NewCounters() *Counters {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "toyhub", Name: name, Help: help})
	}
	return &Counters{
		messagesStored:    counter("messages_stored_total", "Messages committed to the store."),
		messagesDelivered: counter("messages_delivered_total", "Deliveries completed (a recipient fetched a whole message)."),
		messageBytes:      counter("message_bytes_total", "Bytes of committed messages."),
		handshakeFailures: counter("tls_handshake_failures_total", "Refused TLS handshakes and MQTT connections."),
		loginFailures:     counter("login_failures_total", "Failed web logins (wrong password or code)."),
	}
}

func (c *Counters) all() []prometheus.Collector {
	return []prometheus.Collector{c.messagesStored, c.messagesDelivered, c.messageBytes, c.handshakeFailures, c.loginFailures}
}

// MessageStored counts a committed message of size bytes.
func (c *Counters) MessageStored(size int64) {
	c.messagesStored.Inc()
	c.messageBytes.Add(float64(size))
}

// MessageDelivered counts a recipient that fetched a whole message.
func (c *Counters) MessageDelivered() { c.messagesDelivered.Inc() }

// HandshakeRefused counts a refused TLS handshake or MQTT connection.
func (c *Counters) HandshakeRefused() { c.handshakeFailures.Inc() }

// LoginFailed counts a failed web login (a wrong password or code).
func (c *Counters) LoginFailed() { c.loginFailures.Inc() }
