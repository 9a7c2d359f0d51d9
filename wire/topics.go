package wire

import (
	"strings"
)

// Prefix is the first part of every toyhub topic.
const Prefix = "toyhub/v1/"

// Upload kinds, published by a device under its up/ prefix.
const (
	UpHeader = "header"
	UpChunk  = "chunk"
	UpSync   = "sync"
	UpFetch  = "fetch"
	UpPlayed = "played"
	UpRenew  = "renew"
	UpCancel = "cancel"
	UpHeard  = "heard"
)

// Delivery kinds, published by the hub under a device's down/ prefix.
const (
	DownAck    = "ack"
	DownNotify = "notify"
	DownData   = "data"
	DownStatus = "status"
	DownCert   = "cert"
	DownLimits = "limits"
)

// UpTopic is the topic a device publishes kind to.
func UpTopic(deviceID, kind string) string {
	return Prefix + deviceID + "/up/" + kind
}

// DownTopic is the topic the hub publishes kind to for a device.
func DownTopic(deviceID, kind string) string {
	return Prefix + deviceID + "/down/" + kind
}

// DownFilter is the subscription that covers every delivery to a device.
func DownFilter(deviceID string) string {
	return Prefix + deviceID + "/down/#"
}

// ParseUpTopic splits an upload topic into its device ID and kind. It
// reports false for anything that is not exactly toyhub/v1/<id>/up/<kind>.
func ParseUpTopic(topic string) (deviceID, kind string, ok bool) {
	rest, ok := strings.CutPrefix(topic, Prefix)
	if !ok {
		return "", "", false
	}
	deviceID, rest, ok = strings.Cut(rest, "/")
	if !ok || !ValidDeviceID(deviceID) {
		return "", "", false
	}
	kind, ok = strings.CutPrefix(rest, "up/")
	if !ok || kind == "" || strings.ContainsAny(kind, "/+#") {
		return "", "", false
	}
	return deviceID, kind, true
}

// MayPublish reports whether a device may publish to topic: only under its
// own up/ prefix, and never with wildcards.
func MayPublish(deviceID, topic string) bool {
	id, _, ok := ParseUpTopic(topic)
	return ok && id == deviceID
}

// MaySubscribe reports whether a device may subscribe to filter: only to
// its own down/ prefix (the whole of it, with #, or one kind). Filters that
// reach beyond it, such as "#", "$SYS/#", "+/..." or another device's
// prefix, are refused.
func MaySubscribe(deviceID, filter string) bool {
	rest, ok := strings.CutPrefix(filter, Prefix+deviceID+"/down/")
	if !ok || rest == "" {
		return false
	}
	if rest == "#" {
		return true
	}
	return !strings.ContainsAny(rest, "/+#")
}
