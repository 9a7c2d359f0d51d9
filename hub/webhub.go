package hub

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/backup"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web"
	"github.com/toyhub/toyhub/wire"
)

// webHub is the hub as the web app sees it (web.Hub): what a person does
// in a browser goes through the same message path, links and enrollment
// as what a device does over MQTT.
type webHub struct{ h *Hub }

var _ web.Hub = webHub{}

func (w webHub) Online(id string) bool { return w.h.router.online(id) }

func (w webHub) NewDeviceID() string { return wire.NewDeviceID() }

// Send stores a recording made in the browser as a message from the
// account's device, exactly as an MQTT upload would (the same checks of
// format and contacts, the same durable commit), then announces it.
func (w webHub) Send(ctx context.Context, from string, to []string, wav []byte) (string, error) {
	h := w.h
	if int64(len(wav)) > h.cfg.MaxMessageBytes {
		return "", fmt.Errorf("%w: the recording is too long", web.ErrBadAudio)
	}
	info, err := wire.ParseWAV(wav, int64(len(wav)))
	if err != nil {
		return "", fmt.Errorf("%w: %v", web.ErrBadAudio, err)
	}
	id := wire.NewMessageID()
	spec := store.UploadSpec{ID: id.String(), Sender: from, To: to, Format: wire.FormatWAV, Size: int64(len(wav)),
		SHA256: sha256.Sum256(wav), ChunkSize: h.cfg.MaxChunk}
	up, err := h.store.StartUpload(ctx, spec)
	if err != nil {
		return "", err
	}
	n := spec.Chunks()
	results := make(chan store.ChunkResult, n)
	for seq := range n {
		end := min((seq+1)*spec.ChunkSize, len(wav))
		h.store.PutChunk(up, seq, wav[seq*spec.ChunkSize:end], seq == n-1, info.Duration(), func(r store.ChunkResult) { results <- r })
	}
	var last store.ChunkResult
	for range n {
		select {
		case r := <-results:
			if r.Err != nil {
				_ = h.store.DiscardUpload(context.WithoutCancel(ctx), from, id.String())
				return "", r.Err
			}
			if r.Committed {
				last = r
			}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	h.log.Info("Message committed", "device", from, "message", id.String(), "bytes", len(wav), "recipients", len(last.Recipients), "via", "web")
	h.metrics.MessageStored(int64(len(wav)))
	go h.router.announce(id.String(), last.Recipients)
	h.changes.Publish(append([]string{from}, last.Recipients...)...)
	return id.String(), nil
}

// Fetched records that an account's device has received a message (its
// audio was streamed to the browser in full).
func (w webHub) Fetched(device, id string) {
	w.h.store.MarkDelivered(device, id, func(st store.Status, changed bool, err error) {
		if changed {
			w.h.router.tell(st)
			w.h.changes.Publish(st.Sender, st.Recipient)
			w.h.metrics.MessageDelivered()
		}
	})
}

// Played records that a message was played in the browser, and tells its
// sender, as a toy's "played" does.
func (w webHub) Played(ctx context.Context, device, id string) error {
	st, changed, err := w.h.store.MarkPlayed(ctx, device, id)
	if err != nil {
		return err
	}
	if changed {
		w.h.router.tell(st)
		w.h.changes.Publish(st.Sender, st.Recipient)
	}
	return nil
}

// Pair opens a pairing window for a toy's label code.
func (w webHub) Pair(ctx context.Context, by web.Actor, code, name string) (time.Time, error) {
	c, err := wire.ParsePairingCode(code)
	if err != nil {
		return time.Time{}, err
	}
	return w.h.enroll.open(ctx, c, name, by)
}

// Revoke revokes a device and drops its connection.
func (w webHub) Revoke(ctx context.Context, id string) error {
	if err := w.h.store.RevokeDevice(ctx, id); err != nil {
		return err
	}
	dropped := w.h.disconnect(id)
	w.h.log.Info("Device revoked", "device", id, "disconnected", dropped, "via", "web")
	w.h.changes.Publish(id)
	w.h.configChanged()
	return nil
}

// Invite creates an invite for a family member, linked to toys (by ID).
func (w webHub) Invite(ctx context.Context, by web.Actor, name string, parent bool, toys []string) (web.Invite, error) {
	var names []string
	for _, id := range toys {
		d, err := w.h.store.Device(ctx, id)
		if err != nil || d.Kind != store.KindToy || d.Revoked() {
			return web.Invite{}, errors.New("one of the chosen toys is not there any more")
		}
		names = append(names, d.Name)
	}
	role := store.RoleFamily
	if parent {
		role = store.RoleParent
	}
	res, err := w.h.createInvite(ctx, InviteArgs{Name: name, Role: role, Toys: names, by: by})
	if err != nil {
		return web.Invite{}, err
	}
	w.h.configChanged()
	return web.Invite{ID: res.ID, Secret: res.Secret, DeviceLink: res.Link, Expires: res.Expires}, nil
}

// Security is the newest self-check and the history, for the web app.
func (w webHub) Security(ctx context.Context) (web.SecurityState, error) {
	st := web.SecurityState{Running: w.h.auditing.Load()}
	runs, err := w.h.store.Checks(ctx, 20, false)
	if err != nil {
		return st, err
	}
	for _, r := range runs {
		st.History = append(st.History, web.SecurityRun{At: r.At, Trigger: r.Trigger, High: r.High, Medium: r.Medium, Low: r.Low})
	}
	rep, ok, err := w.h.latestAudit(ctx)
	if err != nil || !ok {
		return st, err
	}
	rep.Name(w.h.auditNames(ctx))
	v := &web.SecurityReport{At: rep.At, Trigger: rep.Trigger, High: rep.Count(audit.High), Medium: rep.Count(audit.Medium),
		Low: rep.Count(audit.Low)}
	conv := func(f audit.Finding) web.SecurityFinding {
		sf := web.SecurityFinding{Severity: f.Severity.String(), Title: f.Title, Checked: f.Checked, Seen: f.Seen, Fix: f.Fix}
		if f.Host != "" {
			sf.Where = net.JoinHostPort(f.Host, strconv.Itoa(f.Port))
		}
		return sf
	}
	for _, f := range rep.Problems() {
		v.Problems = append(v.Problems, conv(f))
	}
	for _, f := range rep.Findings {
		if f.Severity == audit.Info {
			v.Passed = append(v.Passed, conv(f))
		}
	}
	if n := rep.Network; n != nil {
		v.Network = fmt.Sprintf("%d addresses (%s), %d probes in %s", n.Addresses, strings.Join(n.Targets, ", "), n.Probes, n.Took.Round(time.Second))
		if n.Stopped != "" {
			v.Network += "; " + n.Stopped
		}
	}
	st.Latest = v
	return st, nil
}

// ErrCheckRunning means a self-check is running already.
var ErrCheckRunning = errors.New("a security check is running already; its results appear when it ends")

// RunSecurity starts a self-check in the background.
func (w webHub) RunSecurity(network bool) error {
	h := w.h
	if h.auditing.Load() {
		return ErrCheckRunning
	}
	h.auditing.Store(true) // so that the page it leads to says so
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Minute)
		defer cancel()
		if _, err := h.runAudit(ctx, "manual", AuditArgs{Network: network}); err != nil && h.ctx.Err() == nil {
			h.log.Error("Security check failed", "trigger", "web", "error", err)
			h.auditing.Store(false)
			h.changes.Publish()
		}
	}()
	return nil
}

