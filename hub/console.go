package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/hub/household"
	"github.com/toyhub/toyhub/hub/remote"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// console is the console's door: every operation of the control protocol
// (package control, which declares them) bound to the household service.
// Each handler only translates: names to IDs, and the service's types to
// the protocol's. The console may do anything (household.Console): using
// the control socket takes the hub's user on the hub itself.
func (h *Hub) console() *control.Mux {
	svc, by := h.service, household.Console
	m := &control.Mux{}
	type none = control.None

	// Devices.
	control.Handle(m, control.DeviceAdd, func(ctx context.Context, a control.AddDeviceArgs) (control.AddDeviceResult, error) {
		d, err := svc.AddDevice(ctx, by, a.Name, a.Kind, a.CSR)
		return control.AddDeviceResult{Device: deviceView(d.Device), CertPEM: d.CertPEM, CAPEM: d.CAPEM,
			CAFingerprint: d.CAFingerprint, Hub: d.Hub, Protocol: wire.Version}, err
	})
	control.Handle(m, control.DeviceList, func(ctx context.Context, _ none) ([]control.DeviceView, error) {
		ds, err := svc.Devices(ctx)
		return convert(ds, deviceView), err
	})
	control.Handle(m, control.DeviceRevoke, func(ctx context.Context, a control.NameArgs) (control.DeviceView, error) {
		return withDevice(ctx, svc, a.Name, func(id string) (control.DeviceView, error) {
			d, err := svc.Revoke(ctx, by, id)
			return deviceView(d), err
		})
	})
	control.Handle(m, control.DeviceRemove, func(ctx context.Context, a control.RemoveArgs) (none, error) {
		return withDevice(ctx, svc, a.Name, func(id string) (none, error) { return none{}, svc.Remove(ctx, by, id, a.KeepMessages) })
	})
	control.Handle(m, control.DeviceSet, func(ctx context.Context, a control.SettingsArgs) (control.SettingsView, error) {
		return withDevice(ctx, svc, a.Name, func(id string) (control.SettingsView, error) {
			var c household.Change
			if a.Retention != "" {
				c.Retention = &a.Retention
			}
			if a.Quiet != "" {
				c.Quiet = &a.Quiet
			}
			if a.DailyLimit != nil {
				n := strconv.Itoa(*a.DailyLimit)
				c.DailyLimit = &n
			}
			st, err := svc.SetSettings(ctx, by, id, c)
			limit, _ := strconv.Atoi(st.DailyLimit)
			return control.SettingsView{Name: a.Name, Retention: st.Retention, Quiet: st.Quiet, DailyLimit: limit, Kept: st.Kept}, err
		})
	})
	control.Handle(m, control.PairOpen, func(ctx context.Context, a control.PairArgs) (control.PairResult, error) {
		until, err := svc.Pair(ctx, by, a.Code, a.Name)
		return control.PairResult{Expires: until}, err
	})

	// Contacts.
	pair := func(f func(ctx context.Context, a, b string) error) func(context.Context, control.LinkArgs) (none, error) {
		return func(ctx context.Context, a control.LinkArgs) (none, error) {
			da, err := byName(ctx, svc, a.A)
			if err != nil {
				return none{}, err
			}
			db, err := byName(ctx, svc, a.B)
			if err != nil {
				return none{}, err
			}
			return none{}, f(ctx, da, db)
		}
	}
	control.Handle(m, control.Link, pair(func(ctx context.Context, a, b string) error { return svc.Link(ctx, by, a, b) }))
	control.Handle(m, control.Unlink, pair(func(ctx context.Context, a, b string) error { return svc.Unlink(ctx, by, a, b) }))
	control.Handle(m, control.Mute, pair(func(ctx context.Context, a, b string) error { return svc.Mute(ctx, by, a, b, true) }))
	control.Handle(m, control.Unmute, pair(func(ctx context.Context, a, b string) error { return svc.Mute(ctx, by, a, b, false) }))
	control.Handle(m, control.Pending, func(ctx context.Context, _ none) ([]control.PendingView, error) {
		ps, err := svc.Pending(ctx)
		return convert(ps, func(p household.Pending) control.PendingView {
			return control.PendingView{Person: p.PersonName, Toy: p.ToyName}
		}), err
	})

	// Invites.
	control.Handle(m, control.InviteCreate, func(ctx context.Context, a control.InviteArgs) (control.InviteResult, error) {
		if a.Role != "" && a.Role != store.RoleFamily && a.Role != store.RoleParent {
			return control.InviteResult{}, fmt.Errorf("role %q: want family or parent", a.Role)
		}
		r := household.InviteRequest{Name: a.Name, Parent: a.Role == store.RoleParent, Expires: a.Expires}
		for _, name := range a.Toys {
			d, err := svc.DeviceByName(ctx, name)
			if err != nil {
				return control.InviteResult{}, deviceHint(err)
			}
			if d.Kind != string(store.KindToy) {
				return control.InviteResult{}, fmt.Errorf("%q is not a toy", name)
			}
			r.Toys = append(r.Toys, d.ID)
		}
		inv, err := svc.CreateInvite(ctx, by, r)
		return control.InviteResult{ID: inv.ID, Role: inv.Role, WebLink: inv.WebLink, RemoteLink: inv.RemoteLink, Link: inv.Link, File: inv.File, Expires: inv.Expires}, err
	})
	control.Handle(m, control.InviteList, func(ctx context.Context, _ none) ([]control.InviteView, error) {
		invs, err := svc.Invites(ctx)
		return convert(invs, func(i household.Invite) control.InviteView { return control.InviteView(i) }), err
	})
	control.Handle(m, control.InviteRevoke, func(ctx context.Context, a control.IDArgs) (none, error) {
		err := svc.RevokeInvite(ctx, by, a.ID)
		if _, ok := errors.AsType[*household.Refusal](err); ok {
			err = fmt.Errorf("%w; see 'toyhub invite list'", err)
		}
		return none{}, err
	})

	// People.
	control.Handle(m, control.SetupLink, func(ctx context.Context, _ none) (control.SetupLinkResult, error) {
		link, err := svc.SetupLink(ctx, by)
		return control.SetupLinkResult{Link: link, Code: svc.CACode()}, err
	})
	control.Handle(m, control.ResetPassword, func(ctx context.Context, a control.ResetArgs) (none, error) {
		return none{}, svc.ResetPassword(ctx, by, a.Login, a.Password)
	})
	control.Handle(m, control.RemoveCode, func(ctx context.Context, a control.LoginArgs) (none, error) {
		return none{}, svc.RemoveCodeApp(ctx, by, a.Login)
	})

	// Remote access.
	control.Handle(m, control.RemoteEnable, func(ctx context.Context, a control.RemoteArgs) (control.RemoteView, error) {
		st, err := svc.EnableRemote(ctx, by, a.Host, a.Port, !a.NoMap)
		return consoleRemote(st), err
	})
	control.Handle(m, control.RemoteDisable, func(ctx context.Context, _ none) (none, error) {
		return none{}, svc.DisableRemote(ctx, by)
	})
	control.Handle(m, control.RemoteStatus, func(ctx context.Context, _ none) (control.RemoteView, error) {
		st, err := svc.RemoteStatus(ctx, by)
		return consoleRemote(st), err
	})

	// Messages.
	control.Handle(m, control.MessagesList, func(ctx context.Context, a control.NameArgs) ([]control.MessageView, error) {
		return withDevice(ctx, svc, a.Name, func(id string) ([]control.MessageView, error) {
			ms, err := svc.Messages(ctx, id)
			return convert(ms, func(m household.Message) control.MessageView { return control.MessageView(m) }), err
		})
	})
	control.Handle(m, control.MessagesDelete, func(ctx context.Context, a control.IDsArgs) (int, error) {
		n, err := svc.DeleteMessages(ctx, by, a.IDs)
		if err == nil && n == 0 {
			err = errors.New("no message has that ID; see 'toyhub messages --toy NAME'")
		}
		return n, err
	})

	// The self-check and the audit log.
	control.Handle(m, control.CheckRun, func(ctx context.Context, a control.AuditArgs) (control.AuditResult, error) {
		rep, err := svc.RunCheck(ctx, by, a.Network, a.Targets)
		return control.AuditResult{Report: rep, Names: h.checks.Names(ctx)}, err
	})
	control.Handle(m, control.CheckLatest, func(ctx context.Context, _ none) (control.AuditResult, error) {
		rep, ok, err := h.checks.Latest(ctx)
		if err != nil || !ok {
			return control.AuditResult{}, errors.Join(err, errors.New("no security check has run yet; run 'toyhub audit'"))
		}
		return control.AuditResult{Report: rep, Names: h.checks.Names(ctx)}, nil
	})
	control.Handle(m, control.AuditList, func(ctx context.Context, a control.CountArgs) ([]control.Event, error) {
		evs, err := svc.AuditLog(ctx, a.Count)
		return convert(evs, func(e store.Event) control.Event {
			return control.Event{ID: e.ID, At: e.At, Kind: string(e.Kind), Text: e.Kind.Text(), User: e.User, Device: e.Device, Remote: e.Remote, Detail: e.Detail}
		}), err
	})
	control.Handle(m, control.AuditVerify, func(ctx context.Context, _ none) (control.VerifyResult, error) {
		n, problem, err := svc.VerifyAudit(ctx)
		return control.VerifyResult{Entries: n, Problem: problem}, err
	})

	// Backups, exports and the hub itself.
	control.Handle(m, control.BackupSnapshot, func(ctx context.Context, _ none) (control.SnapshotResult, error) {
		s, err := svc.Snapshot(ctx, by)
		return control.SnapshotResult(s), err
	})
	control.Handle(m, control.BackupDone, func(ctx context.Context, _ none) (none, error) {
		return none{}, svc.BackupDone(ctx, by)
	})
	control.Handle(m, control.ExportDone, func(ctx context.Context, a control.ExportArgs) (none, error) {
		svc.Exported(by, a.Messages, a.Encrypted, a.File)
		return none{}, nil
	})
	control.Handle(m, control.Status, func(ctx context.Context, _ none) (control.StatusResult, error) {
		st, err := svc.Status(ctx)
		return control.StatusResult{Version: st.Version, MQTTAddr: st.Broker, Hub: st.Hub, CAFingerprint: st.CAFingerprint, CACode: st.CACode,
			Devices: st.Devices, Online: st.Online, Schema: st.Schema}, err
	})
	control.Handle(m, control.Wipe, func(ctx context.Context, a control.WipeArgs) (none, error) {
		return none{}, svc.Wipe(ctx, by, a.Login, a.Password)
	})
	control.Handle(m, control.Shutdown, func(ctx context.Context, _ none) (none, error) {
		return none{}, svc.Stop(ctx, by)
	})
	return m
}

func deviceView(d household.Device) control.DeviceView { return control.DeviceView(d) }

func convert[T, U any](ts []T, f func(T) U) []U {
	out := make([]U, 0, len(ts))
	for _, t := range ts {
		out = append(out, f(t))
	}
	return out
}

// byName finds a device by the name the family gave it.
func byName(ctx context.Context, svc *household.Service, name string) (string, error) {
	d, err := svc.DeviceByName(ctx, name)
	return d.ID, deviceHint(err)
}

// deviceHint adds to "no device is called" the command that lists them.
func deviceHint(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w; see 'toyhub device list'", err)
	}
	return err
}

// withDevice runs f on the device called name.
func withDevice[R any](ctx context.Context, svc *household.Service, name string, f func(id string) (R, error)) (R, error) {
	id, err := byName(ctx, svc, name)
	if err != nil {
		var zero R
		return zero, err
	}
	return f(id)
}

func consoleRemote(st remote.Status) control.RemoteView { return control.RemoteView(remoteView(st)) }
