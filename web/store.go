package web

import (
	"context"
	"io"
	"time"

	"github.com/toyhub/toyhub/store"
)

// Store is what the web app reads of the hub's store to show its pages,
// and the sessions it keeps. Every change a person makes goes through
// the Household instead.
type Store interface {
	// The hub and its people.
	Space() (store.Space, error)
	SetupPending(ctx context.Context) (bool, error)
	UserByLogin(ctx context.Context, login string) (store.User, error)
	User(ctx context.Context, id string) (store.User, error)
	Users(ctx context.Context) ([]store.User, error)

	// Sessions and logging in, which are the web app's own.
	CreateSession(ctx context.Context, token, userID, remote string) error
	SessionUser(ctx context.Context, token string, idle, absolute time.Duration) (store.Session, store.User, error)
	Sessions(ctx context.Context, userID string) ([]store.Session, error)
	EndSession(ctx context.Context, tokenHash []byte) error
	EndUserSession(ctx context.Context, userID string, tokenHash []byte) error
	UseTOTPStep(ctx context.Context, id string, step int64) (bool, error)
	// Audit records what happens at the web app's door: logins, logouts,
	// refused requests.
	Audit(e store.Event)

	// Devices, contacts and messages.
	Device(ctx context.Context, id string) (store.Device, error)
	DeviceByName(ctx context.Context, name string) (store.Device, error)
	Devices(ctx context.Context) ([]store.Device, error)
	Contacts(ctx context.Context, id string) ([]string, error)
	LinksOf(ctx context.Context, id string) ([]store.LinkState, error)
	PendingLinks(ctx context.Context) ([]store.LinkState, error)
	DeviceSettings(ctx context.Context, id string) (store.Settings, error)
	Conversation(ctx context.Context, toy string, v store.Viewer, limit int) ([]store.MessageInfo, error)
	NextDeletions(ctx context.Context, toy string, limit int) ([]store.Deletion, error)
	OpenAudio(ctx context.Context, id, toy string, v store.Viewer) (store.Audio, error)
	WriteAudio(ctx context.Context, a store.Audio, w io.Writer) error
	InviteBySecret(ctx context.Context, secret string) (store.Invite, error)
	AuditLog(ctx context.Context, limit int) ([]store.Event, error)
	// Browsers' certificates, as the pages list them and the remote door
	// checks them on every request.
	BrowserCerts(ctx context.Context, user string) ([]store.BrowserCert, error)
	CheckBrowserCert(ctx context.Context, serial, user string) error
	// Meta and SetMeta keep the web app's own small facts, such as
	// whether an account has fetched the household CA.
	Meta(ctx context.Context, key string) ([]byte, error)
	SetMeta(ctx context.Context, key string, value []byte) error
}

var _ Store = (*store.Store)(nil)
