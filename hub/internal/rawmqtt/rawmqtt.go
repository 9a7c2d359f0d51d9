// Package rawmqtt frames MQTT 3.1.1 packets by hand, for tests and the
// benchmark's attackers, which must send what no client library would.
package rawmqtt

import "encoding/binary"

// Packet frames a packet: the fixed header's first byte, the remaining
// length, and body.
func Packet(first byte, body []byte) []byte {
	p := []byte{first}
	for n := len(body); ; {
		b := byte(n % 128)
		if n /= 128; n > 0 {
			b |= 0x80
		}
		p = append(p, b)
		if n == 0 {
			break
		}
	}
	return append(p, body...)
}

// String is a length-prefixed UTF-8 string.
func String(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// Connect is a CONNECT with a clean session and a 30-second keepalive.
func Connect(clientID string) []byte {
	return Packet(0x10, append(append(String("MQTT"), 4, 0x02, 0, 30), String(clientID)...))
}

// Publish is a QoS 0 PUBLISH.
func Publish(topic string, payload []byte) []byte {
	return Packet(0x30, append(String(topic), payload...))
}
