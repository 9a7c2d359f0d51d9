package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// measureMosquitto runs the same closed loop through Mosquitto, a relay
// that stores nothing, configured with the same mutual TLS (ECDSA P-256,
// client certificates required): the reference the hub is compared with.
func measureMosquitto(bin, dir string, pairs int, wav []byte, duration time.Duration) (Result, error) {
	srv, err := newMosqServer("mosquitto", bin, dir)
	if err != nil {
		return Result{}, err
	}
	defer srv.stop()
	cmd := srv.cmd
	dial := func(id string, onMsg paho.MessageHandler) (paho.Client, error) {
		tc, err := srv.tlsFor(id)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.connect(ctx, id, tc, onMsg)
	}

	got := make([]chan struct{}, pairs)
	pubs := make([]paho.Client, pairs)
	for i := range pairs {
		got[i] = make(chan struct{}, 1)
		b, err := dial(fmt.Sprintf("friend-%d", i), func(paho.Client, paho.Message) { got[i] <- struct{}{} })
		if err != nil {
			return Result{}, err
		}
		defer b.Disconnect(0)
		if t := b.Subscribe(fmt.Sprintf("bench/%d", i), 1, nil); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return Result{}, fmt.Errorf("subscribe: %v", t.Error())
		}
		if pubs[i], err = dial(fmt.Sprintf("toy-%d", i), nil); err != nil {
			return Result{}, err
		}
		defer pubs[i].Disconnect(0)
	}
	c0 := markCPU(cmd.Process.Pid)
	lat, err := closedLoop(pairs, duration, func(i int) (time.Duration, error) {
		t0 := time.Now()
		pubs[i].Publish(fmt.Sprintf("bench/%d", i), 1, false, wav)
		select {
		case <-got[i]:
			return time.Since(t0), nil
		case <-time.After(30 * time.Second):
			return 0, errors.New("mosquitto did not deliver within 30 s")
		}
	})
	if err != nil {
		return Result{}, err
	}
	c1 := markCPU(cmd.Process.Pid)
	if c1.err != nil {
		return Result{}, c1.err
	}
	return result(fmt.Sprintf("mosquitto: %d pair(s), relay only", pairs), lat, len(wav), duration, c1.since(c0)), nil
}
