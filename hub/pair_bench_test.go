package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/toyhub/toyhub/wire"
)

// BenchmarkPairMessage is one 10-second recording from a toy to its
// linked partner in the same process as the hub: uploaded, committed,
// notified, fetched and confirmed played. It is for profiling the
// message path (-cpuprofile, -memprofile); make bench measures it beside
// Mosquitto and the store's ceiling.
func BenchmarkPairMessage(b *testing.B) {
	th := startHub(b)
	a, z := th.device("Teddy", "toy"), th.device("Bunny", "toy")
	th.link("Teddy", "Bunny")
	ca, cz := th.dial(a), th.dial(z)
	wav := recording(10, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.SetBytes(int64(len(wav)))
	b.ReportAllocs()
	var phases [4]time.Duration
	for b.Loop() {
		id := wire.NewMessageID()
		t0 := time.Now()
		if err := ca.SendNew(ctx, id, wav, nil); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		n := <-cz.Notifications()
		t2 := time.Now()
		if _, err := cz.Fetch(ctx, n); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if err := cz.Played(ctx, n.ID); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		phases[0] += t1.Sub(t0)
		phases[1] += t2.Sub(t1)
		phases[2] += t3.Sub(t2)
		phases[3] += t4.Sub(t3)
	}
	for i, name := range []string{"send-ms", "notify-ms", "fetch-ms", "played-ms"} {
		b.ReportMetric(float64(phases[i].Microseconds())/1000/float64(b.N), name)
	}
}
