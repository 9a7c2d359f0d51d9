package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Limits of the WAV format every toy accepts.
const (
	MinSampleRate = 8000
	MaxSampleRate = 48000
	wavHeaderMin  = 44 // RIFF header + fmt chunk + data chunk header
)

// ErrNotWAV is wrapped by every WAV validation error.
var ErrNotWAV = errors.New("not WAV PCM 16-bit mono 8–48 kHz")

// WAVInfo describes a validated WAV file.
type WAVInfo struct {
	SampleRate int
	DataOffset int64 // where the samples start
	DataLen    int64 // bytes of samples
}

// Duration is the playing time of the samples.
func (w WAVInfo) Duration() time.Duration {
	return time.Duration(w.DataLen/2) * time.Second / time.Duration(w.SampleRate)
}

// ParseWAV validates the header of a WAV file of total bytes, given a
// prefix of it that holds at least the "fmt " chunk and the "data" chunk
// header. It accepts only RIFF/WAVE PCM 16-bit mono at 8–48 kHz whose RIFF
// size matches total and whose data chunk fits inside it.
func ParseWAV(prefix []byte, total int64) (WAVInfo, error) {
	var w WAVInfo
	if len(prefix) < 12 || string(prefix[0:4]) != "RIFF" || string(prefix[8:12]) != "WAVE" {
		return w, fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	if riff := int64(binary.LittleEndian.Uint32(prefix[4:8])); riff != total-8 {
		return w, fmt.Errorf("%w: the RIFF size field says %d; for a file of %d bytes it must say %d (the size less 8)", ErrNotWAV, riff, total, total-8)
	}
	haveFmt := false
	pos := int64(12)
	for {
		if pos+8 > int64(len(prefix)) {
			return w, fmt.Errorf("%w: no data chunk in the first %d bytes", ErrNotWAV, len(prefix))
		}
		id := string(prefix[pos : pos+4])
		size := int64(binary.LittleEndian.Uint32(prefix[pos+4 : pos+8]))
		body := pos + 8
		switch id {
		case "fmt ":
			if size < 16 || body+16 > int64(len(prefix)) {
				return w, fmt.Errorf("%w: fmt chunk of %d bytes is too short", ErrNotWAV, size)
			}
			f := prefix[body : body+16]
			format := binary.LittleEndian.Uint16(f[0:2])
			channels := binary.LittleEndian.Uint16(f[2:4])
			rate := binary.LittleEndian.Uint32(f[4:8])
			byteRate := binary.LittleEndian.Uint32(f[8:12])
			align := binary.LittleEndian.Uint16(f[12:14])
			bits := binary.LittleEndian.Uint16(f[14:16])
			switch {
			case format != 1:
				return w, fmt.Errorf("%w: audio format %d is not PCM", ErrNotWAV, format)
			case channels != 1:
				return w, fmt.Errorf("%w: %d channels, want mono", ErrNotWAV, channels)
			case bits != 16:
				return w, fmt.Errorf("%w: %d bits per sample, want 16", ErrNotWAV, bits)
			case rate < MinSampleRate || rate > MaxSampleRate:
				return w, fmt.Errorf("%w: sample rate %d Hz", ErrNotWAV, rate)
			case byteRate != rate*2 || align != 2:
				return w, fmt.Errorf("%w: inconsistent byte rate %d or block align %d", ErrNotWAV, byteRate, align)
			}
			w.SampleRate = int(rate)
			haveFmt = true
		case "data":
			if !haveFmt {
				return w, fmt.Errorf("%w: data chunk before fmt chunk", ErrNotWAV)
			}
			if size == 0 || size%2 != 0 {
				return w, fmt.Errorf("%w: data chunk of %d bytes", ErrNotWAV, size)
			}
			if body+size > total {
				return w, fmt.Errorf("%w: data chunk of %d bytes runs past the end of the file", ErrNotWAV, size)
			}
			w.DataOffset, w.DataLen = body, size
			return w, nil
		}
		pos = body + size + size%2 // chunks are padded to even length
		if pos > total {
			return w, fmt.Errorf("%w: chunk %q runs past the end of the file", ErrNotWAV, id)
		}
	}
}

// EncodeWAV writes 16-bit mono PCM samples as a WAV file.
func EncodeWAV(rate int, samples []int16) []byte {
	n := len(samples) * 2
	b := make([]byte, 0, wavHeaderMin+n)
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(36+n))
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1) // PCM
	b = binary.LittleEndian.AppendUint16(b, 1) // mono
	b = binary.LittleEndian.AppendUint32(b, uint32(rate))
	b = binary.LittleEndian.AppendUint32(b, uint32(rate*2))
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

// Tone synthesises a recording: a sine wave of freq Hz lasting d, with a
// little pseudo-random noise seeded by seed so that two recordings differ.
// The simulator uses it in place of a microphone.
func Tone(rate int, d time.Duration, freq float64, seed uint32) []byte {
	n := int(int64(rate) * int64(d) / int64(time.Second))
	s := make([]int16, n)
	x := seed | 1
	for i := range s {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		noise := float64(int32(x)>>20) / 2048 // about ±1
		v := 8000*math.Sin(2*math.Pi*freq*float64(i)/float64(rate)) + 300*noise
		s[i] = int16(v)
	}
	return EncodeWAV(rate, s)
}
