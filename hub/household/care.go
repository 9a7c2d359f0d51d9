package household

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/toyhub/toyhub/hub/archive"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/datadir"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
)

// Export writes everything the household has (every message as a WAV
// file, an index, the people and devices, the audit log) to w as a zip
// archive, encrypted with passphrase unless it is empty.
func (s *Service) Export(ctx context.Context, by Actor, w io.Writer, passphrase []byte) (int, error) {
	u, err := s.allow(ctx, by, parent)
	if err != nil {
		return 0, err
	}
	if len(passphrase) > 0 {
		if err := s.checkPassword(ctx, string(passphrase), "passphrase", u.Login, u.Email); err != nil {
			return 0, err
		}
	}
	n, err := archive.WriteExport(ctx, s.st, w, passphrase, nil)
	if err != nil {
		return n, err
	}
	s.Exported(by, n, len(passphrase) > 0, "web")
	return n, nil
}

// Exported records an export in the audit log: one the web app streamed,
// or one the console wrote to file beside the hub.
func (s *Service) Exported(by Actor, messages int, encrypted bool, where string) {
	kind := map[bool]string{true: "encrypted", false: "plain"}[encrypted]
	s.audit(by, store.EvExport, "", fmt.Sprintf("%s, %d messages, %s", kind, messages, where))
}

// Snapshot copies the database consistently, for a backup the console
// writes while the hub keeps serving.
func (s *Service) Snapshot(ctx context.Context, by Actor) (archive.Snapshot, error) {
	if _, err := s.allow(ctx, by, owner); err != nil {
		return archive.Snapshot{}, err
	}
	return archive.TakeSnapshot(ctx, s.st, s.dir(), s.cfg.Version)
}

// BackupDone records that a backup was taken.
func (s *Service) BackupDone(ctx context.Context, by Actor) error {
	if _, err := s.allow(ctx, by, owner); err != nil {
		return err
	}
	s.log.Info("Backup taken")
	s.audit(by, store.EvBackupDone, "", "")
	return archive.BackupTaken(ctx, s.st, s.cfg.Now())
}

// DailyBackup writes the daily backup.
func (s *Service) DailyBackup(ctx context.Context, o archive.DailyOptions) error {
	if _, err := archive.Daily(ctx, s.st, s.dir(), o, s.log); err != nil {
		if ctx.Err() == nil {
			s.log.Error("Daily backup failed", "dir", o.Dir, "error", err)
			s.st.Audit(store.Event{Kind: store.EvBackupFailed, Detail: err.Error()})
		}
		return err
	}
	s.st.Audit(store.Event{Kind: store.EvBackupDone})
	return nil
}

func (s *Service) dir() datadir.Dir {
	return datadir.Dir{Path: s.d.DataDir, MasterKeyPath: s.d.MasterKey}
}

// Wipe deletes everything (the household's data, keys and CA) once the
// owner's password is confirmed: the hub stops, and starts anew.
func (s *Service) Wipe(ctx context.Context, by Actor, login, pw string) error {
	if _, err := s.allow(ctx, by, owner); err != nil {
		return err
	}
	u, err := s.st.UserByLogin(ctx, login)
	if err == nil && u.Role == store.RoleOwner && (by.console() || u.ID == by.User) {
		if ok, verr := password.Verify(pw, u.PasswordHash); verr == nil && ok {
			s.log.Warn("Deleting everything, as the owner asked", "user", u.ID, "remote", by.Remote)
			s.d.Stopper.Wipe()
			return nil
		}
	}
	s.audit(by, store.EvWipeRefused, "", "")
	return refuse("that is not the owner's name and password")
}

// RunCheck runs the security self-check now and returns its report.
func (s *Service) RunCheck(ctx context.Context, by Actor, network bool, targets []string) (audit.Report, error) {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return audit.Report{}, err
	}
	s.audit(by, store.EvCheckStarted, "", checkDetail(network))
	return s.d.Checks.Run(ctx, "manual", network, targets)
}

// StartCheck starts the security self-check in the background; pages hear
// of its end as a change.
func (s *Service) StartCheck(ctx context.Context, by Actor, network bool) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	if err := s.d.Checks.Begin(network); err != nil {
		return refuseErr(err, "%v", err)
	}
	s.audit(by, store.EvCheckStarted, "", checkDetail(network))
	return nil
}

func checkDetail(network bool) string {
	if network {
		return "hub and home network"
	}
	return "hub"
}

// AuditLog returns the newest n entries of the audit log, newest first.
func (s *Service) AuditLog(ctx context.Context, n int) ([]store.Event, error) {
	return s.st.AuditLog(ctx, max(1, min(n, 10000)))
}

// VerifyAudit walks the audit log's hash chain; problem says where it
// breaks, if it does.
func (s *Service) VerifyAudit(ctx context.Context) (entries int, problem string, err error) {
	n, err := s.st.VerifyAudit(ctx)
	var p *store.AuditProblem
	if errors.As(err, &p) {
		s.log.Warn("Audit log does not verify", "entry", p.ID, "reason", p.Reason)
		return n, p.Error(), nil
	}
	return n, "", err
}

// Stop stops the hub, as the console asks.
func (s *Service) Stop(ctx context.Context, by Actor) error {
	if _, err := s.allow(ctx, by, owner); err != nil {
		return err
	}
	s.log.Info("Stopping on request from the console")
	s.d.Stopper.Stop()
	return nil
}
