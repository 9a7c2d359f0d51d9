// Package web is the hub's HTTPS web app for parents and grandparents:
// its pages, its sessions and its logins. It knows nothing of MQTT or of
// the hub's parts: it reads what it shows from the store (Store), and
// every change a person makes goes through the household service
// (Household), both small interfaces defined here.
//
// # Security
//
// Every route is in one table (routes.go) with the access it needs, and
// every request goes through its guard, on the hub: a session for any
// page but the public ones, a parent for the parents' pages, a second
// factor where the owner requires one. One wrapper (secure.go) applies
// the security headers and refuses cross-origin state changes on every
// route. Pages carry no content in their live updates (events.go): a page
// fetches itself again, authorized as any request.
//
// # Files
//
// One file per page (home, toy, toys, family, security, audit, account,
// totp, export, wipe, setup, join, trust), and login.go, limiter.go and
// scan.go for logging in, its rate limits and reading a toy's label from
// a photo.
//
// # Concurrency
//
// A Server is safe for concurrent use; Close ends the live streams.
package web
