// Package web is the hub's HTTPS web app for parents and grandparents:
// its pages, its sessions and its logins. It knows nothing of MQTT or of
// the hub's parts: it reads what it shows from the store (Store), and
// every change a person makes goes through the household service
// (Household), both small interfaces defined here.
//
// # Security
//
// Every route is in one table (routes.go) with the access it needs and
// the body it may send, and every request goes through its guard, on the
// hub: the body bounded and any form parsed first, then a session for any
// page but the public ones, a parent for the parents' pages, a second
// factor where the owner requires one. Every guess at a secret (a
// password, a code, an invite or setup link) counts in a limiter of its
// own purpose (limiter.go), taken before the check; actions that change
// how an account logs in, or release or destroy everything, ask for the
// password again (reauth.go). One wrapper (secure.go) applies
// the security headers and refuses cross-origin state changes on every
// route. Pages carry no content in their live updates (events.go): a page
// fetches itself again, authorized as any request.
//
// # Files
//
// One file per page (home, toy, toys, family, security, audit, account,
// totp, export, wipe, setup, join, trust), and login.go, limiter.go,
// reauth.go and scan.go for logging in, the limits on guessing, proving
// it again, and reading a toy's label from a photo.
//
// # Concurrency
//
// A Server is safe for concurrent use; Close ends the live streams.
package web
