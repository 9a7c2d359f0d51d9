package wire

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseWAV(t *testing.T) {
	good := Tone(16000, time.Second, 440, 1)
	mutate := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	u16 := func(off int, v uint16) []byte {
		return mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[off:], v); return b })
	}
	u32 := func(off int, v uint32) []byte {
		return mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b })
	}
	// A LIST chunk between fmt and data, as many recorders write.
	withList := func() []byte {
		list := append([]byte("LIST"), 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(list[4:], 3)
		list = append(list, 'a', 'b', 'c', 0) // odd size, padded
		b := append(append(append([]byte(nil), good[:36]...), list...), good[36:]...)
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
		return b
	}()
	tests := []struct {
		name    string
		in      []byte
		total   int64 // 0 means len(in)
		wantErr bool
		rate    int
	}{
		{"good", good, 0, false, 16000},
		{"with list", withList, 0, false, 16000},
		{"8k", Tone(8000, time.Second, 440, 1), 0, false, 8000},
		{"48k", Tone(48000, time.Second/10, 440, 1), 0, false, 48000},
		{"not riff", []byte("OggS not a wav file at all, really not at all....."), 0, true, 0},
		{"short", good[:10], 0, true, 0},
		{"riff size", u32(4, 12), 0, true, 0},
		{"mp3 format", u16(20, 85), 0, true, 0},
		{"stereo", u16(22, 2), 0, true, 0},
		{"rate too low", u32(24, 4000), 0, true, 0},
		{"rate too high", u32(24, 96000), 0, true, 0},
		{"byte rate", u32(28, 1), 0, true, 0},
		{"8 bit", u16(34, 8), 0, true, 0},
		{"data too long", u32(40, uint32(len(good))), 0, true, 0},
		{"data odd", u32(40, 3), 0, true, 0},
		{"data empty", u32(40, 0), 0, true, 0},
		{"no data in prefix", good[:40], int64(len(good)), true, 0},
		{"prefix is enough", good[:44], int64(len(good)), false, 16000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total := tt.total
			if total == 0 {
				total = int64(len(tt.in))
			}
			w, err := ParseWAV(tt.in, total)
			if tt.wantErr {
				if !errors.Is(err, ErrNotWAV) {
					t.Fatalf("ParseWAV error = %v, want ErrNotWAV", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.SampleRate != tt.rate {
				t.Errorf("rate = %d, want %d", w.SampleRate, tt.rate)
			}
		})
	}
	w, _ := ParseWAV(good, int64(len(good)))
	if d := w.Duration(); d != time.Second {
		t.Errorf("Duration = %v, want 1s", d)
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add(Tone(8000, 10*time.Millisecond, 440, 1), int64(0))
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"), int64(44))
	if b, err := os.ReadFile("testdata/list.wav"); err == nil {
		f.Add(b, int64(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, extra int64) {
		if extra < 0 || extra > 1<<20 {
			extra = 0
		}
		total := int64(len(b)) + extra
		w, err := ParseWAV(b, total)
		if err != nil {
			return
		}
		if w.DataOffset+w.DataLen > total || w.DataLen <= 0 || w.DataLen%2 != 0 {
			t.Fatalf("accepted data [%d,+%d) in a file of %d bytes", w.DataOffset, w.DataLen, total)
		}
		if w.SampleRate < MinSampleRate || w.SampleRate > MaxSampleRate {
			t.Fatalf("accepted rate %d", w.SampleRate)
		}
	})
}
