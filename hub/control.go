package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toyhub/toyhub/web"
)

// The control socket carries one JSON request and one JSON response per
// connection. Only the hub's own user (or root) may use it: the socket is
// mode 0600 inside the 0700 data directory, and the hub also checks the
// peer's credentials, so a mistake in directory permissions does not open
// it to others.

type controlRequest struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

type controlResponse struct {
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Control operations and their arguments and results.
const (
	OpDeviceAdd      = "device.add"
	OpDeviceList     = "device.list"
	OpDeviceRevoke   = "device.revoke"
	OpLink           = "link"
	OpUnlink         = "unlink"
	OpStatus         = "status"
	OpPairOpen       = "pair.open"
	OpInviteCreate   = "invite.create"
	OpInviteList     = "invite.list"
	OpInviteRevoke   = "invite.revoke"
	OpAuditList      = "audit.list"
	OpSetupLink      = "setup.link"
	OpResetPassword  = "user.reset-password"
	OpCheckRun       = "check.run"
	OpCheckLatest    = "check.latest"
	OpBackupSnapshot = "backup.snapshot"
	OpBackupDone     = "backup.done"
	OpShutdown       = "shutdown"
	OpAuditVerify    = "audit.verify"
	OpDeviceSet      = "device.set"
	OpDeviceRemove   = "device.remove"
	OpMessagesList   = "messages.list"
	OpMessagesDelete = "messages.delete"
	OpMute           = "mute"
	OpUnmute         = "unmute"
	OpPending        = "links.pending"
	OpRecord         = "audit.record" // the CLI records what it did (an export) in the audit log
	OpWipe           = "wipe"
)

// RemoveArgs remove a device for good.
type RemoveArgs struct {
	Name         string `json:"name"`
	KeepMessages bool   `json:"keep_messages"`
}

// IDsArgs name messages.
type IDsArgs struct {
	IDs []string `json:"ids"`
}

// VerifyResult is the audit log's verification.
type VerifyResult struct {
	Entries int    `json:"entries"`
	Problem string `json:"problem,omitempty"`
}

// opTimeout bounds a control request; a security check with a network
// scan takes minutes.
func opTimeout(op string) time.Duration {
	if op == OpCheckRun || op == OpBackupSnapshot {
		return 10 * time.Minute
	}
	return 30 * time.Second
}

// SetupLinkResult is a new one-time setup link.
type SetupLinkResult struct {
	Link string `json:"link"`
}

// ResetArgs sets an account's password from the hub's console.
type ResetArgs struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// PairArgs opens a pairing window for the toy with this label code.
type PairArgs struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// PairResult says until when the hub waits for the toy.
type PairResult struct {
	Expires time.Time `json:"expires"`
}

// InviteArgs describes an invite to create.
type InviteArgs struct {
	Name    string   `json:"name"`
	Role    string   `json:"role"`
	Toys    []string `json:"toys"`    // names
	Expires string   `json:"expires"` // a duration such as 72h; empty: the default

	by web.Actor // who asked, for the audit log; empty from the console
}

// InviteResult is a new invite. Its secret is in Link and File and is not
// kept by the hub, so this is the only time it can be read.
type InviteResult struct {
	ID     string `json:"id"`
	Secret string `json:"-"` // for the web app's link; the CLI has it in Link and File
	Role   string `json:"role"`
	// WebLink opens the invite in a browser, to make a web account (the
	// only way for a parent's invite); empty when the web app is off.
	WebLink string    `json:"web_link,omitempty"`
	Link    string    `json:"link"`
	File    string    `json:"file"`
	Expires time.Time `json:"expires"`
}

// InviteView describes an invite to a parent.
type InviteView struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Toys    []string  `json:"toys"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	State   string    `json:"state"` // open, used, expired, revoked
	Device  string    `json:"device,omitempty"`
}

// IDArgs names an invite.
type IDArgs struct {
	ID string `json:"id"`
}

// CountArgs bounds a listing.
type CountArgs struct {
	Count int `json:"count"`
}

// AddDeviceArgs enrolls a device for a CSR made on the admin's side: the
// private key never passes through the socket.
type AddDeviceArgs struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	CSR  string `json:"csr"`
}

// AddDeviceResult is what a device bundle is made of.
type AddDeviceResult struct {
	Device        DeviceView `json:"device"`
	CertPEM       string     `json:"cert"`
	CAPEM         string     `json:"ca"`
	CAFingerprint string     `json:"ca_fingerprint"`
	Hub           []string   `json:"hub"`
	Protocol      int        `json:"protocol"`
}

// DeviceView describes a device to an admin.
type DeviceView struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Revoked  bool      `json:"revoked"`
	Online   bool      `json:"online"`
}

// NameArgs names one device.
type NameArgs struct {
	Name string `json:"name"`
}

// LinkArgs names two devices.
type LinkArgs struct {
	A string `json:"a"`
	B string `json:"b"`
}

// StatusResult describes the running hub.
type StatusResult struct {
	Version       string   `json:"version"`
	MQTTAddr      string   `json:"mqtt_addr"`
	Hub           []string `json:"hub"`
	CAFingerprint string   `json:"ca_fingerprint"`
	Devices       int      `json:"devices"`
	Online        int      `json:"online"`
	Schema        int      `json:"schema"`
}

type controlServer struct {
	h    *Hub
	path string
	ln   net.Listener
	wg   sync.WaitGroup
}

func listenControl(h *Hub, path string) (*controlServer, error) {
	// The data directory lock is held, so a socket left here is stale.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("hub: control socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("hub: control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("hub: control socket %s: %w", path, err)
	}
	cs := &controlServer{h: h, path: path, ln: ln}
	cs.wg.Add(1)
	go cs.serve()
	return cs, nil
}

func (cs *controlServer) serve() {
	defer cs.wg.Done()
	for {
		c, err := cs.ln.Accept()
		if err != nil {
			return
		}
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			cs.serveConn(c.(*net.UnixConn))
		}()
	}
}

func (cs *controlServer) close() {
	cs.ln.Close()
	cs.wg.Wait()
	os.Remove(cs.path)
}

// peerUID returns the user ID of the process at the other end.
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if credErr != nil {
		return -1, credErr
	}
	return int(cred.Uid), nil
}

func (cs *controlServer) serveConn(c *net.UnixConn) {
	defer c.Close()
	uid, err := peerUID(c)
	if err != nil || (uid != os.Geteuid() && uid != 0) {
		cs.h.log.Warn("Control connection refused", "uid", uid)
		return
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var req controlRequest
	if err := json.NewDecoder(io.LimitReader(c, 1<<20)).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(controlResponse{Error: "bad request: " + err.Error()})
		return
	}
	c.SetDeadline(time.Now().Add(opTimeout(req.Op) + 5*time.Second))
	ctx, cancel := context.WithTimeout(cs.h.ctx, opTimeout(req.Op))
	defer cancel()
	result, err := cs.h.control(ctx, req.Op, req.Args)
	var resp controlResponse
	if err != nil {
		resp.Error = err.Error()
	} else if resp.Result, err = json.Marshal(result); err != nil {
		resp = controlResponse{Error: err.Error()}
	}
	json.NewEncoder(c).Encode(resp)
}

// ErrHubNotRunning means nothing answers on the control socket.
var ErrHubNotRunning = errors.New("the hub is not running")

// Call sends one control request to the hub serving dataDir and decodes
// its result into result (which may be nil).
func Call(dataDir, op string, args, result any) error {
	path := ControlSocket(dataDir)
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ECONNREFUSED) {
			return fmt.Errorf("%w (no control socket at %s); start it with 'toyhub serve --data %s'", ErrHubNotRunning, path, dataDir)
		}
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("control socket %s: permission denied; run this as the hub's user", path)
		}
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(opTimeout(op) + 30*time.Second))
	req := controlRequest{Op: op}
	if args != nil {
		if req.Args, err = json.Marshal(args); err != nil {
			return err
		}
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	var resp controlResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return fmt.Errorf("control socket %s: no answer (was the connection refused? run this as the hub's user): %w", path, err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	if result != nil {
		return json.Unmarshal(resp.Result, result)
	}
	return nil
}