// Remove removes a device for good.
func (w webHub) Remove(ctx context.Context, by web.Actor, id string, keepMessages bool) error {
	return w.h.removeDevice(ctx, id, keepMessages, by)
}

// DeleteMessages deletes messages for good.
func (w webHub) DeleteMessages(ctx context.Context, by web.Actor, ids []string) (int, error) {
	return w.h.deleteMessages(ctx, ids, by, "deleted in the web app")
}

// Wipe deletes everything once the owner's password is confirmed.
func (w webHub) Wipe(ctx context.Context, by web.Actor, login, password string) error {
	if _, err := w.h.checkOwner(ctx, login, password); err != nil {
		w.h.store.Audit(store.Event{Kind: store.EvWipeRefused, User: by.User, Remote: by.Remote})
		return err
	}
	w.h.requestWipe(by)
	return nil
}

// Export writes the household's archive, in the hub's own process.
func (w webHub) Export(ctx context.Context, by web.Actor, out io.Writer, pass []byte) (int, error) {
	var dst io.Writer = out
	var enc *backup.Encrypter
	var err error
	if len(pass) > 0 {
		if enc, err = backup.NewEncrypter(out, pass, backup.Header{Kind: "export", Schema: store.SchemaVersion()}); err != nil {
			return 0, err
		}
		dst = enc
	}
	n, err := Export(ctx, w.h.store, dst, nil)
	if err == nil && enc != nil {
		err = enc.Close()
	}
	if err != nil {
		return n, err
	}
	kind := map[bool]string{true: "encrypted", false: "plain"}[enc != nil]
	w.h.store.Audit(store.Event{Kind: store.EvExport, User: by.User, Remote: by.Remote, Detail: fmt.Sprintf("%s, %d messages, web", kind, n)})
	return n, nil
}

// SetSettings changes a device's settings.
func (w webHub) SetSettings(ctx context.Context, by web.Actor, id string, st store.Settings) error {
	if err := w.h.store.SetDeviceSettings(ctx, id, st); err != nil {
		return err
	}
	w.h.store.Audit(store.Event{Kind: store.EvSettingsChanged, User: by.User, Device: id, Remote: by.Remote,
		Detail: fmt.Sprintf("retention %s, quiet %s, daily limit %d", FormatRetention(st.RetentionDays), FormatQuiet(st), st.DailyLimit)})
	w.h.configChanged()
	return nil
}

// LoginFailed counts a failed web login for the metrics.
func (w webHub) LoginFailed() { w.h.metrics.LoginFailed() }

// ConfigChanged runs the security self-check again soon, and tells the
// live pages showing these devices.
func (w webHub) ConfigChanged(devices ...string) {
	w.h.configChanged()
	if len(devices) > 0 {
		w.h.changes.Publish(devices...)
	}
}

// Watch reports changes that pages showing these devices should reflect.
func (w webHub) Watch() (<-chan []string, func()) { return w.h.changes.Watch() }

// linkParents links a newly paired toy to the parents' accounts, so that
// it can send to them and they to it.
func (h *Hub) linkParents(ctx context.Context, toy string) {
	users, err := h.store.Users(ctx)
	if err != nil {
		h.log.Error("Parents not linked", "device", toy, "error", err)
		return
	}
	for _, u := range users {
		if (u.Role == store.RoleOwner || u.Role == store.RoleParent) && u.DeviceID != "" {
			if err := h.store.Link(ctx, toy, u.DeviceID); err != nil {
				h.log.Error("Parent not linked", "device", toy, "user", u.ID, "error", err)
			}
		}
	}
}
