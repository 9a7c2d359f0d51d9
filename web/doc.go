// Package web is the hub's HTTPS web app for parents and grandparents. It
// uses the store and the CA through small interfaces it defines, and it
// knows nothing of MQTT.
//
// This is its first part: the password policy and password hashing, which
// follow NIST SP 800-63B rather than composition rules. Every page, the
// sessions and the roles come with the rest of the web app.
package web
