package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toyhub/toyhub/hub/datadir"
)

// ErrHubNotRunning means nothing answers on the control socket.
var ErrHubNotRunning = errors.New("the hub is not running")

// Call sends the operation to the hub serving dataDir and returns its
// result.
func (o Op[A, R]) Call(dataDir string, args A) (R, error) {
	var res R
	err := call(dataDir, o.name, o.timeout, args, &res)
	return res, err
}

func call(dataDir, op string, timeout time.Duration, args, result any) error {
	path := datadir.Dir{Path: dataDir}.ControlSocket()
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
	c.SetDeadline(time.Now().Add(timeout + 30*time.Second))
	req := request{Op: op}
	if req.Args, err = json.Marshal(args); err != nil {
		return err
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	var resp response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return fmt.Errorf("control socket %s: no answer (was the connection refused? run this as the hub's user): %w", path, err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	return json.Unmarshal(resp.Result, result)
}
